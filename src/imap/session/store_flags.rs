//! STORE (RFC 3501 §6.4.6) with CONDSTORE (RFC 7162): UNCHANGEDSINCE, MODSEQ in the
//! answers, and the HIGHESTMODSEQ told when a command first turns CONDSTORE on.

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::flag::Flag as WireFlag;
use imap_codec::imap_types::flag::StoreResponse;
use imap_codec::imap_types::flag::StoreType;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::CondStore;
use crate::imap::session::Fault;
use crate::imap::session::selected::InFolder;
use crate::imap::session::view::FlagsFetch;
use crate::imap::session::view::flags_fetch;
use crate::store::folders::FlagChange;
use crate::store::folders::Stored;

/// A STORE's change, as the store takes it.
pub(super) struct FlagStore {
    change: FlagChange,
    flags: Vec<String>,
    response: StoreResponse,
    unchanged_since: Option<u64>,
}

impl InFolder<'_, '_> {
    pub(super) fn store_command(
        &mut self,
        set: &SequenceSet,
        by_uid: bool,
        request: &FlagStore,
    ) -> Result<Vec<Out>, Fault> {
        let mut out = Vec::new();
        if request.unchanged_since.is_some() {
            out.extend(self.enable_condstore());
        }
        out.extend(self.store(set, by_uid, request)?);
        Ok(self.with_changes(by_uid, out))
    }

    /// Turns CONDSTORE on for a command that uses it (RFC 7162 §3.1): the first such
    /// command in a selected folder is answered with its HIGHESTMODSEQ too.
    pub(super) fn enable_condstore(&mut self) -> Option<Out> {
        if self.common.condstore.is_on() {
            return None;
        }
        self.common.condstore = CondStore::On;
        let highest = super::view::modseq_nz(self.selection.modseq.max(1));
        Some(reply::untagged_ok(
            Some(Code::HighestModSeq(highest)),
            "CONDSTORE enabled",
        ))
    }

    /// STORE (RFC 3501 §6.4.6), with UNCHANGEDSINCE (RFC 7162 §3.1.3).
    fn store(
        &mut self,
        set: &SequenceSet,
        by_uid: bool,
        request: &FlagStore,
    ) -> Result<Vec<Out>, Fault> {
        let (store, user) = (self.context.store, self.context.user);
        let condstore = self.common.condstore.is_on();
        let selection = &mut *self.selection;
        let wanted = selection.resolve(set, by_uid);
        let folder = selection.folder.clone();
        let uids: Vec<u32> = wanted.iter().map(|(_, uid)| *uid).collect();
        let (results, (before, after)) = store.write(|tx| {
            tx.folders().store_flags_many(
                user,
                &folder,
                &uids,
                request.change,
                &request.flags,
                request.unchanged_since,
            )
        })?;
        if before == selection.modseq {
            // Nobody else changed the folder meanwhile: what this STORE reports is all
            // there is to know, and the next sync need not look.
            selection.modseq = after;
        }
        let silent = request.response == StoreResponse::Silent;
        let items = FlagsFetch {
            flags: !silent,
            uid: by_uid,
            modseq: condstore,
        };
        let mut out = Vec::new();
        let mut modified = Vec::new();
        for ((seq, _), result) in wanted.iter().zip(results) {
            let meta = match result {
                Stored::Done(meta) => meta,
                Stored::Modified(meta) => {
                    modified.push(if by_uid { meta.uid } else { *seq });
                    continue;
                }
                Stored::Missing => continue,
            };
            selection.own.insert(meta.uid, meta.modseq);
            if silent && !condstore {
                continue;
            }
            out.extend(
                selection
                    .keywords
                    .announce(meta.flags.iter().map(String::as_str), selection.read_only),
            );
            let recent = selection.recent.contains(&meta.uid);
            out.extend(flags_fetch(*seq, &meta, recent, items));
        }
        let code = modified_set(&modified).map(Code::Modified);
        out.push(reply::ok(self.context.tag, code, "STORE completed"));
        Ok(out)
    }
}

/// STORE's arguments as the store takes them.
pub(super) fn flag_store(
    kind: StoreType,
    response: StoreResponse,
    flags: &[WireFlag<'_>],
    modifiers: &[StoreModifier],
) -> FlagStore {
    FlagStore {
        change: match kind {
            StoreType::Replace => FlagChange::Replace,
            StoreType::Add => FlagChange::Add,
            StoreType::Remove => FlagChange::Remove,
        },
        flags: flags.iter().map(ToString::to_string).collect(),
        response,
        unchanged_since: modifiers
            .iter()
            .map(|StoreModifier::UnchangedSince(n)| *n)
            .next(),
    }
}

fn modified_set(numbers: &[u32]) -> Option<SequenceSet> {
    SequenceSet::try_from(crate::imap::extended::compress(numbers).as_str()).ok()
}
