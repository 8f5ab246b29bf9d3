//! The shape every provider-generated message shares before signing (RFC 6109 §4.3):
//! outer headers plus a `multipart/mixed` entity holding the human text, `daticert.xml`
//! and, where the type carries it, `postacert.eml`.

/// File name of the original message part.
pub const POSTACERT: &str = "postacert.eml";
/// File name of the certification data part.
pub const DATICERT: &str = "daticert.xml";

/// A provider message ready to be signed by `crypto::smime::sign`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Unsigned {
    /// The top-level header fields, in order, as `(name, value)`; values are already
    /// RFC 2047-encoded and folded where needed, without the trailing CRLF.
    pub headers: Vec<(String, String)>,
    /// The MIME entity to sign: its own header fields, a blank line and the body, in
    /// canonical CRLF form. The signature covers exactly these bytes.
    pub entity: Vec<u8>,
}
