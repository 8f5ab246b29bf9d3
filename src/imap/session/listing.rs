//! What LIST / LSUB (RFC 3501 §6.3.8–9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
//! LIST-STATUS RFC 5819), STATUS and QUOTA (RFC 9208) answer, the conservation view's
//! folders included.

use std::collections::BTreeMap;
use std::collections::HashSet;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::QuotedChar;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::quota::QuotaGet;
use imap_codec::imap_types::extensions::quota::Resource;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::ListMailbox;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::StatusDataItem;
use imap_codec::imap_types::status::StatusDataItemName;

use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::conserved;
use crate::imap::session::names::DELIMITER;
use crate::imap::session::names::mailbox_of;
use crate::imap::session::wildcard::wildcard_match;
use crate::store::Store;
use crate::store::mailbox::ARCHIVE;
use crate::store::mailbox::Folder;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::MessageMeta;
use crate::store::mailbox::SENT;

/// LIST or LSUB (RFC 3501 §6.3.8–9).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum ListKind {
    List,
    Lsub,
}

/// A name LIST may report: a folder (real, or one of the conservation view's), a
/// subscribed name whose folder is gone, or a level above subscribed names.
struct ListEntry {
    name: String,
    exists: bool,
    subscribed: bool,
    /// False for the view's levels that only hold folders (`\Noselect`).
    selectable: bool,
}

/// Why a matching entry is listed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Shown {
    /// It meets the selection.
    Itself,
    /// Only through a subscribed name below it that no pattern matches (RECURSIVEMATCH,
    /// RFC 5258 §3.5; LSUB's `%` rule, RFC 3501 §6.3.9).
    ChildSubscribed,
}

/// LIST and LSUB, with the LIST-EXTENDED selection and return options (RFC 5258) and
/// SPECIAL-USE attributes (RFC 6154).
pub(super) fn list(
    common: &Common,
    context: &Context<'_>,
    reference: &Mailbox<'_>,
    pattern: &ListMailbox<'_>,
    kind: ListKind,
) -> Result<Vec<Out>, Fault> {
    let options = &context.extended.list;
    let pattern = match pattern {
        ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
        ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
    };
    let reference = match reference {
        Mailbox::Inbox => INBOX.to_string(),
        Mailbox::Other(other) => String::from_utf8_lossy(other.inner().as_ref()).into_owned(),
    };
    if pattern.is_empty() && options.patterns.is_empty() {
        // The hierarchy delimiter query (RFC 3501 §6.3.8).
        let data = Data::List {
            items: vec![FlagNameAttribute::Noselect],
            delimiter: QuotedChar::try_from(DELIMITER).ok(),
            mailbox: mailbox_of(""),
        };
        return Ok(vec![reply::data(data)]);
    }
    let patterns: Vec<String> = if options.patterns.is_empty() {
        vec![format!("{reference}{pattern}")]
    } else {
        options
            .patterns
            .iter()
            .map(|p| format!("{reference}{p}"))
            .collect()
    };
    let matches = |name: &str| patterns.iter().any(|p| wildcard_match(p, name));
    let entries = list_entries(common, context)?;
    let parents = parents_of(entries.iter().filter(|e| e.exists).map(|e| e.name.as_str()));
    let recursive = kind == ListKind::Lsub || options.recursive_match;
    let unmatched = entries
        .iter()
        .filter(|e| e.subscribed && recursive && !matches(&e.name))
        .map(|e| e.name.as_str());
    let child_subscribed = parents_of(unmatched);
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| matches(&e.name)) {
        let subscribed_view = kind == ListKind::Lsub || options.select_subscribed;
        let shown = if !subscribed_view {
            entry.exists.then_some(Shown::Itself)
        } else if entry.subscribed {
            Some(Shown::Itself)
        } else if child_subscribed.contains(entry.name.as_str()) {
            Some(Shown::ChildSubscribed)
        } else {
            None
        };
        let Some(shown) = shown else {
            continue;
        };
        let has_children = parents.contains(entry.name.as_str());
        if let Some(line) = listed(context, entry, shown, has_children, kind) {
            out.push(line);
            let wanted = &options.return_status;
            if !wanted.is_empty()
                && entry.exists
                && entry.selectable
                && let Some(data) = status(common, context, &entry.name, wanted)?
            {
                out.push(reply::data(data));
            }
        }
    }
    Ok(out)
}

/// Every name above one of `names` (`a` and `a/b` for `a/b/c`).
fn parents_of<'n>(names: impl Iterator<Item = &'n str>) -> HashSet<&'n str> {
    let mut parents = HashSet::new();
    for name in names {
        for (at, _) in name.match_indices(DELIMITER) {
            parents.insert(&name[..at]);
        }
    }
    parents
}

/// Real folders, the conservation view's, subscribed names without a folder, and the
/// levels above subscribed names, in name order.
fn list_entries(common: &Common, context: &Context<'_>) -> Result<Vec<ListEntry>, Fault> {
    let (folders, subscribed) = context.store.read(|tx| {
        let folders = tx.folders();
        Ok((
            folders.list(context.user)?,
            folders.subscriptions(context.user)?,
        ))
    })?;
    let mut entries: BTreeMap<String, ListEntry> = BTreeMap::new();
    let mut add = |name: &str, exists: bool, selectable: bool| {
        let entry = entries.entry(name.to_string()).or_insert(ListEntry {
            name: name.to_string(),
            exists,
            subscribed: false,
            selectable,
        });
        entry.exists |= exists;
        entry.selectable |= selectable;
    };
    for (name, _) in &folders {
        add(name, true, true);
    }
    let conserved = if common.hooks.has_conservation_view() {
        conserved::names(&common.hooks.conserved(context.store, context.user)?)
    } else {
        Vec::new()
    };
    for (name, selectable) in &conserved {
        add(name, true, *selectable);
    }
    for name in &subscribed {
        for (at, _) in name.match_indices(DELIMITER) {
            add(&name[..at], false, false);
        }
        add(name, false, false);
    }
    for name in subscribed
        .iter()
        .chain(conserved.iter().map(|(name, _)| name))
    {
        if let Some(entry) = entries.get_mut(name) {
            entry.subscribed = true;
        }
    }
    Ok(entries.into_values().collect())
}

/// The LIST or LSUB response for one entry, unless the selection options leave it out.
fn listed(
    context: &Context<'_>,
    entry: &ListEntry,
    shown: Shown,
    has_children: bool,
    kind: ListKind,
) -> Option<Out> {
    let options = &context.extended.list;
    let lsub = kind == ListKind::Lsub;
    let special = special_use(&entry.name);
    if options.select_special_use && special.is_none() {
        return None;
    }
    let mut items = Vec::new();
    if lsub && (!entry.exists || shown == Shown::ChildSubscribed)
        || !entry.selectable && entry.exists
    {
        items.push(FlagNameAttribute::Noselect);
    }
    if !lsub && !entry.exists {
        items.push(attribute("NonExistent"));
    }
    if entry.exists {
        items.push(attribute(if has_children {
            "HasChildren"
        } else {
            "HasNoChildren"
        }));
    }
    if let Some(special) = special {
        items.push(attribute(special));
    }
    let tell_subscribed = options.select_subscribed || options.return_subscribed;
    if !lsub && tell_subscribed && entry.subscribed {
        items.push(attribute("Subscribed"));
    }
    let delimiter = QuotedChar::try_from(DELIMITER).ok();
    let mailbox = mailbox_of(&entry.name);
    if lsub {
        return Some(reply::data(Data::Lsub {
            items,
            delimiter,
            mailbox,
        }));
    }
    let line = reply::data(Data::List {
        items,
        delimiter,
        mailbox,
    });
    if shown == Shown::ChildSubscribed && options.recursive_match {
        return Some(with_child_info(line));
    }
    Some(line)
}

/// A LIST response with the CHILDINFO extended data item (RFC 5258 §3.5), which the
/// codec does not write: it goes after the name, before the line end.
fn with_child_info(line: Out) -> Out {
    let mut bytes = line.encode();
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    }
    bytes.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
    Out::Raw(bytes)
}

/// SPECIAL-USE attributes (RFC 6154): `Sent` is `\Sent`, the manual conservation
/// folder is `\Archive`.
pub(super) fn special_use(name: &str) -> Option<&'static str> {
    match name {
        SENT => Some("Sent"),
        ARCHIVE => Some("Archive"),
        _ => None,
    }
}

pub(super) fn attribute(name: &'static str) -> FlagNameAttribute<'static> {
    match imap_codec::imap_types::core::Atom::try_from(name) {
        Ok(atom) => FlagNameAttribute::from(atom),
        Err(_) => FlagNameAttribute::Noinferiors,
    }
}

/// STATUS data of a folder, or `None` when it does not exist.
pub(super) fn status(
    common: &Common,
    context: &Context<'_>,
    name: &str,
    items: &[StatusDataItemName],
) -> Result<Option<Data<'static>>, Fault> {
    let Some((folder, metas)) = status_source(common, context, name)? else {
        return Ok(None);
    };
    let count = |f: &dyn Fn(&MessageMeta) -> bool| {
        u32::try_from(metas.iter().filter(|m| f(m)).count()).unwrap_or(u32::MAX)
    };
    let recent_from = folder.first_recent_uid.max(1);
    let values = items
        .iter()
        .filter_map(|item| {
            Some(match item {
                StatusDataItemName::Messages => StatusDataItem::Messages(count(&|_| true)),
                StatusDataItemName::Recent => {
                    StatusDataItem::Recent(count(&|m| m.uid >= recent_from))
                }
                StatusDataItemName::UidNext => StatusDataItem::UidNext(reply::nz(folder.uidnext)),
                StatusDataItemName::UidValidity => {
                    StatusDataItem::UidValidity(reply::nz(folder.uidvalidity))
                }
                StatusDataItemName::Unseen => {
                    StatusDataItem::Unseen(count(&|m| !Flags::of(&m.flags).has(Flag::Seen)))
                }
                StatusDataItemName::HighestModSeq => {
                    StatusDataItem::HighestModSeq(folder.highest_modseq)
                }
                _ => return None,
            })
        })
        .collect::<Vec<_>>();
    Ok(Some(Data::Status {
        mailbox: mailbox_of(name),
        items: values.into(),
    }))
}

/// A folder's record and messages for STATUS: from the store, or made up for a
/// folder of the conservation view.
fn status_source(
    common: &Common,
    context: &Context<'_>,
    name: &str,
) -> Result<Option<(Folder, Vec<MessageMeta>)>, Fault> {
    let (store, user) = (context.store, context.user);
    if common.hooks.has_conservation_view() && conserved::is_view(name) {
        let Some(entries) = common.hooks.conserved(store, user)?.remove(name) else {
            return Ok(None);
        };
        let metas = conserved::metas(&entries);
        let mut folder = Folder::new(conserved::UIDVALIDITY);
        folder.uidnext = u32::try_from(metas.len() + 1).unwrap_or(u32::MAX);
        folder.first_recent_uid = folder.uidnext;
        folder.highest_modseq = 1;
        return Ok(Some((folder, metas)));
    }
    let Some(folder) = store.read(|tx| tx.folders().get(user, name))? else {
        return Ok(None);
    };
    Ok(Some((
        folder,
        store.read(|tx| tx.mailboxes().messages(user, name))?,
    )))
}

pub(super) fn quota_root() -> AString<'static> {
    AString::try_from("").unwrap_or_else(|_| {
        AString::String(IString::Quoted(
            imap_codec::imap_types::core::Quoted::unvalidated(""),
        ))
    })
}

/// `* QUOTA "" (STORAGE used limit)`, in KiB (RFC 9208 §5.1).
pub(super) fn quota(store: &Store, user: &str) -> Result<Out, Fault> {
    let mailbox = store.read(|tx| tx.mailboxes().get(user))?;
    let (used, limit) = mailbox.map_or((0, 0), |m| (m.used_bytes, m.quota_bytes));
    let quotas = Vec1::from(QuotaGet {
        resource: Resource::Storage,
        usage: used.div_ceil(1024),
        limit: limit / 1024,
    });
    Ok(reply::data(Data::Quota {
        root: quota_root(),
        quotas,
    }))
}
