//! One FETCH response's items (RFC 3501 §7.4.2, RFC 3516 BINARY, RFC 7162 MODSEQ)
//! from a message's record, bytes and MIME tree: which the codec writes and which go
//! out as literals from buffers of their own (see [`super::fetch_wire`]).

use std::num::NonZeroU32;

use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::Literal;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::NString8;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::fetch::Section;
use jiff::Timestamp;

use crate::imap::message;
use crate::imap::message::MimeMessage;
use crate::imap::reply;
use crate::imap::session::fetch_wire::Message;
use crate::imap::session::view::fetch_flags;
use crate::imap::session::view::modseq_nz;
use crate::store::mailbox::MessageMeta;

/// One message's answer to the command's items (and its FLAGS when this FETCH set
/// `\Seen` without being asked for them). With `keep_whole`, the first item that is
/// the whole message (`BODY[]`, `RFC822`) is left for [`Message::finish`] to fill with
/// the message's own buffer.
pub(super) fn answer_into<'w>(
    mut message: Message<'w>,
    names: &[MessageDataItemName<'static>],
    answer: &Answer<'_>,
    flags_changed: bool,
    keep_whole: bool,
    scratch: &mut Vec<u8>,
) -> Message<'w> {
    use MessageDataItemName as N;
    let mut whole_left = keep_whole;
    for (index, name) in names.iter().enumerate() {
        if !message.is_literal(index) {
            if let Some(item) = fetch_item(name, answer) {
                message.item(item);
            }
            continue;
        }
        let entire = matches!(
            name,
            N::Rfc822
                | N::BodyExt {
                    section: None,
                    partial: None,
                    ..
                }
        );
        if entire && whole_left {
            whole_left = false;
            message.literal_later(index, answer.raw.len());
        } else if let N::BodyExt {
            section: Some(section),
            partial,
            ..
        } = name
            && {
                if scratch.capacity() == 0 {
                    scratch.reserve(answer.raw.len().min(1024) + 2);
                }
                message::top_header_section_into(
                    answer.raw,
                    answer.block,
                    section,
                    *partial,
                    scratch,
                )
            }
        {
            message.literal(index, scratch);
        } else if let Some(bytes) = literal_bytes(name, answer) {
            message.literal_owned(index, bytes);
        }
    }
    if flags_changed && !names.contains(&MessageDataItemName::Flags) {
        message.item(MessageDataItem::Flags(fetch_flags(
            answer.meta,
            answer.recent,
        )));
    }
    message
}

/// What one message's items are answered from.
pub(super) struct Answer<'a> {
    pub(super) meta: &'a MessageMeta,
    pub(super) mime: &'a MimeMessage<'a>,
    pub(super) raw: &'a [u8],
    /// `raw` is the header block alone (header items only, from the header cache).
    pub(super) block: bool,
    /// `\Recent` to this session.
    pub(super) recent: bool,
}

/// An item without a literal, or a literal item the codec writes (see
/// [`Writer::is_literal`]).
fn fetch_item(
    name: &MessageDataItemName<'static>,
    answer: &Answer<'_>,
) -> Option<MessageDataItem<'static>> {
    use MessageDataItemName as N;
    let Answer {
        meta, mime, recent, ..
    } = answer;
    Some(match name {
        N::Flags => MessageDataItem::Flags(fetch_flags(meta, *recent)),
        N::Uid => MessageDataItem::Uid(reply::nz(meta.uid)),
        N::ModSeq => MessageDataItem::ModSeq(modseq_nz(meta.modseq)),
        N::Rfc822Size => MessageDataItem::Rfc822Size(u32::try_from(meta.size).unwrap_or(u32::MAX)),
        N::InternalDate => MessageDataItem::InternalDate(internal_date(meta.internal_date)?),
        N::Envelope => MessageDataItem::Envelope(mime.envelope()),
        N::Body => MessageDataItem::Body(mime.body_structure(false)),
        N::BodyStructure => MessageDataItem::BodyStructure(mime.body_structure(true)),
        N::BodyExt {
            section, partial, ..
        } => MessageDataItem::BodyExt {
            section: section.clone(),
            origin: partial.map(|(origin, _)| origin),
            data: literal(literal_bytes(name, answer)?),
        },
        N::Rfc822 | N::Rfc822Header | N::Rfc822Text => {
            let data = literal(literal_bytes(name, answer)?);
            match name {
                N::Rfc822 => MessageDataItem::Rfc822(data),
                N::Rfc822Header => MessageDataItem::Rfc822Header(data),
                _ => MessageDataItem::Rfc822Text(data),
            }
        }
        N::Binary { section, .. } => MessageDataItem::Binary {
            section: section.clone(),
            value: NString8::Literal8(Literal8 {
                data: literal_bytes(name, answer)?.into(),
                mode: imap_codec::imap_types::core::LiteralMode::Sync,
            }),
        },
        N::BinarySize { section } => MessageDataItem::BinarySize {
            section: section.clone(),
            size: mime.binary_size(section).ok()?,
        },
    })
}

/// The bytes of a literal item (`BODY[…]`, `RFC822…`, `BINARY[…]`); `None` for other
/// items, and for a `BINARY` part that cannot be decoded (the item is left out).
fn literal_bytes(name: &MessageDataItemName<'static>, answer: &Answer<'_>) -> Option<Vec<u8>> {
    use MessageDataItemName as N;
    let Answer { mime, raw, .. } = answer;
    Some(match name {
        N::BodyExt {
            section, partial, ..
        } => match section {
            None => partial_of(raw, *partial),
            Some(section) => match message::top_header_section(raw, section, *partial) {
                Some(bytes) => bytes,
                None => mime.section(Some(section), *partial),
            },
        },
        N::Rfc822 => raw.to_vec(),
        N::Rfc822Header => mime.section(Some(&Section::Header(None)), None),
        N::Rfc822Text => mime.section(Some(&Section::Text(None)), None),
        N::Binary {
            section, partial, ..
        } => mime.binary(section, *partial).ok()?,
        _ => return None,
    })
}

/// `<origin.length>` of the whole message (RFC 3501 §6.4.5).
fn partial_of(raw: &[u8], partial: Option<(u32, NonZeroU32)>) -> Vec<u8> {
    match partial {
        None => raw.to_vec(),
        Some((origin, length)) => {
            let start = (origin as usize).min(raw.len());
            let end = start.saturating_add(length.get() as usize).min(raw.len());
            raw[start..end].to_vec()
        }
    }
}

/// Bytes as a literal (NUL bytes, which IMAP literals may not hold, become spaces).
fn literal(mut bytes: Vec<u8>) -> NString<'static> {
    for byte in &mut bytes {
        if *byte == 0 {
            *byte = b' ';
        }
    }
    NString(Literal::try_from(bytes).ok().map(IString::Literal))
}

fn internal_date(timestamp: Timestamp) -> Option<DateTime> {
    let chrono = chrono::DateTime::from_timestamp(timestamp.as_second(), 0)?.fixed_offset();
    DateTime::try_from(chrono).ok()
}
