//! FETCH (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE): which messages,
//! their bytes (the body store, the header cache for header-only items, or the
//! conservation package in the view), `\Seen` marking in one transaction, and each item.

use std::cell::Cell;
use std::num::NonZeroU32;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::Literal;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::NString8;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::Macro;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::fetch::Section;
use imap_codec::imap_types::sequence::SequenceSet;
use jiff::Timestamp;

use crate::imap::message;
use crate::imap::message::MimeMessage;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Fault;
use crate::imap::session::Session;
use crate::imap::session::fetch_out::FetchOut;
use crate::imap::session::fetch_wire::Message;
use crate::imap::session::fetch_wire::Writer;
use crate::imap::session::view::fetch_flags;
use crate::imap::session::view::modseq_nz;
use crate::store::Store;
use crate::store::blobs::BlobId;
use crate::store::folders::FlagChange;
use crate::store::folders::Stored;
use crate::store::mailbox::MessageMeta;

impl Session {
    pub(super) fn metas(
        &self,
        store: &Store,
        user: &str,
        wanted: &[(u32, u32)],
    ) -> Result<Vec<(u32, MessageMeta)>, Fault> {
        let Some(selection) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        if let Some(entries) = &selection.conserved {
            let metas = super::conserved::metas(entries);
            return Ok(wanted
                .iter()
                .filter_map(|(seq, uid)| {
                    metas
                        .get((*uid as usize).wrapping_sub(1))
                        .map(|m| (*seq, m.clone()))
                })
                .collect());
        }
        let folder = selection.folder.clone();
        store.read(|tx| {
            // A large share of the folder between the first and the last UID wanted:
            // one scan beats many lookups. Both lists are in UID order, so one pass
            // pairs them.
            let (Some((_, first)), Some((_, last))) = (wanted.first(), wanted.last()) else {
                return Ok(Vec::new());
            };
            let span = selection.uids.partition_point(|uid| uid <= last)
                - selection.uids.partition_point(|uid| uid < first);
            if wanted.len() > 64 && wanted.len() * 4 > span {
                let all = tx.mailboxes().messages_in(user, &folder, *first..=*last)?;
                let mut found = Vec::with_capacity(wanted.len());
                let mut wanted = wanted.iter().peekable();
                for meta in all {
                    while wanted.next_if(|(_, uid)| *uid < meta.uid).is_some() {}
                    if let Some((seq, _)) = wanted.next_if(|(_, uid)| *uid == meta.uid) {
                        found.push((*seq, meta));
                    }
                }
                Ok(found)
            } else {
                let mut found = Vec::with_capacity(wanted.len());
                for (seq, uid) in wanted {
                    if let Some(meta) = tx.folders().message(user, &folder, *uid)? {
                        found.push((*seq, meta));
                    }
                }
                Ok(found)
            }
        })
    }

    /// A message's bytes: from the body store, or from its package in the
    /// conservation view.
    pub(super) fn raw(&self, store: &Store, meta: &MessageMeta) -> Result<Vec<u8>, Fault> {
        match (
            self.selected.as_ref().and_then(|s| s.conserved.as_ref()),
            &self.config.conservation_root,
        ) {
            (Some(entries), Some(root)) => super::conserved::raw(root, entries, meta.uid),
            // The client's own mail: its S/MIME signature is the check (see
            // `BlobStore::read_unverified`).
            _ => store.blobs().read_unverified(&meta.blob),
        }
    }

    pub(super) fn fetch(
        &mut self,
        store: &Store,
        user: &str,
        set: &SequenceSet,
        names: &MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        changed_since: Option<u64>,
    ) -> Result<Vec<Out>, Fault> {
        let Some(selection) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        let mut names: Vec<MessageDataItemName<'static>> = match names {
            MacroOrMessageDataItemNames::Macro(m) => expand(m.clone()),
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
                names.iter().cloned().map(IntoStatic::into_static).collect()
            }
        };
        if by_uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        if (self.condstore || changed_since.is_some())
            && !names.contains(&MessageDataItemName::ModSeq)
        {
            names.push(MessageDataItemName::ModSeq);
        }
        let wanted = selection.resolve(set, by_uid);
        let read_only = selection.read_only;
        let needs_body = names.iter().any(needs_raw);
        // Header items alone are answered from the header cache, not the bodies.
        let header_only = needs_body
            && selection.conserved.is_none()
            && names.iter().all(|n| !needs_raw(n) || is_header_item(n));
        // BODY[], RFC822 and top-level header sections need the bytes, not the MIME
        // tree.
        let needs_mime = names
            .iter()
            .any(|n| needs_raw(n) && !is_whole_message(n) && !is_top_header_section(n));
        let marks_seen = !read_only && names.iter().any(marks_seen);
        let folder = selection.folder.clone();
        let changed = |meta: &MessageMeta| changed_since.is_none_or(|since| meta.modseq > since);
        // Marking `\Seen` needs every message first; otherwise they are read window by
        // window as the output is made.
        let mut metas: Vec<(u32, MessageMeta)> = Vec::new();
        if marks_seen {
            metas = self.metas(store, user, &wanted)?;
            metas.retain(|(_, meta)| changed(meta));
        }
        let mut flags_changed = std::collections::HashSet::new();
        if marks_seen {
            // One transaction marks every message this FETCH reads (RFC 3501 §6.4.5).
            let unseen: Vec<u32> = metas
                .iter()
                .filter(|(_, m)| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                .map(|(_, m)| m.uid)
                .collect();
            if !unseen.is_empty() {
                let seen = vec!["\\Seen".to_string()];
                let (results, _) = store.write(|tx| {
                    tx.folders().store_flags_many(
                        user,
                        &folder,
                        &unseen,
                        FlagChange::Add,
                        &seen,
                        None,
                    )
                })?;
                for result in results {
                    if let Stored::Done(updated) = result
                        && let Some((_, meta)) =
                            metas.iter_mut().find(|(_, m)| m.uid == updated.uid)
                    {
                        if let Some(selection) = self.selected.as_mut() {
                            selection.own.insert(updated.uid, updated.modseq);
                        }
                        flags_changed.insert(updated.uid);
                        *meta = updated;
                    }
                }
            }
        }
        let writer = Writer::new(&names);
        let recent = |uid: u32| {
            self.selected
                .as_ref()
                .is_some_and(|s| s.recent.contains(&uid))
        };
        let no_mime = MimeMessage::parse(b"");
        // Header sections of every message are cut into one buffer.
        let scratch = Cell::new(Vec::new());
        // One message's response, but for the buffer of a whole-message item when
        // `keep_whole` (see `answer_into`).
        let answer = |seq: u32, meta: &MessageMeta, raw: &[u8], keep_whole: bool| {
            let parsed;
            let mime = if needs_mime {
                parsed = MimeMessage::parse(raw);
                &parsed
            } else {
                &no_mime
            };
            let answer = Answer {
                meta,
                mime,
                raw,
                block: header_only,
                recent: recent(meta.uid),
            };
            let flags_changed = flags_changed.contains(&meta.uid);
            let mut cut = scratch.take();
            let message = answer_into(
                writer.start(seq),
                &names,
                &answer,
                flags_changed,
                keep_whole,
                &mut cut,
            );
            scratch.set(cut);
            message
        };
        let finish = |message: Message<'_>, uid: u32, whole: Option<Vec<u8>>| {
            let empty = message.is_empty();
            let response = message.finish(whole);
            if response.is_none() && !empty {
                tracing::error!(uid, "FETCH response not encodable");
            }
            response
        };
        // Header items alone: answered inside a read transaction per window of
        // messages from the cached header blocks as they lie in the table's pages.
        // The windows grow, so that the first responses go out at once.
        let mut output = FetchOut::new(self.early.take(), wanted.len());
        let mut misses: Vec<(BlobId, Vec<u8>)> = Vec::new();
        let mut window = FIRST_WINDOW;
        let mut start = 0;
        let mut prefetched = metas.into_iter();
        while start < wanted.len() {
            let end = wanted.len().min(start + window);
            let part: Vec<(u32, MessageMeta)> = if marks_seen {
                prefetched.by_ref().take(end - start).collect()
            } else {
                let mut part =
                    self.metas(store, user, wanted.get(start..end).unwrap_or_default())?;
                part.retain(|(_, meta)| changed(meta));
                part
            };
            start = end;
            window = (window * 2).min(MAX_WINDOW);
            let mut prepared: Vec<Option<Option<Out>>> = Vec::new();
            if header_only {
                prepared.resize_with(part.len(), || None);
                let blobs: Vec<&BlobId> = part.iter().map(|(_, m)| &m.blob).collect();
                store.read(|tx| {
                    tx.headers().each_cached(&blobs, |index, header| {
                        if let (Some(slot), Some((seq, meta))) =
                            (prepared.get_mut(index), part.get(index))
                        {
                            let message = answer(*seq, meta, header, false);
                            *slot = Some(finish(message, meta.uid, None));
                        }
                    })
                })?;
            }
            let mut prepared = prepared.into_iter();
            for (seq, meta) in &part {
                let response = match prepared.next().flatten() {
                    Some(response) => response,
                    None if !needs_body => finish(answer(*seq, meta, b"", false), meta.uid, None),
                    None => match self.raw(store, meta) {
                        Ok(raw) if header_only => {
                            let header = header_block(&raw);
                            let message = answer(*seq, meta, &header, false);
                            misses.push((meta.blob.clone(), header));
                            finish(message, meta.uid, None)
                        }
                        Ok(raw) => {
                            // A whole-message item goes out from the buffer it was
                            // read into.
                            let message = answer(*seq, meta, &raw, true);
                            finish(message, meta.uid, Some(raw))
                        }
                        Err(error) => {
                            tracing::error!(%error, uid = meta.uid, "message body unreadable");
                            continue;
                        }
                    },
                };
                if let Some(response) = response {
                    output.push(response);
                }
            }
            output.hand_over();
        }
        let (out, early) = output.finish();
        self.early = early;
        if !misses.is_empty() {
            // The cache is an optimisation: failing to fill it is logged, not fatal.
            if let Err(error) = store.write(|tx| {
                for (blob, header) in &misses {
                    tx.headers().cache(blob, header)?;
                }
                Ok(())
            }) {
                tracing::warn!(%error, "header cache not updated");
            }
        }
        Ok(out)
    }
}

/// Messages in the first window of a header-only FETCH (about 16 KiB of output).
const FIRST_WINDOW: usize = 64;

/// The largest window: enough of a folder's bodies for the header cache to be walked
/// rather than searched (see `Headers::each_cached`).
const MAX_WINDOW: usize = 2048;

fn expand(m: Macro) -> Vec<MessageDataItemName<'static>> {
    use MessageDataItemName as N;
    let mut names = vec![N::Flags, N::InternalDate, N::Rfc822Size];
    match m {
        Macro::Fast => {}
        Macro::All => names.push(N::Envelope),
        Macro::Full => names.extend([N::Envelope, N::Body]),
        _ => names.push(N::Envelope),
    }
    names
}

fn needs_raw(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    !matches!(
        name,
        N::Flags | N::InternalDate | N::Rfc822Size | N::Uid | N::ModSeq
    )
}

fn marks_seen(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::BodyExt { peek: false, .. } | N::Binary { peek: false, .. } | N::Rfc822 | N::Rfc822Text
    )
}

/// One message's answer to the command's items (and its FLAGS when this FETCH set
/// `\Seen` without being asked for them). With `keep_whole`, the first item that is
/// the whole message (`BODY[]`, `RFC822`) is left for [`Message::finish`] to fill with
/// the message's own buffer.
fn answer_into<'w>(
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
struct Answer<'a> {
    meta: &'a MessageMeta,
    mime: &'a MimeMessage<'a>,
    raw: &'a [u8],
    /// `raw` is the header block alone (header items only, from the header cache).
    block: bool,
    recent: bool,
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

/// Items answered from the message header alone (the header cache).
fn is_header_item(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    match name {
        N::Envelope | N::Rfc822Header => true,
        N::BodyExt {
            section: Some(section),
            ..
        } => matches!(
            section,
            Section::Header(None)
                | Section::HeaderFields(None, _)
                | Section::HeaderFieldsNot(None, _)
        ),
        _ => false,
    }
}

/// `BODY[HEADER]`, `BODY[HEADER.FIELDS …]` of the top-level message.
fn is_top_header_section(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::BodyExt {
            section: Some(
                Section::Header(None)
                    | Section::HeaderFields(None, _)
                    | Section::HeaderFieldsNot(None, _)
            ),
            ..
        }
    )
}

/// Items that are the message's bytes as they are.
fn is_whole_message(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(name, N::Rfc822 | N::BodyExt { section: None, .. })
}

/// A message's header block with the blank line that ends it.
fn header_block(raw: &[u8]) -> Vec<u8> {
    MimeMessage::parse(raw).section(Some(&Section::Header(None)), None)
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
