//! Commands of the selected state (RFC 3501 §6.4): FETCH, STORE, SEARCH, COPY, MOVE
//! (RFC 6851), EXPUNGE and UID EXPUNGE (RFC 4315), CLOSE, UNSELECT, with CONDSTORE
//! (RFC 7162) MODSEQs and ESEARCH (RFC 4731) results.

use std::num::NonZeroU32;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::Literal;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::NString8;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::extensions::uidplus::UidElement;
use imap_codec::imap_types::extensions::uidplus::UidSet;
use imap_codec::imap_types::fetch::Macro;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::fetch::Section;
use imap_codec::imap_types::flag::StoreResponse;
use imap_codec::imap_types::flag::StoreType;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::extended::SearchReturn;
use crate::imap::message;
use crate::imap::message::MimeMessage;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::search;
use crate::imap::session::Fault;
use crate::imap::session::Session;
use crate::imap::session::folders::name_of;
use crate::imap::session::view::fetch_flags;
use crate::imap::session::view::modseq_nz;
use crate::store::Store;
use crate::store::blobs::BlobId;
use crate::store::folders::Copied;
use crate::store::folders::FlagChange;
use crate::store::folders::Stored;
use crate::store::mailbox::ARCHIVE;
use crate::store::mailbox::MessageMeta;

impl Session {
    /// The selected-state commands, falling back to the authenticated ones.
    pub(super) fn selected(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        body: CommandBody<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Result<Vec<Out>, Fault> {
        let condstore = self.condstore;
        let Some(selection) = self.selected.as_mut() else {
            return Ok(Vec::new());
        };
        let read_only = selection.read_only;
        let mut out = match body {
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                let changed_since = modifiers.iter().find_map(|m| match m {
                    FetchModifier::ChangedSince(n) => Some(n.get()),
                    FetchModifier::Vanished => None,
                });
                if changed_since.is_some() {
                    self.condstore = true;
                }
                let mut out = self.fetch(
                    store,
                    user,
                    &sequence_set,
                    &macro_or_item_names,
                    uid,
                    changed_since,
                )?;
                out.push(reply::ok(tag, None, "FETCH completed"));
                return Ok(self.with_changes(store, user, uid, out));
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                if read_only {
                    return Ok(vec![reply::no(tag, None, "folder is read-only")]);
                }
                let unchanged_since = modifiers
                    .iter()
                    .map(|StoreModifier::UnchangedSince(n)| *n)
                    .next();
                if unchanged_since.is_some() {
                    self.condstore = true;
                }
                let flags: Vec<String> = flags.iter().map(ToString::to_string).collect();
                let change = match kind {
                    StoreType::Replace => FlagChange::Replace,
                    StoreType::Add => FlagChange::Add,
                    StoreType::Remove => FlagChange::Remove,
                };
                let silent = response == StoreResponse::Silent;
                let out = self.store(
                    store,
                    user,
                    tag,
                    &sequence_set,
                    uid,
                    change,
                    &flags,
                    silent,
                    unchanged_since,
                )?;
                return Ok(self.with_changes(store, user, uid, out));
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                if let Some(charset) = charset {
                    let name = charset.as_ref().to_ascii_uppercase();
                    if name != "UTF-8" && name != "US-ASCII" {
                        return Ok(vec![reply::no(
                            tag,
                            Some(Code::BadCharset {
                                allowed: Vec::new(),
                            }),
                            "only UTF-8 and US-ASCII",
                        )]);
                    }
                }
                let key = match criteria.into_iter().collect::<Vec<_>>() {
                    mut keys if keys.len() == 1 => keys.remove(0),
                    keys => match Vec1::try_from(keys) {
                        Ok(keys) => SearchKey::And(keys),
                        Err(_) => SearchKey::All,
                    },
                };
                let mut out = self.search(store, user, tag, &key, uid, extended.search.as_ref())?;
                out.push(reply::ok(tag, None, "SEARCH completed"));
                return Ok(self.with_changes(store, user, uid, out));
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(
                store,
                user,
                tag,
                &sequence_set,
                &name_of(&mailbox),
                uid,
                false,
            )?,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => {
                if read_only {
                    return Ok(vec![reply::no(tag, None, "folder is read-only")]);
                }
                self.copy(
                    store,
                    user,
                    tag,
                    &sequence_set,
                    &name_of(&mailbox),
                    uid,
                    true,
                )?
            }
            CommandBody::Expunge => {
                if read_only {
                    return Ok(vec![reply::no(tag, None, "folder is read-only")]);
                }
                let mut out = self.expunge(store, user, None)?;
                out.push(reply::ok(tag, None, "EXPUNGE completed"));
                out
            }
            CommandBody::ExpungeUid { sequence_set } => {
                if read_only {
                    return Ok(vec![reply::no(tag, None, "folder is read-only")]);
                }
                let mut out = self.expunge(store, user, Some(&sequence_set))?;
                out.push(reply::ok(tag, None, "UID EXPUNGE completed"));
                out
            }
            CommandBody::Close => {
                if !read_only {
                    // CLOSE expunges silently (RFC 3501 §6.4.2).
                    let _ = self.expunge(store, user, None)?;
                }
                self.selected = None;
                return Ok(vec![reply::ok(tag, None, "CLOSE completed")]);
            }
            CommandBody::Unselect => {
                self.selected = None;
                return Ok(vec![reply::ok(tag, None, "UNSELECT completed")]);
            }
            body => self.authenticated(store, user, tag, body, extended, now)?,
        };
        if let Some(selection) = self.selected.as_mut()
            && !out.is_empty()
        {
            // Changes by others ride along before the tagged reply (RFC 3501 §5.2).
            let mut changes = selection.sync(store, user, true, condstore)?;
            let tagged = out.pop();
            out.append(&mut changes);
            out.extend(tagged);
        }
        Ok(out)
    }

    /// Adds pending changes before the tagged reply; without expunges unless a UID
    /// command (RFC 3501 §7.4.1).
    fn with_changes(
        &mut self,
        store: &Store,
        user: &str,
        uid: bool,
        mut out: Vec<Out>,
    ) -> Vec<Out> {
        let condstore = self.condstore;
        if let Some(selection) = self.selected.as_mut()
            && let Ok(mut changes) = selection.sync(store, user, uid, condstore)
        {
            let tagged = out.pop();
            out.append(&mut changes);
            out.extend(tagged);
        }
        out
    }

    fn metas(
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
            // A large share of the folder: one scan beats many lookups. Both lists are
            // in UID order, so one pass pairs them.
            if wanted.len() > 64 && wanted.len() * 4 > selection.uids.len() {
                let all = tx.messages(user, &folder)?;
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
                    if let Some(meta) = tx.message(user, &folder, *uid)? {
                        found.push((*seq, meta));
                    }
                }
                Ok(found)
            }
        })
    }

    /// A message's bytes: from the body store, or from its package in the
    /// conservation view.
    fn raw(&self, store: &Store, meta: &MessageMeta) -> Result<Vec<u8>, Fault> {
        match (
            self.selected.as_ref().and_then(|s| s.conserved.as_ref()),
            &self.config.conservation_root,
        ) {
            (Some(entries), Some(root)) => super::conserved::raw(root, entries, meta.uid),
            _ => store.blobs().get(&meta.blob),
        }
    }

    fn fetch(
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
        let mut metas: Vec<(u32, MessageMeta)> = self
            .metas(store, user, &wanted)?
            .into_iter()
            .filter(|(_, meta)| changed_since.is_none_or(|since| meta.modseq > since))
            .collect();
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
                    tx.store_flags_many(user, &folder, &unseen, FlagChange::Add, &seen, None)
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
        let cached = if header_only {
            let blobs: Vec<&BlobId> = metas.iter().map(|(_, m)| &m.blob).collect();
            store.read(|tx| tx.cached_headers(&blobs))?
        } else {
            Vec::new()
        };
        let mut misses: Vec<(BlobId, Vec<u8>)> = Vec::new();
        let mut out = Vec::with_capacity(metas.len());
        for (index, (seq, meta)) in metas.iter().enumerate() {
            let cached_header = cached.get(index).cloned().flatten();
            let raw = if !needs_body {
                Vec::new()
            } else if let Some(header) = cached_header {
                header
            } else {
                match self.raw(store, meta) {
                    Ok(raw) if header_only => {
                        let header = header_block(&raw);
                        misses.push((meta.blob.clone(), header.clone()));
                        header
                    }
                    Ok(raw) => raw,
                    Err(error) => {
                        tracing::error!(%error, uid = meta.uid, "message body unreadable");
                        continue;
                    }
                }
            };
            let recent = self
                .selected
                .as_ref()
                .is_some_and(|s| s.recent.contains(&meta.uid));
            let mime = MimeMessage::parse(if needs_mime { &raw } else { b"" });
            let mut items = Vec::with_capacity(names.len() + 1);
            for name in &names {
                if let Some(item) = fetch_item(name, meta, &mime, &raw, recent) {
                    items.push(item);
                }
            }
            if flags_changed.contains(&meta.uid) && !names.contains(&MessageDataItemName::Flags) {
                items.push(MessageDataItem::Flags(fetch_flags(meta, recent)));
            }
            if let Ok(items) = Vec1::try_from(items) {
                out.push(reply::data(Data::Fetch {
                    seq: reply::nz(*seq),
                    items,
                }));
            }
        }
        if !misses.is_empty() {
            // The cache is an optimisation: failing to fill it is logged, not fatal.
            if let Err(error) = store.write(|tx| {
                for (blob, header) in &misses {
                    tx.cache_header(blob, header)?;
                }
                Ok(())
            }) {
                tracing::warn!(%error, "header cache not updated");
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        set: &SequenceSet,
        by_uid: bool,
        change: FlagChange,
        flags: &[String],
        silent: bool,
        unchanged_since: Option<u64>,
    ) -> Result<Vec<Out>, Fault> {
        let condstore = self.condstore;
        let Some(selection) = self.selected.as_mut() else {
            return Ok(Vec::new());
        };
        let wanted = selection.resolve(set, by_uid);
        let folder = selection.folder.clone();
        let uids: Vec<u32> = wanted.iter().map(|(_, uid)| *uid).collect();
        let (results, (before, after)) = store.write(|tx| {
            tx.store_flags_many(user, &folder, &uids, change, flags, unchanged_since)
        })?;
        if before == selection.modseq {
            // Nobody else changed the folder meanwhile: what this STORE reports is all
            // there is to know, and the next sync need not look.
            selection.modseq = after;
        }
        let results: Vec<(u32, Stored)> = wanted.iter().map(|(seq, _)| *seq).zip(results).collect();
        let mut out = Vec::new();
        let mut modified = Vec::new();
        for (seq, result) in results {
            let meta = match result {
                Stored::Done(meta) => meta,
                Stored::Modified(meta) => {
                    modified.push(if by_uid { meta.uid } else { seq });
                    continue;
                }
                Stored::Missing => continue,
            };
            selection.own.insert(meta.uid, meta.modseq);
            if silent && !condstore {
                continue;
            }
            let recent = selection.recent.contains(&meta.uid);
            let mut items = Vec::new();
            if !silent {
                items.push(MessageDataItem::Flags(fetch_flags(&meta, recent)));
            }
            if by_uid {
                items.push(MessageDataItem::Uid(reply::nz(meta.uid)));
            }
            if condstore {
                items.push(MessageDataItem::ModSeq(modseq_nz(meta.modseq)));
            }
            if let Ok(items) = Vec1::try_from(items) {
                out.push(reply::data(Data::Fetch {
                    seq: reply::nz(seq),
                    items,
                }));
            }
        }
        let code = modified_set(&modified).map(Code::Modified);
        out.push(reply::ok(tag, code, "STORE completed"));
        Ok(out)
    }

    fn search(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        key: &SearchKey<'_>,
        by_uid: bool,
        esearch: Option<&SearchReturn>,
    ) -> Result<Vec<Out>, Fault> {
        let Some(selection) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        let folder = selection.folder.clone();
        let metas = match &selection.conserved {
            Some(entries) => super::conserved::metas(entries),
            None => store.read(|tx| tx.messages(user, &folder))?,
        };
        let bounds = search::Bounds {
            max_seq: selection.exists(),
            max_uid: selection.max_uid(),
        };
        let needs_body = search::needs_body(key);
        let mut found: Vec<(u32, u32, u64)> = Vec::new();
        for meta in &metas {
            let Some(seq) = selection.seq_of(meta.uid) else {
                continue;
            };
            let raw = if needs_body {
                self.raw(store, meta).unwrap_or_default()
            } else {
                Vec::new()
            };
            let candidate = search::Candidate {
                seq,
                uid: meta.uid,
                flags: &meta.flags,
                recent: selection.recent.contains(&meta.uid),
                internal_date: meta.internal_date,
                size: meta.size,
                modseq: meta.modseq,
                raw: &raw,
            };
            if search::matches(key, &candidate, bounds) {
                found.push((seq, meta.uid, meta.modseq));
            }
        }
        let numbers: Vec<u32> = found
            .iter()
            .map(|(s, u, _)| if by_uid { *u } else { *s })
            .collect();
        let wants_modseq = mentions_modseq(key);
        let highest = found.iter().map(|(_, _, m)| *m).max();
        if let Some(options) = esearch {
            return Ok(vec![Out::Raw(crate::imap::extended::esearch(
                tag,
                by_uid,
                options,
                &numbers,
                highest.filter(|_| wants_modseq),
            ))]);
        }
        let numbers: Vec<NonZeroU32> = numbers.into_iter().filter_map(NonZeroU32::new).collect();
        let modseq = highest
            .filter(|_| wants_modseq)
            .and_then(std::num::NonZeroU64::new);
        Ok(vec![reply::data(Data::Search(numbers, modseq))])
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        set: &SequenceSet,
        target: &str,
        by_uid: bool,
        remove: bool,
    ) -> Result<Vec<Out>, Fault> {
        let Some(selection) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        if selection.conserved.is_some() {
            return Ok(vec![reply::no(
                tag,
                Some(crate::imap::session::other_code("NOPERM")),
                "conserved messages leave only as an export (pecd conservation export)",
            )]);
        }
        let wanted = selection.resolve(set, by_uid);
        let folder = selection.folder.clone();
        let uids: Vec<u32> = wanted.iter().map(|(_, u)| *u).collect();
        let now = Timestamp::now();
        let copied = store.write(|tx| {
            let copied = tx.copy_messages(user, &folder, target, &uids)?;
            if let Copied::Done { uids: pairs, .. } = &copied {
                if remove {
                    tx.expunge(user, &folder, &uids)?;
                }
                if target == ARCHIVE {
                    for (_, new) in pairs {
                        super::folders::queue_archived(tx, user, *new, now)?;
                    }
                }
            }
            Ok(copied)
        })?;
        let (uidvalidity, pairs) = match copied {
            Copied::Done { uidvalidity, uids } => (uidvalidity, uids),
            Copied::NoFolder => {
                return Ok(vec![reply::no(
                    tag,
                    Some(Code::TryCreate),
                    "no such folder",
                )]);
            }
            Copied::OverQuota => {
                return Ok(vec![reply::no(
                    tag,
                    Some(Code::OverQuota),
                    "mailbox quota exceeded",
                )]);
            }
        };
        let code = copy_uid(uidvalidity, &pairs);
        let mut out = Vec::new();
        if remove {
            // MOVE: COPYUID untagged first, then the expunges (RFC 6851 §4.3).
            out.push(reply::untagged_ok(code, "moved"));
            let condstore = self.condstore;
            if let Some(selection) = self.selected.as_mut() {
                out.extend(selection.sync(store, user, true, condstore)?);
            }
            out.push(reply::ok(tag, None, "MOVE completed"));
        } else {
            out.push(reply::ok(tag, code, "COPY completed"));
        }
        Ok(out)
    }

    fn expunge(
        &mut self,
        store: &Store,
        user: &str,
        only: Option<&SequenceSet>,
    ) -> Result<Vec<Out>, Fault> {
        let condstore = self.condstore;
        let Some(selection) = self.selected.as_mut() else {
            return Ok(Vec::new());
        };
        let folder = selection.folder.clone();
        let allowed: Option<Vec<u32>> = only.map(|set| {
            selection
                .resolve(set, true)
                .into_iter()
                .map(|(_, u)| u)
                .collect()
        });
        let metas = store.read(|tx| tx.messages(user, &folder))?;
        let doomed: Vec<u32> = metas
            .iter()
            .filter(|m| m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")))
            .filter(|m| allowed.as_ref().is_none_or(|a| a.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        if !doomed.is_empty() {
            store.write(|tx| tx.expunge(user, &folder, &doomed))?;
        }
        selection.sync(store, user, true, condstore)
    }
}

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

fn fetch_item(
    name: &MessageDataItemName<'static>,
    meta: &MessageMeta,
    mime: &MimeMessage<'_>,
    raw: &[u8],
    recent: bool,
) -> Option<MessageDataItem<'static>> {
    use MessageDataItemName as N;
    Some(match name {
        N::Flags => MessageDataItem::Flags(fetch_flags(meta, recent)),
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
            data: literal(match section {
                None => partial_of(raw, *partial),
                Some(section) => match message::top_header_section(raw, section, *partial) {
                    Some(bytes) => bytes,
                    None => mime.section(Some(section), *partial),
                },
            }),
        },
        N::Rfc822 => MessageDataItem::Rfc822(literal(raw.to_vec())),
        N::Rfc822Header => {
            MessageDataItem::Rfc822Header(literal(mime.section(Some(&Section::Header(None)), None)))
        }
        N::Rfc822Text => {
            MessageDataItem::Rfc822Text(literal(mime.section(Some(&Section::Text(None)), None)))
        }
        N::Binary {
            section, partial, ..
        } => {
            let data = mime.binary(section, *partial).ok()?;
            MessageDataItem::Binary {
                section: section.clone(),
                value: NString8::Literal8(Literal8 {
                    data: data.into(),
                    mode: imap_codec::imap_types::core::LiteralMode::Sync,
                }),
            }
        }
        N::BinarySize { section } => MessageDataItem::BinarySize {
            section: section.clone(),
            size: mime.binary_size(section).ok()?,
        },
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

fn mentions_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(mentions_modseq),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        SearchKey::Not(k) => mentions_modseq(k),
        _ => false,
    }
}

fn modified_set(numbers: &[u32]) -> Option<SequenceSet> {
    SequenceSet::try_from(crate::imap::extended::compress(numbers).as_str()).ok()
}

fn copy_uid(uidvalidity: u32, pairs: &[(u32, u32)]) -> Option<Code<'static>> {
    let set = |numbers: Vec<u32>| {
        let elements: Vec<UidElement> = crate::imap::extended::runs(&numbers)
            .into_iter()
            .map(|(a, b)| {
                if a == b {
                    UidElement::Single(reply::nz(a))
                } else {
                    UidElement::Range(reply::nz(a), reply::nz(b))
                }
            })
            .collect();
        Vec1::try_from(elements).ok().map(UidSet)
    };
    Some(Code::CopyUid {
        uid_validity: reply::nz(uidvalidity),
        source: set(pairs.iter().map(|(s, _)| *s).collect())?,
        destination: set(pairs.iter().map(|(_, t)| *t).collect())?,
    })
}
