//! Commands of the selected state (RFC 3501 §6.4): FETCH, STORE, SEARCH, COPY, MOVE
//! (RFC 6851), EXPUNGE and UID EXPUNGE (RFC 4315), with CONDSTORE (RFC 7162) MODSEQs
//! and ESEARCH (RFC 4731) results. CLOSE and UNSELECT, which change the state, are in
//! the session itself.

use std::num::NonZeroU32;

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::UidElement;
use imap_codec::imap_types::extensions::uidplus::UidSet;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::search::returns::ContextCommand;
use crate::imap::session::Common;
use crate::imap::session::CondStore;
use crate::imap::session::Context;
use crate::imap::session::Expunges;
use crate::imap::session::Fault;
use crate::imap::session::Filed;
use crate::imap::session::Selection;
use crate::imap::session::copy_move;
use crate::imap::session::names::name_of;
use crate::imap::session::other_code;
use crate::imap::session::store_flags::flag_store;
use crate::store::folders::Copied;

/// The session in the selected state, for one command.
pub(super) struct InFolder<'a, 'c> {
    pub(super) common: &'a mut Common,
    pub(super) selection: &'a mut Selection,
    pub(super) context: &'a Context<'c>,
}

/// COPY, or MOVE (RFC 6851: the originals taken out, then filed in the target).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Transfer {
    Copy,
    Move,
}

/// A group of commands' reply, or the command back when it is not of the group.
type Handled<'b> = Result<Vec<Out>, CommandBody<'b>>;

/// A message SEARCH found.
struct Found {
    seq: u32,
    uid: u32,
    modseq: u64,
}

impl InFolder<'_, '_> {
    /// The selected-state commands, falling back to the authenticated ones; `None`
    /// for a command valid in neither.
    pub(super) fn command(&mut self, body: CommandBody<'_>) -> Result<Option<Vec<Out>>, Fault> {
        let body = match self.reading(body)? {
            Ok(out) => return Ok(Some(out)),
            Err(body) => body,
        };
        let body = match self.changing(body)? {
            Ok(out) => return Ok(Some(out)),
            Err(body) => body,
        };
        match self.common.authenticated(self.context, body)? {
            Some(out) => self.ride_along(out).map(Some),
            None => Ok(None),
        }
    }

    /// FETCH, SEARCH, SORT and THREAD, each reply with the changes it may carry.
    fn reading<'b>(&mut self, body: CommandBody<'b>) -> Result<Handled<'b>, Fault> {
        let returns = match &self.context.extended.context {
            Some(ContextCommand::Returns(returns)) => Some(returns),
            _ => None,
        };
        let (uid, out) = match body {
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                return self
                    .fetch_command(&sequence_set, &macro_or_item_names, uid, &modifiers)
                    .map(Ok);
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => match returns {
                Some(returns) => {
                    let key = all_of(criteria);
                    let out = self.context_search(charset.as_ref(), &key, uid, returns)?;
                    (uid, out)
                }
                None => return self.search_command(charset.as_ref(), criteria, uid).map(Ok),
            },
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => {
                let key = all_of(search_criteria);
                let out = self.sort_command(&sort_criteria, &charset, &key, uid, returns)?;
                (uid, out)
            }
            CommandBody::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => {
                let key = all_of(search_criteria);
                let out = self.thread_command(&algorithm, &charset, &key, uid)?;
                (uid, out)
            }
            body => return Ok(Err(body)),
        };
        Ok(Ok(self.with_changes(uid, out)))
    }

    /// STORE, COPY, MOVE, EXPUNGE and UID EXPUNGE; all but COPY refused in a folder
    /// opened read-only.
    fn changing<'b>(&mut self, body: CommandBody<'b>) -> Result<Handled<'b>, Fault> {
        let tag = self.context.tag;
        let out = match body {
            CommandBody::Store { .. }
            | CommandBody::Move { .. }
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
                if self.selection.read_only =>
            {
                return Ok(Ok(vec![reply::no(tag, None, "folder is read-only")]));
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                let request = flag_store(kind, response, &flags, &modifiers);
                return self.store_command(&sequence_set, uid, &request).map(Ok);
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&sequence_set, &name_of(&mailbox), uid, Transfer::Copy)?,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&sequence_set, &name_of(&mailbox), uid, Transfer::Move)?,
            CommandBody::Expunge => {
                let mut out = self.expunge(None)?;
                out.push(reply::ok(tag, None, "EXPUNGE completed"));
                out
            }
            CommandBody::ExpungeUid { sequence_set } => {
                let mut out = self.expunge(Some(&sequence_set))?;
                out.push(reply::ok(tag, None, "UID EXPUNGE completed"));
                out
            }
            body => return Ok(Err(body)),
        };
        self.ride_along(out).map(Ok)
    }

    /// Changes by others ride along before the tagged reply (RFC 3501 §5.2).
    pub(super) fn ride_along(&mut self, out: Vec<Out>) -> Result<Vec<Out>, Fault> {
        let changes = self.selection.sync(
            self.context.store,
            self.context.user,
            Expunges::Report,
            self.common.condstore,
        )?;
        Ok(before_tagged(out, changes))
    }

    /// Adds pending changes before the tagged reply; without expunges unless a UID
    /// command (RFC 3501 §7.4.1). A failure to look only leaves them for later.
    pub(super) fn with_changes(&mut self, by_uid: bool, out: Vec<Out>) -> Vec<Out> {
        let expunges = if by_uid {
            Expunges::Report
        } else {
            Expunges::Hold
        };
        match self.selection.sync(
            self.context.store,
            self.context.user,
            expunges,
            self.common.condstore,
        ) {
            Ok(changes) => before_tagged(out, changes),
            Err(_) => out,
        }
    }

    fn fetch_command(
        &mut self,
        set: &SequenceSet,
        names: &MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        modifiers: &[FetchModifier],
    ) -> Result<Vec<Out>, Fault> {
        let changed_since = modifiers.iter().find_map(|m| match m {
            FetchModifier::ChangedSince(n) => Some(n.get()),
            FetchModifier::Vanished => None,
        });
        let vanished = modifiers.contains(&FetchModifier::Vanished);
        if vanished
            && (!by_uid || changed_since.is_none() || self.common.condstore != CondStore::QResync)
        {
            // RFC 7162 §3.2.6: UID FETCH with CHANGEDSINCE, after ENABLE QRESYNC.
            return Ok(vec![reply::bad(
                self.context.tag,
                "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC",
            )]);
        }
        let mut out = Vec::new();
        if changed_since.is_some() || asks_modseq(names) {
            out.extend(self.enable_condstore());
        }
        if vanished {
            out.extend(super::qresync::on_fetch(self.context, self.selection, set)?);
        }
        out.extend(self.fetch(set, names, by_uid, changed_since)?);
        out.push(reply::ok(self.context.tag, None, "FETCH completed"));
        Ok(self.with_changes(by_uid, out))
    }

    fn search_command(
        &mut self,
        charset: Option<&Charset<'_>>,
        criteria: Vec1<SearchKey<'_>>,
        by_uid: bool,
    ) -> Result<Vec<Out>, Fault> {
        let tag = self.context.tag;
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
        let key = all_of(criteria);
        let mut out = Vec::new();
        if mentions_modseq(&key) {
            out.extend(self.enable_condstore());
        }
        let found = self.search(&key)?;
        out.push(search_result(tag, &key, by_uid, &found, self.context));
        out.push(reply::ok(tag, None, "SEARCH completed"));
        Ok(self.with_changes(by_uid, out))
    }

    /// The messages that match `key` (RFC 3501 §6.4.4), in sequence order.
    fn search(&self, key: &SearchKey<'_>) -> Result<Vec<Found>, Fault> {
        Ok(self
            .matching(key)?
            .into_iter()
            .map(|m| Found {
                seq: m.seq,
                uid: m.uid(),
                modseq: m.modseq,
            })
            .collect())
    }

    /// COPY or MOVE (RFC 3501 §6.4.7, RFC 6851), with COPYUID (RFC 4315).
    fn copy(
        &mut self,
        set: &SequenceSet,
        target: &str,
        by_uid: bool,
        transfer: Transfer,
    ) -> Result<Vec<Out>, Fault> {
        let (store, user, tag) = (self.context.store, self.context.user, self.context.tag);
        if self.selection.conserved.is_some() {
            return Ok(vec![reply::no(
                tag,
                Some(other_code("NOPERM")),
                "conserved messages leave only as an export (pecd conservation export)",
            )]);
        }
        let wanted = self.selection.resolve(set, by_uid);
        let folder = self.selection.folder.clone();
        let uids: Vec<u32> = wanted.iter().map(|(_, u)| *u).collect();
        let hooks = &self.common.hooks;
        let copied = copy_move::settled(store.write(|tx| {
            let copied = match transfer {
                Transfer::Copy => copy_move::copy_whole(tx, user, &folder, target, &uids)?,
                Transfer::Move => copy_move::move_whole(tx, user, &folder, target, &uids)?,
            };
            if let Copied::Done { uids: pairs, .. } = &copied {
                let new: Vec<u32> = pairs.iter().map(|(_, new)| *new).collect();
                let filed = Filed {
                    user,
                    folder: target,
                    uids: &new,
                    message_id: None,
                    now: self.context.now,
                };
                hooks.filed(tx, &filed)?;
            }
            Ok(copied)
        }))?;
        match copied {
            Copied::Done { uidvalidity, uids } => {
                self.copied(transfer, copy_uid(uidvalidity, &uids))
            }
            Copied::NoFolder => Ok(vec![reply::no(
                tag,
                Some(Code::TryCreate),
                "no such folder",
            )]),
            Copied::OverQuota => Ok(vec![reply::no(
                tag,
                Some(Code::OverQuota),
                "mailbox quota exceeded",
            )]),
        }
    }

    /// The answer to a COPY or MOVE that went through.
    fn copied(
        &mut self,
        transfer: Transfer,
        code: Option<Code<'static>>,
    ) -> Result<Vec<Out>, Fault> {
        let tag = self.context.tag;
        if transfer == Transfer::Copy {
            return Ok(vec![reply::ok(tag, code, "COPY completed")]);
        }
        // MOVE: COPYUID untagged first, then the expunges (RFC 6851 §4.3).
        let mut out = vec![reply::untagged_ok(code, "moved")];
        out.extend(self.selection.sync(
            self.context.store,
            self.context.user,
            Expunges::Report,
            self.common.condstore,
        )?);
        out.push(reply::ok(tag, None, "MOVE completed"));
        Ok(out)
    }

    /// Removes the `\Deleted` messages (those in `only`, by UID, when given) and
    /// reports the expunges.
    pub(super) fn expunge(&mut self, only: Option<&SequenceSet>) -> Result<Vec<Out>, Fault> {
        let (store, user) = (self.context.store, self.context.user);
        let folder = self.selection.folder.clone();
        let allowed: Option<Vec<u32>> = only.map(|set| {
            self.selection
                .resolve(set, true)
                .into_iter()
                .map(|(_, u)| u)
                .collect()
        });
        let metas = store.read(|tx| tx.mailboxes().messages(user, &folder))?;
        let doomed: Vec<u32> = metas
            .iter()
            .filter(|m| Flags::of(&m.flags).has(Flag::Deleted))
            .filter(|m| allowed.as_ref().is_none_or(|a| a.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        if !doomed.is_empty() {
            store.write(|tx| tx.folders().expunge(user, &folder, &doomed))?;
        }
        self.selection
            .sync(store, user, Expunges::Report, self.common.condstore)
    }
}

/// SEARCH's answer: `* SEARCH`, or `* ESEARCH` when the client asked for it (RFC 4731).
fn search_result(
    tag: &Tag<'static>,
    key: &SearchKey<'_>,
    by_uid: bool,
    found: &[Found],
    context: &Context<'_>,
) -> Out {
    let numbers: Vec<u32> = found
        .iter()
        .map(|f| if by_uid { f.uid } else { f.seq })
        .collect();
    let highest = found
        .iter()
        .map(|f| f.modseq)
        .max()
        .filter(|_| mentions_modseq(key));
    if let Some(options) = context.extended.search.as_ref() {
        // With only MIN and MAX the MODSEQ is that of the messages they name
        // (RFC 4731 §3.2); found is in ascending order.
        let highest = if options.all || options.count {
            highest
        } else {
            let named = [
                found.first().filter(|_| options.min),
                found.last().filter(|_| options.max),
            ];
            named
                .into_iter()
                .flatten()
                .map(|f| f.modseq)
                .max()
                .filter(|_| highest.is_some())
        };
        return Out::Raw(crate::imap::extended::esearch(
            tag, by_uid, options, &numbers, highest,
        ));
    }
    let numbers: Vec<NonZeroU32> = numbers.into_iter().filter_map(NonZeroU32::new).collect();
    reply::data(Data::Search(
        numbers,
        highest.and_then(std::num::NonZeroU64::new),
    ))
}

/// Search criteria as one key: several are an AND (RFC 3501 §6.4.4).
fn all_of(criteria: Vec1<SearchKey<'_>>) -> SearchKey<'_> {
    match criteria.into_iter().collect::<Vec<_>>() {
        mut keys if keys.len() == 1 => keys.remove(0),
        keys => match Vec1::try_from(keys) {
            Ok(keys) => SearchKey::And(keys),
            Err(_) => SearchKey::All,
        },
    }
}

/// `out` with `changes` before its last (tagged) response.
fn before_tagged(mut out: Vec<Out>, mut changes: Vec<Out>) -> Vec<Out> {
    let tagged = out.pop();
    out.append(&mut changes);
    out.extend(tagged);
    out
}

/// Whether a FETCH asks for MODSEQ (a CONDSTORE-enabling command, RFC 7162 §3.1).
fn asks_modseq(names: &MacroOrMessageDataItemNames<'_>) -> bool {
    match names {
        MacroOrMessageDataItemNames::Macro(_) => false,
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names
            .iter()
            .any(|name| matches!(name, MessageDataItemName::ModSeq)),
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
