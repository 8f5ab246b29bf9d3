//! Commands of the selected state (RFC 3501 §6.4): FETCH, STORE, SEARCH, COPY, MOVE
//! (RFC 6851), EXPUNGE and UID EXPUNGE (RFC 4315), CLOSE, UNSELECT, with CONDSTORE
//! (RFC 7162) MODSEQs and ESEARCH (RFC 4731) results.

use std::num::NonZeroU32;

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::UidElement;
use imap_codec::imap_types::extensions::uidplus::UidSet;
use imap_codec::imap_types::flag::StoreResponse;
use imap_codec::imap_types::flag::StoreType;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::extended::SearchReturn;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::search;
use crate::imap::session::Fault;
use crate::imap::session::Session;
use crate::imap::session::folders::name_of;
use crate::imap::session::view::flags_fetch;
use crate::store::Store;
use crate::store::folders::Copied;
use crate::store::folders::FlagChange;
use crate::store::folders::Stored;
use crate::store::mailbox::ARCHIVE;

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
            tx.folders()
                .store_flags_many(user, &folder, &uids, change, flags, unchanged_since)
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
            out.extend(flags_fetch(seq, &meta, recent, !silent, by_uid, condstore));
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
            None => store.read(|tx| tx.mailboxes().messages(user, &folder))?,
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
            let copied = tx.folders().copy(user, &folder, target, &uids)?;
            if let Copied::Done { uids: pairs, .. } = &copied {
                if remove {
                    tx.folders().expunge(user, &folder, &uids)?;
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
        let metas = store.read(|tx| tx.mailboxes().messages(user, &folder))?;
        let doomed: Vec<u32> = metas
            .iter()
            .filter(|m| m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")))
            .filter(|m| allowed.as_ref().is_none_or(|a| a.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        if !doomed.is_empty() {
            store.write(|tx| tx.folders().expunge(user, &folder, &doomed))?;
        }
        selection.sync(store, user, true, condstore)
    }
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
