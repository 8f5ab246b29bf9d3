//! NOTIFY (RFC 5465): what a session watches beyond its selected folder, and the
//! unsolicited responses that tell the client what changed there: STATUS for new,
//! expunged and re-flagged messages (§5.2–5.4), LIST for folders created, deleted and
//! renamed (§5.5, OLDNAME from RFC 5258 §3) and for subscriptions (§5.6).
//!
//! The store keeps no event log; a [`Watch`] keeps a small mark of each of the user's
//! folders (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, and the message count where message
//! events are wanted) and the subscribed names, and compares them with the store's
//! after every commit the shell is woken by. Every read is of the session's own user's
//! folders: a name in a filter only selects among them, so no filter can reach another
//! holder's mailbox. The same is why the shell is woken only by the commits that
//! changed this user's mailbox (`Store::mailbox_commits`): nothing reported here can
//! change without one, whoever wrote it.
//!
//! When a folder matches several event groups, the first one in the command decides
//! (so `(mailboxes Spam NONE) (personal (MessageNew))` leaves Spam out).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use imap_codec::imap_types::core::QuotedChar;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::StatusDataItem;

use crate::imap::extended::notify::EventGroup;
use crate::imap::extended::notify::Events;
use crate::imap::extended::notify::Filter;
use crate::imap::extended::notify::NotifySet;
use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Fault;
use crate::imap::session::listing::attribute;
use crate::imap::session::names::DELIMITER;
use crate::imap::session::names::mailbox_of;
use crate::store::Store;
use crate::store::mailbox::Folder;
use crate::store::mailbox::INBOX;

/// What a folder looked like when the session last told its client.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
struct Mark {
    uidvalidity: u32,
    uidnext: u32,
    modseq: u64,
    /// Its message count, when message events are watched for it.
    messages: Option<u32>,
}

impl Mark {
    fn of(folder: &Folder) -> Mark {
        Mark {
            uidvalidity: folder.uidvalidity,
            uidnext: folder.uidnext,
            modseq: folder.highest_modseq,
            messages: None,
        }
    }
}

/// A session's NOTIFY: the request and the folders as last reported.
#[derive(Debug)]
pub(in crate::imap::session) struct Watch {
    /// The request.
    pub(super) set: NotifySet,
    folders: BTreeMap<String, Mark>,
    subscribed: BTreeSet<String>,
}

/// The user's folders and subscriptions, read in one snapshot.
struct Snapshot {
    folders: Vec<(String, Folder)>,
    subscribed: BTreeSet<String>,
}

fn snapshot(store: &Store, user: &str) -> Result<Snapshot, Fault> {
    store.read(|tx| {
        let folders = tx.folders();
        Ok(Snapshot {
            folders: folders.list(user)?,
            subscribed: folders.subscriptions(user)?.into_iter().collect(),
        })
    })
}

impl Watch {
    /// Starts watching for `set`; with `STATUS`, the watched folders' STATUS (all but
    /// the `selected` one) as the command's first responses (RFC 5465 §3.1).
    pub(super) fn start(
        set: NotifySet,
        store: &Store,
        user: &str,
        selected: Option<&str>,
    ) -> Result<(Watch, Vec<Out>), Fault> {
        let now = snapshot(store, user)?;
        let mut watch = Watch {
            set,
            folders: BTreeMap::new(),
            subscribed: now.subscribed.clone(),
        };
        let mut out = Vec::new();
        for (name, folder) in &now.folders {
            let mut mark = Mark::of(folder);
            if let Some(events) = watch.message_events(name, &now.subscribed) {
                let status = status(store, user, name, folder, watch.with_modseq(events))?;
                mark.messages = Some(status.messages);
                if watch.set.status && selected != Some(name.as_str()) {
                    out.push(status.line);
                }
            }
            watch.folders.insert(name.clone(), mark);
        }
        Ok((watch, out))
    }

    /// What changed since the last call, as untagged responses; `selected` is the
    /// selected folder, whose message events the session reports itself.
    pub(super) fn changes(
        &mut self,
        store: &Store,
        user: &str,
        selected: Option<&str>,
        condstore: bool,
    ) -> Result<Vec<Out>, Fault> {
        let now = snapshot(store, user)?;
        let mut out = Vec::new();
        let renamed = self.names(&now, &mut out);
        self.subscriptions(&now.subscribed, &renamed, &mut out);
        let mut marks = BTreeMap::new();
        for (name, folder) in &now.folders {
            let old = self.folders.get(name).copied();
            let mut mark = Mark::of(folder);
            let changed = old.is_none_or(|o| mark_key(&o) != mark_key(&mark));
            if !changed {
                mark.messages = old.and_then(|o| o.messages);
            }
            let wanted = self.message_events(name, &now.subscribed);
            if let Some(events) = wanted
                && changed
                && selected != Some(name.as_str())
            {
                let events = self.with_modseq(events) | condstore_events(condstore);
                let status = status(store, user, name, folder, events)?;
                mark.messages = Some(status.messages);
                if happened(old, &mark).any(events) {
                    out.push(status.line);
                }
            }
            marks.insert(name.clone(), mark);
        }
        self.folders = marks;
        self.subscribed = now.subscribed;
        Ok(out)
    }

    /// The message events the first group matching `name` asks for, if any.
    fn message_events(&self, name: &str, subscribed: &BTreeSet<String>) -> Option<Events> {
        let group = self.group_for(name, subscribed)?;
        group.events.any(Events::MESSAGES).then_some(group.events)
    }

    /// The first group whose filter takes `name`.
    fn group_for(&self, name: &str, subscribed: &BTreeSet<String>) -> Option<&EventGroup> {
        self.set
            .groups
            .iter()
            .find(|group| filter_takes(&group.filter, name, subscribed))
    }

    /// Whether the first group taking `name` (or `also`) wants `event`.
    fn wants(&self, event: Events, names: &[&str], subscribed: &BTreeSet<String>) -> bool {
        names.iter().any(|name| {
            self.group_for(name, subscribed)
                .is_some_and(|group| group.events.any(event))
        })
    }

    /// HIGHESTMODSEQ goes into STATUS when any group watches flag changes (RFC 5465
    /// §5.4), as Dovecot sends it.
    fn with_modseq(&self, events: Events) -> Events {
        let flags = self
            .set
            .groups
            .iter()
            .any(|group| group.events.any(Events::FLAG_CHANGE));
        if flags {
            events | Events::FLAG_CHANGE
        } else {
            events
        }
    }

    /// LIST responses for folders deleted, renamed and created, in that order so that
    /// a client applying them one by one ends with the folders as they are (a name
    /// deleted or renamed away may have been created again); the renames as (old,
    /// new) pairs.
    fn names(&self, now: &Snapshot, out: &mut Vec<Out>) -> Vec<(String, String)> {
        let current: BTreeMap<&str, u32> = now
            .folders
            .iter()
            .map(|(name, folder)| (name.as_str(), folder.uidvalidity))
            .collect();
        let mut gone: Vec<(&str, u32)> = self
            .folders
            .iter()
            .filter(|(name, mark)| current.get(name.as_str()) != Some(&mark.uidvalidity))
            .map(|(name, mark)| (name.as_str(), mark.uidvalidity))
            .collect();
        let (mut renames, mut created) = (Vec::new(), Vec::new());
        for (name, uidvalidity) in &current {
            if self.folders.get(*name).map(|m| m.uidvalidity) == Some(*uidvalidity) {
                continue;
            }
            // UIDVALIDITY is never reused within a mailbox: the same one under a new
            // name is the folder renamed.
            match gone.iter().position(|(_, v)| v == uidvalidity) {
                Some(at) => renames.push((gone.remove(at).0, *name)),
                None => created.push(*name),
            }
        }
        let subscribed = &now.subscribed;
        for (name, _) in &gone {
            if self.wants(Events::MAILBOX_NAME, &[name], &self.subscribed) {
                out.push(list_line(name, &["NonExistent"], None));
            }
        }
        let renames = in_applicable_order(renames);
        for &(old, new) in &renames {
            if self.wants(Events::MAILBOX_NAME, &[new, old], subscribed) {
                out.push(list_line(new, &[], Some(old)));
            }
        }
        for name in created {
            if self.wants(Events::MAILBOX_NAME, &[name], subscribed) {
                out.push(list_line(name, &[], None));
            }
        }
        renames
            .into_iter()
            .map(|(old, new)| (old.to_string(), new.to_string()))
            .collect()
    }

    /// LIST responses for names subscribed or unsubscribed, but not for a rename's
    /// subscription moving with its folder.
    fn subscriptions(
        &self,
        now: &BTreeSet<String>,
        renamed: &[(String, String)],
        out: &mut Vec<Out>,
    ) {
        let moved = |name: &String| renamed.iter().any(|(old, new)| old == name || new == name);
        for name in now.difference(&self.subscribed).filter(|n| !moved(n)) {
            if self.wants(Events::SUBSCRIPTION_CHANGE, &[name.as_str()], now) {
                out.push(list_line(name, &["Subscribed"], None));
            }
        }
        for name in self.subscribed.difference(now).filter(|n| !moved(n)) {
            if self.wants(
                Events::SUBSCRIPTION_CHANGE,
                &[name.as_str()],
                &self.subscribed,
            ) {
                out.push(list_line(name, &[], None));
            }
        }
    }
}

fn mark_key(mark: &Mark) -> (u32, u32, u64) {
    (mark.uidvalidity, mark.uidnext, mark.modseq)
}

fn condstore_events(condstore: bool) -> Events {
    if condstore {
        Events::FLAG_CHANGE
    } else {
        Events::default()
    }
}

/// Which message events explain the change from `old` to `now`. Every append and
/// every expunge moves HIGHESTMODSEQ by one, so what moved it further was flags.
fn happened(old: Option<Mark>, now: &Mark) -> Events {
    let Some(old) = old.filter(|o| o.uidvalidity == now.uidvalidity) else {
        // A folder new to the watch, or recreated: news only if it holds mail.
        return if now.uidnext > 1 {
            Events::MESSAGES
        } else {
            Events::default()
        };
    };
    let arrived = now.uidnext.saturating_sub(old.uidnext);
    let mut events = Events::default();
    if arrived > 0 {
        events = events | Events::MESSAGE_NEW;
    }
    let expunged = match (old.messages, now.messages) {
        (Some(before), Some(after)) => before.saturating_add(arrived) > after,
        _ => true,
    };
    if expunged {
        events = events | Events::MESSAGE_EXPUNGE;
    }
    let explained = u64::from(arrived) + u64::from(expunged);
    if now.modseq.saturating_sub(old.modseq) > explained {
        events = events | Events::FLAG_CHANGE;
    }
    events
}

/// Whether `filter` takes the folder `name`.
fn filter_takes(filter: &Filter, name: &str, subscribed: &BTreeSet<String>) -> bool {
    match filter {
        Filter::Inboxes => name == INBOX,
        Filter::Personal => true,
        Filter::Subscribed => subscribed.contains(name),
        Filter::Mailboxes(names) => names.iter().any(|n| n == name),
        Filter::Subtree(roots) => roots.iter().any(|root| {
            name == root
                || name
                    .strip_prefix(root.as_str())
                    .is_some_and(|rest| rest.starts_with(DELIMITER))
        }),
    }
}

/// A STATUS response and the message count in it.
struct Status {
    line: Out,
    messages: u32,
}

/// `* STATUS name (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])`: what a
/// client needs to bring its view of a folder up to date, as Dovecot sends it.
fn status(
    store: &Store,
    user: &str,
    name: &str,
    folder: &Folder,
    events: Events,
) -> Result<Status, Fault> {
    let metas = store.read(|tx| tx.mailboxes().messages(user, name))?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let messages = count(metas.len());
    let unseen = count(
        metas
            .iter()
            .filter(|m| !Flags::of(&m.flags).has(Flag::Seen))
            .count(),
    );
    let mut items = vec![
        StatusDataItem::Messages(messages),
        StatusDataItem::UidNext(reply::nz(folder.uidnext)),
        StatusDataItem::UidValidity(reply::nz(folder.uidvalidity)),
        StatusDataItem::Unseen(unseen),
    ];
    if events.any(Events::FLAG_CHANGE) {
        items.push(StatusDataItem::HighestModSeq(folder.highest_modseq));
    }
    let line = reply::data(Data::Status {
        mailbox: mailbox_of(name),
        items: items.into(),
    });
    Ok(Status { line, messages })
}

/// `* LIST (attributes) "/" name`, with `("OLDNAME" (old))` after a rename.
fn list_line(name: &str, attributes: &[&'static str], old: Option<&str>) -> Out {
    let line = reply::data(Data::List {
        items: attributes.iter().map(|a| attribute(a)).collect(),
        delimiter: QuotedChar::try_from(DELIMITER).ok(),
        mailbox: mailbox_of(name),
    });
    let Some(old) = old else {
        return line;
    };
    let mut bytes = line.encode();
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    }
    bytes.extend_from_slice(b" (\"OLDNAME\" (");
    bytes.extend_from_slice(&astring(old));
    bytes.extend_from_slice(b"))\r\n");
    Out::Raw(bytes)
}

/// A folder name as an IMAP string: quoted, or a literal when it holds bytes a quoted
/// string may not.
fn astring(name: &str) -> Vec<u8> {
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"").into_bytes()
    } else {
        let mut out = format!("{{{}}}\r\n", name.len()).into_bytes();
        out.extend_from_slice(name.as_bytes());
        out
    }
}

/// Renames `(old, new)` ordered so that each comes after the one that frees its new
/// name (`A → B` before `C → A`); a cycle, which no order can apply, keeps its order.
fn in_applicable_order<'a>(mut pending: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let free = pending
            .iter()
            .position(|&(_, new)| pending.iter().all(|&(old, _)| old != new))
            .unwrap_or(0);
        ordered.push(pending.remove(free));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(uidnext: u32, modseq: u64, messages: u32) -> Mark {
        Mark {
            uidvalidity: 7,
            uidnext,
            modseq,
            messages: Some(messages),
        }
    }

    #[test]
    fn events_are_told_apart_by_the_marks() {
        let old = Some(mark(5, 10, 4));
        assert_eq!(happened(old, &mark(6, 11, 5)), Events::MESSAGE_NEW);
        assert_eq!(happened(old, &mark(5, 11, 3)), Events::MESSAGE_EXPUNGE);
        assert_eq!(happened(old, &mark(5, 12, 4)), Events::FLAG_CHANGE);
        assert_eq!(
            happened(old, &mark(6, 13, 5)),
            Events::MESSAGE_NEW | Events::FLAG_CHANGE
        );
        assert_eq!(happened(None, &mark(1, 0, 0)), Events::default());
        assert_eq!(happened(None, &mark(3, 2, 2)), Events::MESSAGES);
    }

    #[test]
    fn filters_take_only_their_names() {
        let subscribed: BTreeSet<String> = ["Lists/a".to_string()].into();
        let subtree = Filter::Subtree(vec!["Lists".into()]);
        assert!(filter_takes(&subtree, "Lists", &subscribed));
        assert!(filter_takes(&subtree, "Lists/a/b", &subscribed));
        assert!(!filter_takes(&subtree, "Listsx", &subscribed));
        assert!(filter_takes(&Filter::Subscribed, "Lists/a", &subscribed));
        assert!(!filter_takes(&Filter::Subscribed, "Lists", &subscribed));
        assert!(filter_takes(&Filter::Inboxes, "INBOX", &subscribed));
        assert!(!filter_takes(&Filter::Inboxes, "Sent", &subscribed));
    }

    #[test]
    fn a_rename_comes_after_the_one_freeing_its_name() {
        // A → B and C → A: A must be free before C takes its name.
        let ordered = in_applicable_order(vec![("C", "A"), ("A", "B")]);
        assert_eq!(ordered, [("A", "B"), ("C", "A")]);
        // A swap is a cycle: both still reported.
        assert_eq!(in_applicable_order(vec![("A", "B"), ("B", "A")]).len(), 2);
    }

    #[test]
    fn renames_carry_the_old_name() {
        let line = list_line("b \"x\"", &[], Some("a\\b"));
        assert_eq!(
            line.encode(),
            b"* LIST () \"/\" \"b \\\"x\\\"\" (\"OLDNAME\" (\"a\\\\b\"))\r\n"
        );
        assert_eq!(astring("è"), b"{2}\r\n\xc3\xa8");
    }
}
