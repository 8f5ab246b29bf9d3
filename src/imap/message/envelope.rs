//! The ENVELOPE of a message (RFC 3501 §7.4.2).
//!
//! Date, subject and the message identifiers are the raw header values, unfolded but
//! not decoded: RFC 2047 encoded words reach the client as written, as Dovecot sends
//! them. Addresses are read by [`address`](super::address), which keeps groups and
//! source routes; a display name is sent as written too, except that raw 8-bit UTF-8 is
//! encoded as one UTF-8 encoded word, so the wire stays 7-bit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::Quoted;
use imap_codec::imap_types::envelope::Address;
use imap_codec::imap_types::envelope::Envelope;

use crate::imap::message::address;
use crate::imap::message::address::Item;
use crate::imap::message::mime::Entity;

/// Placeholders Dovecot also uses when an address lacks a part RFC 3501 cannot leave
/// NIL (a NIL host would announce a group).
const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

/// The envelope of the message or encapsulated message `entity` heads.
pub(super) fn of(entity: &Entity<'_>) -> Envelope<'static> {
    // The first field counts, as for the raw fields below.
    let addresses = |name: &str| -> Vec<Address<'static>> {
        entity
            .field(name)
            .map(|value| convert(&address::parse(&value)))
            .unwrap_or_default()
    };
    let from = addresses("From");
    let mut sender = addresses("Sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addresses("Reply-To");
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
        to: addresses("To"),
        cc: addresses("Cc"),
        bcc: addresses("Bcc"),
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

/// Address structures per RFC 3501 §7.4.2: a group becomes a start marker (mailbox =
/// group name, host NIL), its members, and an end marker (all NIL).
fn convert(items: &[Item]) -> Vec<Address<'static>> {
    let marker = |mailbox: NString<'static>| Address {
        name: NString::NIL,
        adl: NString::NIL,
        mailbox,
        host: NString::NIL,
    };
    items
        .iter()
        .filter_map(|item| match item {
            Item::GroupStart(name) => Some(marker(nstring(Some(name.as_slice())))),
            Item::GroupEnd => Some(marker(NString::NIL)),
            Item::Mailbox(mailbox) => structure(mailbox),
        })
        .collect()
}

fn structure(mailbox: &address::Mailbox) -> Option<Address<'static>> {
    if mailbox.local.is_empty() && mailbox.domain.is_empty() && mailbox.name.is_none() {
        return None;
    }
    let or = |value: &[u8], missing: &str| -> NString<'static> {
        nstring(Some(if value.is_empty() {
            missing.as_bytes()
        } else {
            value
        }))
    };
    Some(Address {
        name: nstring(mailbox.name.as_deref().map(encode_word)),
        adl: nstring(mailbox.route.as_deref()),
        mailbox: or(&mailbox.local, MISSING_MAILBOX),
        host: or(&mailbox.domain, MISSING_DOMAIN),
    })
}

/// ASCII as is; raw UTF-8 as one RFC 2047 `B` encoded word.
fn encode_word(text: &[u8]) -> Vec<u8> {
    if text.is_ascii() {
        text.to_vec()
    } else {
        format!("=?utf-8?b?{}?=", STANDARD.encode(text)).into_bytes()
    }
}
