//! The shape every provider-generated message shares before signing (RFC 6109 §4.3):
//! outer headers plus a `multipart/mixed` entity holding the human text (plain and
//! HTML), `daticert.xml` and, where the type carries it, `postacert.eml`.
//!
//! MIME is written with mail-builder; only the choice of parts and their order is ours.

use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address as HeaderAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::text::Text;
use mail_builder::mime::BodyPart;
use mail_builder::mime::MimePart;

use crate::pec::daticert::Dati;
use crate::pec::daticert::Daticert;
use crate::pec::daticert::Intestazione;
use crate::pec::daticert::Recipient;
use crate::pec::headers;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ErrorCode;
use crate::pec::text::Notice;
use crate::pec::time::LocalTime;

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
    /// The certification data the entity carries as `daticert.xml`, if any: what a
    /// reader parses back from the signed message, kept so that we need not parse our
    /// own messages to learn it.
    pub daticert: Option<Daticert>,
}

/// The provider issuing a message (the `gestore emittente`).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Issuer {
    /// Its mail domain; receipts come from `posta-certificata@<domain>`.
    pub domain: String,
    /// Its name, written as `<gestore-emittente>`.
    pub name: String,
}

impl Issuer {
    /// `posta-certificata@<domain>`.
    pub fn service_address(&self) -> String {
        headers::service_address(&self.domain)
    }
}

/// What every message about one submission restates: the original's header data
/// (daticert `<intestazione>`) and its identifiers.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Facts {
    /// The original sender (SMTP reverse-path).
    pub sender: String,
    /// The To and Cc recipients, classified `certificato` / `esterno`.
    pub recipients: Vec<Recipient>,
    /// The original Reply-To, or the sender.
    pub reply_to: String,
    /// The original subject.
    pub subject: Option<String>,
    /// The PEC msgid of the transport envelope (daticert `<identificativo>`).
    pub id: String,
    /// The client's Message-ID, with brackets (`X-Riferimento-Message-ID`, `<msgid>`).
    pub msgid: Option<String>,
}

impl Facts {
    /// The daticert `<intestazione>` these facts describe.
    pub fn intestazione(&self) -> Intestazione {
        Intestazione {
            sender: self.sender.clone(),
            recipients: self.recipients.clone(),
            reply_to: self.reply_to.clone(),
            subject: self.subject.clone(),
        }
    }

    /// The facts a received daticert restates (at the recipient's provider).
    pub fn from_daticert(daticert: &Daticert) -> Facts {
        Facts {
            sender: daticert.header.sender.clone(),
            recipients: daticert.header.recipients.clone(),
            reply_to: daticert.header.reply_to.clone(),
            subject: daticert.header.subject.clone(),
            id: daticert.data.id.clone(),
            msgid: daticert.data.msgid.clone(),
        }
    }

    /// The daticert of a message of `kind` about these facts, issued now; the
    /// kind-specific elements (`ricevuta`, `consegna`, …) are left for the caller.
    pub fn daticert(&self, kind: DaticertKind, issuer: &Issuer, stamp: &Stamp) -> Daticert {
        Daticert {
            kind,
            error: ErrorCode::None,
            header: self.intestazione(),
            data: Dati {
                issuer: issuer.name.clone(),
                time: stamp.time,
                id: self.id.clone(),
                msgid: self.msgid.clone(),
                receipt_type: None,
                delivery: None,
                receptions: Vec::new(),
                extended_error: None,
            },
        }
    }

    /// The subject, or the empty string.
    pub fn subject_text(&self) -> &str {
        self.subject.as_deref().unwrap_or("")
    }
}

/// The per-message values of one generated message: the single transaction time the
/// rules require (RFC 6109 §4.1) and the message's own Message-ID (without brackets).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Stamp {
    /// The event time, reused in `Date:`, the text and daticert.
    pub time: LocalTime,
    /// This message's own identifier.
    pub message_id: String,
}

/// Builds outer header lists in order, encoding values with mail-builder.
#[derive(Debug, Default)]
pub struct HeaderList(Vec<(String, String)>);

impl HeaderList {
    /// An empty list.
    pub fn new() -> HeaderList {
        HeaderList::default()
    }

    /// A header whose value is already in wire form (copied from a received message).
    pub fn raw(mut self, name: &str, value: &str) -> HeaderList {
        self.0.push((
            name.to_string(),
            value.trim_end_matches(['\r', '\n']).to_string(),
        ));
        self
    }

    /// An unstructured text header, RFC 2047-encoded and folded when needed.
    pub fn text(self, name: &str, value: &str) -> HeaderList {
        let encoded = encode(name, HeaderType::Text(Text::new(value)));
        self.raw(name, &encoded)
    }

    /// An address header with an optional display name.
    pub fn address(self, name: &str, display: Option<&str>, address: &str) -> HeaderList {
        let encoded = encode(
            name,
            HeaderType::Address(HeaderAddress::new_address(display, address)),
        );
        self.raw(name, &encoded)
    }

    /// A Message-ID style header: `<id>`.
    pub fn message_id(self, name: &str, id: &str) -> HeaderList {
        self.raw(name, &crate::pec::id::bracketed(id))
    }

    /// The collected headers.
    pub fn finish(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Writes the signed entity: `multipart/mixed` with the notice (plain + HTML
/// alternative), `daticert.xml` when given, and `postacert.eml` when given, in that
/// order. `seed` (the message's own id) makes the boundaries deterministic; they are
/// checked against the embedded message so they can never collide with it.
pub fn entity(
    seed: &str,
    notice: &Notice,
    daticert: Option<&Daticert>,
    postacert: Option<&[u8]>,
) -> Vec<u8> {
    entity_with(
        seed,
        notice,
        daticert,
        postacert.map(|bytes| (POSTACERT, bytes)),
    )
}

/// Like [`entity`], naming the embedded message part (the busta di anomalia attaches
/// the received message whole, under its own name).
pub fn entity_with(
    seed: &str,
    notice: &Notice,
    daticert: Option<&Daticert>,
    embedded: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let avoid = embedded.map_or(&[][..], |(_, bytes)| bytes);
    let outer = boundary(seed, "m", avoid);
    let inner = boundary(seed, "a", avoid);

    let alternative = MimePart::new(
        ContentType::new("multipart/alternative").attribute("boundary", inner),
        BodyPart::Multipart(vec![
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "iso-8859-1"),
                BodyPart::Binary(notice.plain_latin1().into()),
            )
            .inline(),
            MimePart::new(
                ContentType::new("text/html").attribute("charset", "iso-8859-1"),
                BodyPart::Binary(notice.html_latin1().into()),
            )
            .inline(),
        ]),
    );
    let mut parts = vec![alternative];
    if let Some(daticert) = daticert {
        parts.push(
            MimePart::new(
                ContentType::new("application/xml").attribute("name", DATICERT),
                BodyPart::Binary(daticert.to_xml().into_bytes().into()),
            )
            .header("Content-Disposition", disposition("inline", DATICERT)),
        );
    }
    if let Some((name, message)) = embedded {
        let encoding = if message.is_ascii() { "7bit" } else { "8bit" };
        parts.push(
            MimePart::new(
                ContentType::new("message/rfc822").attribute("name", name.to_string()),
                BodyPart::Binary(message.into()),
            )
            .header("Content-Disposition", disposition("inline", name))
            .transfer_encoding(encoding),
        );
    }
    let mixed = MimePart::new(
        ContentType::new("multipart/mixed").attribute("boundary", outer),
        BodyPart::Multipart(parts),
    );
    let mut out = Vec::new();
    mixed.write_part(&mut out);
    out
}

fn disposition(kind: &'static str, filename: &str) -> HeaderType<'static> {
    HeaderType::ContentType(ContentType::new(kind).attribute("filename", filename.to_string()))
}

/// The folded, encoded value mail-builder writes for a header, without name and CRLF.
fn encode(name: &str, value: HeaderType<'_>) -> String {
    use mail_builder::headers::Header;
    let mut out = Vec::new();
    match &value {
        HeaderType::Address(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::Text(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::ContentType(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::Raw(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::Date(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::MessageId(v) => v.write_header(&mut out, name.len() + 2),
        HeaderType::URL(v) => v.write_header(&mut out, name.len() + 2),
    }
    String::from_utf8_lossy(&out)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

/// A boundary in the style real providers use (`----------=_<n>-…`), derived from the
/// message's own id and proven absent from the embedded message.
fn boundary(seed: &str, role: &str, avoid: &[u8]) -> String {
    let digest = openssl::sha::sha1(seed.as_bytes());
    let hex = hex::encode(digest.get(..8).unwrap_or(&digest));
    (0u32..)
        .map(|n| format!("----------=_{hex}-{role}{n}"))
        .find(|candidate| memchr::memmem::find(avoid, candidate.as_bytes()).is_none())
        .unwrap_or_default()
}
