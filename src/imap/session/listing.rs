//! What LIST / LSUB (RFC 3501 §6.3.8–9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
//! LIST-STATUS RFC 5819), STATUS and QUOTA (RFC 9208) answer, the conservation view's
//! folders included.

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

use crate::imap::extended::Extended;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Fault;
use crate::imap::session::conserved;
use crate::imap::session::folders::DELIMITER;
use crate::imap::session::folders::mailbox_of;
use crate::store::Store;
use crate::store::mailbox::ARCHIVE;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::SENT;

/// LIST and LSUB, with the LIST-EXTENDED selection and return options (RFC 5258) and
/// SPECIAL-USE attributes (RFC 6154).
pub(super) fn list(
    store: &Store,
    user: &str,
    reference: &Mailbox<'_>,
    pattern: &ListMailbox<'_>,
    extended: &Extended,
    lsub: bool,
    view: bool,
) -> Result<Vec<Out>, Fault> {
    let pattern = match pattern {
        ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
        ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
    };
    let reference = match reference {
        Mailbox::Inbox => INBOX.to_string(),
        Mailbox::Other(other) => String::from_utf8_lossy(other.inner().as_ref()).into_owned(),
    };
    let delimiter = QuotedChar::try_from(DELIMITER).ok();
    if pattern.is_empty() {
        // The hierarchy delimiter query (RFC 3501 §6.3.8).
        let data = Data::List {
            items: vec![FlagNameAttribute::Noselect],
            delimiter,
            mailbox: mailbox_of(""),
        };
        return Ok(vec![reply::data(data)]);
    }
    let full = format!("{reference}{pattern}");
    // Real folders (name, subscribed, selectable), then the conservation view's.
    let mut entries: Vec<(String, bool, bool)> = store
        .read(|tx| tx.folders(user))?
        .into_iter()
        .map(|(name, folder)| (name, folder.subscribed, true))
        .collect();
    if view {
        let folders = conserved::folders(store, user)?;
        entries.extend(
            conserved::names(&folders)
                .into_iter()
                .map(|(name, selectable)| (name, true, selectable)),
        );
    }
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut out = Vec::new();
    for (name, subscribed, selectable) in &entries {
        if !wildcard_match(&full, name) {
            continue;
        }
        let subscribed_only = lsub || extended.list.select_subscribed;
        if subscribed_only && !subscribed {
            continue;
        }
        let special = special_use(name);
        if extended.list.select_special_use && special.is_none() {
            continue;
        }
        let mut items = Vec::new();
        if !selectable {
            items.push(FlagNameAttribute::Noselect);
        }
        let has_children = names.iter().any(|n| {
            n.len() > name.len()
                && n.starts_with(name.as_str())
                && n[name.len()..].starts_with(DELIMITER)
        });
        items.push(attribute(if has_children {
            "HasChildren"
        } else {
            "HasNoChildren"
        }));
        if let Some(special) = special {
            items.push(attribute(special));
        }
        if !lsub
            && (extended.list.select_subscribed || extended.list.return_subscribed)
            && *subscribed
        {
            items.push(attribute("Subscribed"));
        }
        let data = if lsub {
            Data::Lsub {
                items,
                delimiter,
                mailbox: mailbox_of(name),
            }
        } else {
            Data::List {
                items,
                delimiter,
                mailbox: mailbox_of(name),
            }
        };
        out.push(reply::data(data));
        if !extended.list.return_status.is_empty()
            && *selectable
            && let Some(data) = status(store, user, name, &extended.list.return_status, view)?
        {
            out.push(reply::data(data));
        }
    }
    Ok(out)
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

/// IMAP wildcards: `*` matches anything, `%` anything but the delimiter.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|i| *i == 0 || n[i - 1] != DELIMITER)
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if name == INBOX {
        // INBOX matches case-insensitively.
        let upper: Vec<char> = pattern.to_ascii_uppercase().chars().collect();
        return go(&upper, &n) || go(&p, &n);
    }
    go(&p, &n)
}

/// STATUS data of a folder, or `None` when it does not exist.
pub fn status(
    store: &Store,
    user: &str,
    name: &str,
    items: &[StatusDataItemName],
    view: bool,
) -> Result<Option<Data<'static>>, Fault> {
    let (folder, metas) = if view && conserved::is_view(name) {
        let Some(entries) = conserved::folders(store, user)?.remove(name) else {
            return Ok(None);
        };
        let metas = conserved::metas(&entries);
        let mut folder = crate::store::mailbox::Folder::new(conserved::UIDVALIDITY);
        folder.uidnext = u32::try_from(metas.len() + 1).unwrap_or(u32::MAX);
        folder.first_recent_uid = folder.uidnext;
        folder.highest_modseq = 1;
        (folder, metas)
    } else {
        let Some(folder) = store.read(|tx| tx.folder(user, name))? else {
            return Ok(None);
        };
        (folder, store.read(|tx| tx.messages(user, name))?)
    };
    let count = |f: &dyn Fn(&crate::store::mailbox::MessageMeta) -> bool| {
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
                StatusDataItemName::Unseen => StatusDataItem::Unseen(count(&|m| {
                    !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen"))
                })),
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

pub(super) fn quota_root() -> AString<'static> {
    AString::try_from("").unwrap_or_else(|_| {
        AString::String(IString::Quoted(
            imap_codec::imap_types::core::Quoted::unvalidated(""),
        ))
    })
}

/// `* QUOTA "" (STORAGE used limit)`, in KiB (RFC 9208 §5.1).
pub(super) fn quota(store: &Store, user: &str) -> Result<Out, Fault> {
    let mailbox = store.read(|tx| tx.get_mailbox(user))?;
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
