//! The ENVELOPE of a message (RFC 3501 §7.4.2).
//!
//! Date, subject and the message identifiers are the raw header values, unfolded but
//! not decoded: RFC 2047 encoded words reach the client as written, as Dovecot sends
//! them. Addresses are parsed by mail-parser; a display name that it decoded to
//! non-ASCII is encoded again as one UTF-8 encoded word, so the wire stays 7-bit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::Quoted;
use imap_codec::imap_types::envelope::Address;
use imap_codec::imap_types::envelope::Envelope;
use mail_parser::HeaderName;
use mail_parser::MessageParser;

use crate::imap::message::mime::Entity;

/// Placeholders Dovecot also uses when an address lacks a part RFC 3501 cannot leave
/// NIL (a NIL host would announce a group).
const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

/// The envelope of the message or encapsulated message `entity` heads.
pub(super) fn of(entity: &Entity<'_>) -> Envelope<'static> {
    let parsed = MessageParser::new().parse_headers(entity.header);
    let headers = parsed
        .as_ref()
        .and_then(|message| message.parts.first())
        .map(|part| part.headers.as_slice())
        .unwrap_or_default();
    // The first field counts, as for the raw fields below.
    let addresses = |name: HeaderName<'static>| -> Vec<Address<'static>> {
        let value = headers
            .iter()
            .find(|header| header.name == name)
            .and_then(|header| header.value.as_address());
        value.map(convert).unwrap_or_default()
    };
    let from = addresses(HeaderName::From);
    let mut sender = addresses(HeaderName::Sender);
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addresses(HeaderName::ReplyTo);
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    let raw = |name: &str| nstring(entity.field(name).filter(|value| !value.is_empty()));
    Envelope {
        date: raw("Date"),
        subject: raw("Subject"),
        from,
        sender,
        reply_to,
        to: addresses(HeaderName::To),
        cc: addresses(HeaderName::Cc),
        bcc: addresses(HeaderName::Bcc),
        in_reply_to: raw("In-Reply-To"),
        message_id: raw("Message-ID"),
    }
}

/// An IMAP string holding these bytes: quoted when possible, a literal otherwise. NUL
/// cannot travel in either, so it is dropped.
pub(super) fn istring(bytes: impl Into<Vec<u8>>) -> IString<'static> {
    let mut bytes = bytes.into();
    bytes.retain(|byte| *byte != 0);
    IString::try_from(bytes).unwrap_or_else(|_| IString::from(Quoted::unvalidated("")))
}

/// NIL, or an IMAP string holding these bytes.
pub(super) fn nstring(bytes: Option<impl Into<Vec<u8>>>) -> NString<'static> {
    NString(bytes.map(istring))
}

/// Address structures per RFC 3501 §7.4.2: a named group becomes a start marker
/// (mailbox = group name, host NIL), its members, and an end marker (all NIL).
fn convert(address: &mail_parser::Address<'_>) -> Vec<Address<'static>> {
    match address {
        mail_parser::Address::List(list) => list.iter().filter_map(mailbox).collect(),
        mail_parser::Address::Group(groups) => {
            let mut out = Vec::new();
            for group in groups {
                match &group.name {
                    Some(name) => {
                        out.push(Address {
                            name: NString::NIL,
                            adl: NString::NIL,
                            mailbox: nstring(Some(name.as_bytes())),
                            host: NString::NIL,
                        });
                        out.extend(group.addresses.iter().filter_map(mailbox));
                        out.push(Address {
                            name: NString::NIL,
                            adl: NString::NIL,
                            mailbox: NString::NIL,
                            host: NString::NIL,
                        });
                    }
                    None => out.extend(group.addresses.iter().filter_map(mailbox)),
                }
            }
            out
        }
    }
}

fn mailbox(address: &mail_parser::Addr<'_>) -> Option<Address<'static>> {
    let spec = address.address.as_deref().map(str::trim);
    let name = address
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());
    if spec.is_none_or(str::is_empty) && name.is_none() {
        return None;
    }
    let (local, domain) = match spec.and_then(|spec| spec.rsplit_once('@')) {
        Some((local, domain)) => (local, domain),
        None => (spec.unwrap_or_default(), ""),
    };
    let or = |value: &str, missing: &str| -> NString<'static> {
        nstring(Some(if value.is_empty() { missing } else { value }))
    };
    Some(Address {
        name: nstring(name.map(encode_word)),
        adl: NString::NIL,
        mailbox: or(local, MISSING_MAILBOX),
        host: or(domain, MISSING_DOMAIN),
    })
}

/// ASCII as is; anything else as one RFC 2047 `B` encoded word.
fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?utf-8?b?{}?=", STANDARD.encode(text))
    }
}
