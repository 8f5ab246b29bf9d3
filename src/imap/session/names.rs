//! Folder names between the wire and the store: the hierarchy delimiter, INBOX's
//! case-insensitivity (RFC 3501 §5.1) and the one personal namespace (RFC 2342). Every
//! command module needs these, so they sit apart from any of them.

use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::QuotedChar;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Data;

use crate::store::mailbox::INBOX;

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// `* NAMESPACE (("" "/")) NIL NIL`: one personal namespace.
pub fn namespace() -> Data<'static> {
    Data::Namespace {
        personal: vec![Namespace {
            prefix: IString::try_from("").unwrap_or_else(|_| {
                IString::Quoted(imap_codec::imap_types::core::Quoted::unvalidated(""))
            }),
            delimiter: QuotedChar::try_from(DELIMITER).ok(),
            extensions: Vec::new(),
        }],
        other: Vec::new(),
        shared: Vec::new(),
    }
}

/// A folder name from the wire (INBOX is case-insensitive, RFC 3501 §5.1).
pub fn name_of(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => INBOX.to_string(),
        Mailbox::Other(other) => {
            let name = String::from_utf8_lossy(other.inner().as_ref()).into_owned();
            if name.eq_ignore_ascii_case(INBOX) {
                INBOX.to_string()
            } else {
                name
            }
        }
    }
}

/// A folder name for the wire.
pub fn mailbox_of(name: &str) -> Mailbox<'static> {
    Mailbox::try_from(name.to_string()).unwrap_or(Mailbox::Inbox)
}
