//! CONTEXT=SEARCH and CONTEXT=SORT updates (RFC 5267 §4.3): a `SEARCH RETURN
//! (UPDATE …)` or `SORT RETURN (UPDATE …)` stays
//! active until CANCELUPDATE or until the folder is left, and after every command the
//! session reports how its result changed, as `* ESEARCH (TAG "t") ADDTO (…)` and
//! `REMOVEFROM (…)`.
//!
//! The result is evaluated afresh only when the folder changed (its MODSEQ, its
//! messages), and at most [`MAX_UPDATES`] searches are kept per session; more are
//! refused with `NOUPDATE` (§4.3). Removals are reported before the command's EXPUNGE
//! responses, in the numbers the client knew; additions after them, in the new ones.

use std::collections::HashSet;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::response::Response;
use imap_codec::imap_types::search::SearchKey;

use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::command::CommandBody;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::extended::compress;
use crate::imap::reply::Out;
use crate::imap::search::returns::ContextCommand;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::Session;
use crate::imap::session::State;
use crate::imap::session::Step;
use crate::imap::session::selected::InFolder;
use crate::store::Store;

/// The most UPDATE searches one session keeps.
pub const MAX_UPDATES: usize = 4;

/// One search whose result is kept up to date.
#[derive(Debug)]
struct Update {
    tag: String,
    key: SearchKey<'static>,
    /// The sort order of a `SORT RETURN (UPDATE …)` (CONTEXT=SORT); `None` for SEARCH.
    order: Option<Vec<SortCriterion>>,
    by_uid: bool,
    /// The result as last reported: UIDs, in UID order or the sort order.
    uids: Vec<u32>,
    /// The folder it belongs to, and that folder's UIDVALIDITY.
    folder: (String, u32),
}

/// The UPDATE searches of a session.
#[derive(Debug, Default)]
pub struct Updates {
    active: Vec<Update>,
    /// The folder's state when the results were last evaluated: (MODSEQ, UIDs).
    evaluated: Option<(u64, Vec<u32>)>,
}

impl Updates {
    /// Ends the updates of the searches tagged `tags` (CANCELUPDATE).
    pub fn cancel(&mut self, tags: &[String]) {
        self.active.retain(|update| !tags.contains(&update.tag));
    }

    /// Whether any search is being kept up to date.
    pub fn is_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// Ends every update (the folder was left).
    pub fn clear(&mut self) {
        self.active.clear();
        self.evaluated = None;
    }
}

impl Session {
    /// Runs a command, then reports the changes of the UPDATE searches (and ends them
    /// on CANCELUPDATE or when the folder is left).
    pub(in crate::imap::session) fn dispatch_with_updates(
        &mut self,
        store: &Store,
        command: Command<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Result<Step, Fault> {
        if let Some(ContextCommand::CancelUpdate(tags)) = &extended.context {
            self.common.updates.cancel(tags);
        }
        let leaves = matches!(
            command.body,
            CommandBody::Select { .. }
                | CommandBody::Examine { .. }
                | CommandBody::Close
                | CommandBody::Unselect
                | CommandBody::Logout
        );
        let before = match &self.state {
            State::Selected { selection, .. } if self.common.updates.is_active() => {
                Some(selection.uids.clone())
            }
            _ => None,
        };
        let tag = command.tag.clone().into_static();
        let mut step = self.dispatch(store, command, extended, now)?;
        if leaves {
            self.common.updates.clear();
        }
        let (Some(before), State::Selected { user, selection }) = (before, &mut self.state) else {
            return Ok(step);
        };
        let context = Context {
            store,
            user,
            tag: &tag,
            now,
            extended,
        };
        InFolder {
            common: &mut self.common,
            selection,
            context: &context,
        }
        .report_updates(&before, &mut step.out)?;
        Ok(step)
    }
}

impl InFolder<'_, '_> {
    /// Starts keeping the result of `key` (UIDs `uids`) up to date; the refusal when
    /// the session keeps too many already.
    pub(super) fn start_update(
        &mut self,
        key: &SearchKey<'_>,
        order: Option<&[SortCriterion]>,
        by_uid: bool,
        uids: Vec<u32>,
    ) -> Option<Out> {
        let tag = self.context.tag.inner().to_string();
        let updates = &mut self.common.updates;
        if updates.active.len() >= MAX_UPDATES {
            return Some(Out::Raw(
                format!("{tag} NO [NOUPDATE \"{tag}\"] too many updating searches\r\n")
                    .into_bytes(),
            ));
        }
        updates.evaluated = Some((self.selection.modseq, self.selection.uids.clone()));
        updates.active.push(Update {
            tag,
            key: key.clone().into_static(),
            order: order.map(<[SortCriterion]>::to_vec),
            by_uid,
            uids,
            folder: (self.selection.folder.clone(), self.selection.uidvalidity),
        });
        None
    }

    /// Adds the changes of every active update to `out` (a command's whole output,
    /// its tagged response last). `before` is the folder's UIDs as the client knew
    /// them when the command started.
    pub(super) fn report_updates(
        &mut self,
        before: &[u32],
        out: &mut Vec<Out>,
    ) -> Result<(), Fault> {
        let here = (self.selection.folder.clone(), self.selection.uidvalidity);
        self.common
            .updates
            .active
            .retain(|update| update.folder == here);
        let now = (self.selection.modseq, self.selection.uids.clone());
        if !self.common.updates.is_active() || self.common.updates.evaluated.as_ref() == Some(&now)
        {
            return Ok(());
        }
        let mut removals = Vec::new();
        let mut additions = Vec::new();
        let mut active = std::mem::take(&mut self.common.updates.active);
        for update in &mut active {
            let uids = self.result_of(update)?;
            removals.extend(self.removal(update, &uids, before));
            additions.extend(self.addition(update, &uids));
            update.uids = uids;
        }
        self.common.updates.active = active;
        self.common.updates.evaluated = Some(now);
        let tagged = out.pop();
        let first_expunge = out
            .iter()
            .position(|o| matches!(o, Out::Response(Response::Data(Data::Expunge(_)))))
            .unwrap_or(out.len());
        out.splice(first_expunge..first_expunge, removals);
        out.extend(additions);
        out.extend(tagged);
        Ok(())
    }

    /// `update`'s result now: UIDs, in UID order or its sort order.
    fn result_of(&self, update: &Update) -> Result<Vec<u32>, Fault> {
        match &update.order {
            Some(order) => self.sorted(order, &update.key, true),
            None => Ok(self
                .matching(&update.key)?
                .iter()
                .map(|m| m.uid())
                .collect()),
        }
    }

    /// REMOVEFROM for what `update`'s last result had and `uids` lacks, in the numbers
    /// the client knew (`before`: the folder's UIDs then).
    fn removal(&self, update: &Update, uids: &[u32], before: &[u32]) -> Option<Out> {
        let new: HashSet<u32> = uids.iter().copied().collect();
        let removed: Vec<u32> = update
            .uids
            .iter()
            .copied()
            .filter(|u| !new.contains(u))
            .collect();
        let first = removed.first()?;
        let position = update.uids.iter().position(|u| u == first).unwrap_or(0) + 1;
        let numbers = self.numbers(update.by_uid, &removed, |uid| {
            before.iter().position(|u| *u == uid).map(|at| at + 1)
        });
        Some(change(
            update,
            "REMOVEFROM",
            &[(position, compress(&numbers))],
        ))
    }

    /// ADDTO for what `uids` has and `update`'s last result lacked, each at its place
    /// in the new result, in order (RFC 5267 §4.3.2); a SEARCH result is in UID order,
    /// so one place for all of them does.
    fn addition(&self, update: &Update, uids: &[u32]) -> Option<Out> {
        let old: HashSet<u32> = update.uids.iter().copied().collect();
        let added: Vec<(usize, u32)> = (1..)
            .zip(uids.iter().copied())
            .filter(|(_, u)| !old.contains(u))
            .collect();
        let &(first, _) = added.first()?;
        let selection = &*self.selection;
        let seq = |uid: u32| {
            selection
                .seq_of(uid)
                .and_then(|seq| usize::try_from(seq).ok())
        };
        let pairs: Vec<(usize, String)> = if update.order.is_some() {
            added
                .iter()
                .map(|&(at, uid)| (at, compress(&self.numbers(update.by_uid, &[uid], seq))))
                .collect()
        } else {
            let uids: Vec<u32> = added.iter().map(|(_, uid)| *uid).collect();
            vec![(first, compress(&self.numbers(update.by_uid, &uids, seq)))]
        };
        Some(change(update, "ADDTO", &pairs))
    }

    /// The numbers to report for `uids`: themselves for a UID search, else each one's
    /// sequence number by `seq`, ascending.
    fn numbers(&self, by_uid: bool, uids: &[u32], seq: impl Fn(u32) -> Option<usize>) -> Vec<u32> {
        if by_uid {
            return uids.to_vec();
        }
        let mut numbers: Vec<u32> = uids
            .iter()
            .filter_map(|uid| seq(*uid).and_then(|n| u32::try_from(n).ok()))
            .collect();
        numbers.sort_unstable();
        numbers
    }
}

/// `* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (position set …)`.
fn change(update: &Update, kind: &str, pairs: &[(usize, String)]) -> Out {
    let uid = if update.by_uid { " UID" } else { "" };
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(position, set)| format!("{position} {set}"))
        .collect();
    Out::Raw(
        format!(
            "* ESEARCH (TAG \"{}\"){uid} {kind} ({})\r\n",
            update.tag,
            pairs.join(" ")
        )
        .into_bytes(),
    )
}
