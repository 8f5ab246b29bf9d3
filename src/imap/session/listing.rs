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

use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::conserved;
use crate::imap::session::folder_limits::MAX_FOLDER_NAME_CHARS;
use crate::imap::session::names::DELIMITER;
use crate::imap::session::names::mailbox_of;
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

/// A folder LIST may name: a real one, or one of the conservation view's.
struct ListEntry {
    name: String,
    subscribed: bool,
    /// False for the view's levels that only hold folders (`\Noselect`).
    selectable: bool,
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
    let pattern = match pattern {
        ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
        ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
    };
    let reference = match reference {
        Mailbox::Inbox => INBOX.to_string(),
        Mailbox::Other(other) => String::from_utf8_lossy(other.inner().as_ref()).into_owned(),
    };
    if pattern.is_empty() {
        // The hierarchy delimiter query (RFC 3501 §6.3.8).
        let data = Data::List {
            items: vec![FlagNameAttribute::Noselect],
            delimiter: QuotedChar::try_from(DELIMITER).ok(),
            mailbox: mailbox_of(""),
        };
        return Ok(vec![reply::data(data)]);
    }
    let full = format!("{reference}{pattern}");
    let entries = list_entries(common, context)?;
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| wildcard_match(&full, &e.name)) {
        if let Some(data) = listed(context, entry, &names, kind) {
            out.push(reply::data(data));
            let wanted = &context.extended.list.return_status;
            if !wanted.is_empty()
                && entry.selectable
                && let Some(data) = status(common, context, &entry.name, wanted)?
            {
                out.push(reply::data(data));
            }
        }
    }
    Ok(out)
}

/// Real folders, then the conservation view's.
fn list_entries(common: &Common, context: &Context<'_>) -> Result<Vec<ListEntry>, Fault> {
    let mut entries: Vec<ListEntry> = context
        .store
        .read(|tx| tx.folders().list(context.user))?
        .into_iter()
        .map(|(name, folder)| ListEntry {
            name,
            subscribed: folder.subscribed,
            selectable: true,
        })
        .collect();
    if common.hooks.has_conservation_view() {
        let folders = common.hooks.conserved(context.store, context.user)?;
        entries.extend(
            conserved::names(&folders)
                .into_iter()
                .map(|(name, selectable)| ListEntry {
                    name,
                    subscribed: true,
                    selectable,
                }),
        );
    }
    Ok(entries)
}

/// The LIST or LSUB data of one matching folder, unless the selection options leave
/// it out.
fn listed(
    context: &Context<'_>,
    entry: &ListEntry,
    names: &[&str],
    kind: ListKind,
) -> Option<Data<'static>> {
    let options = &context.extended.list;
    let lsub = kind == ListKind::Lsub;
    if (lsub || options.select_subscribed) && !entry.subscribed {
        return None;
    }
    let special = special_use(&entry.name);
    if options.select_special_use && special.is_none() {
        return None;
    }
    let name = entry.name.as_str();
    let mut items = Vec::new();
    if !entry.selectable {
        items.push(FlagNameAttribute::Noselect);
    }
    let has_children = names.iter().any(|n| {
        n.len() > name.len() && n.starts_with(name) && n[name.len()..].starts_with(DELIMITER)
    });
    items.push(attribute(if has_children {
        "HasChildren"
    } else {
        "HasNoChildren"
    }));
    if let Some(special) = special {
        items.push(attribute(special));
    }
    if !lsub && (options.select_subscribed || options.return_subscribed) && entry.subscribed {
        items.push(attribute("Subscribed"));
    }
    let delimiter = QuotedChar::try_from(DELIMITER).ok();
    let mailbox = mailbox_of(name);
    Some(match kind {
        ListKind::Lsub => Data::Lsub {
            items,
            delimiter,
            mailbox,
        },
        ListKind::List => Data::List {
            items,
            delimiter,
            mailbox,
        },
    })
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

/// IMAP wildcards (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter; `INBOX` matches case-insensitively.
///
/// The pattern is run as a set of positions advanced one name character at a time, so
/// the work is bounded by pattern length × name length whatever the pattern: a
/// recursive matcher backtracks exponentially on patterns like `*a*a*a*a*b`, and a
/// logged-in user chooses the pattern.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    // No folder name is longer than the most a CREATE allows: a longer run of
    // literals matches nothing, and the work stays bounded by that length too.
    if pattern.chars().filter(|c| !matches!(c, '*' | '%')).count() > MAX_FOLDER_NAME_CHARS {
        return false;
    }
    if name == INBOX && Pattern::new(&pattern.to_ascii_uppercase()).matches(name).0 {
        return true;
    }
    Pattern::new(pattern).matches(name).0
}

/// A LIST pattern ready for matching.
struct Pattern {
    symbols: Vec<char>,
}

impl Pattern {
    /// A run of wildcards matches what its widest one does (`*` if it holds one, else
    /// `%`), so each run becomes one symbol.
    fn new(pattern: &str) -> Pattern {
        let mut symbols: Vec<char> = Vec::new();
        for symbol in pattern.chars() {
            match (symbols.last_mut(), symbol) {
                (Some(last @ ('*' | '%')), '*') => *last = '*',
                (Some('*' | '%'), '%') => {}
                _ => symbols.push(symbol),
            }
        }
        Pattern { symbols }
    }

    /// Whether `name` matches, and how many (position, character) steps it took.
    fn matches(&self, name: &str) -> (bool, usize) {
        let symbols = &self.symbols;
        // `live[i]`: the first `i` symbols can match the part of the name read so far.
        let mut live = vec![false; symbols.len() + 1];
        let mut next = vec![false; symbols.len() + 1];
        live[0] = true;
        self.close(&mut live);
        let mut steps = 0;
        for character in name.chars() {
            next.fill(false);
            for (i, symbol) in symbols.iter().enumerate() {
                steps += 1;
                if !live[i] {
                    continue;
                }
                match symbol {
                    '*' => next[i] = true,
                    '%' if character != DELIMITER => next[i] = true,
                    '%' => {}
                    literal if *literal == character => next[i + 1] = true,
                    _ => {}
                }
            }
            self.close(&mut next);
            std::mem::swap(&mut live, &mut next);
            if !live.contains(&true) {
                return (false, steps);
            }
        }
        (live[symbols.len()], steps)
    }

    /// Wildcards also match nothing: a live position before one makes the next live.
    fn close(&self, live: &mut [bool]) {
        for (i, symbol) in self.symbols.iter().enumerate() {
            if live[i] && matches!(symbol, '*' | '%') {
                live[i + 1] = true;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The wildcards defined recursively: the reference semantics, exponential but
    /// fine on tiny inputs.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|i| reference(rest, &name[i..])),
            Some(('%', rest)) => (0..=name.len())
                .take_while(|i| *i == 0 || name[i - 1] != DELIMITER)
                .any(|i| reference(rest, &name[i..])),
            Some((c, rest)) => name.first() == Some(c) && reference(rest, &name[1..]),
        }
    }

    /// Every string of up to `length` symbols from `alphabet`.
    fn strings(alphabet: &[char], length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..length {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_recursive_definition_on_every_small_case() {
        let names = strings(&['a', 'b', DELIMITER], 5);
        for pattern in strings(&['a', DELIMITER, '*', '%'], 5) {
            let symbols: Vec<char> = pattern.chars().collect();
            for name in &names {
                let chars: Vec<char> = name.chars().collect();
                assert_eq!(
                    Pattern::new(&pattern).matches(name).0,
                    reference(&symbols, &chars),
                    "{pattern:?} against {name:?}"
                );
            }
        }
    }

    #[test]
    fn imap_examples() {
        assert!(wildcard_match("*", "Sent/2026/May"));
        assert!(wildcard_match("%", "Sent"));
        assert!(!wildcard_match("%", "Sent/2026"));
        assert!(wildcard_match("Sent/%", "Sent/2026"));
        assert!(!wildcard_match("Sent/%", "Sent/2026/May"));
        assert!(wildcard_match("Sent/*", "Sent/2026/May"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(wildcard_match("In%", "INBOX"));
        assert!(!wildcard_match("inbox", "Inbox"));
        assert!(!wildcard_match("", "INBOX"));
    }

    #[test]
    fn adversarial_patterns_take_steps_bounded_by_pattern_times_name() {
        // Backtracking explores on the order of C(200, 40) splits of this name; the
        // position set does one step per (symbol, character) pair.
        let pattern = format!("{}b", "*a".repeat(40));
        let name = "a".repeat(200);
        let (matched, steps) = Pattern::new(&pattern).matches(&name);
        assert!(!matched);
        assert!(steps <= pattern.len() * name.len(), "{steps} steps");
        let percent = format!("{}b", "%a".repeat(40));
        let (matched, steps) = Pattern::new(&percent).matches(&name);
        assert!(!matched);
        assert!(steps <= percent.len() * name.len(), "{steps} steps");
        assert!(!wildcard_match(&pattern, &name));
        assert!(wildcard_match(&pattern, &format!("{name}b")));
    }

    #[test]
    fn wildcard_runs_become_one_symbol_and_long_literals_match_nothing() {
        assert_eq!(Pattern::new("**%*a%%b").symbols, ['*', 'a', '%', 'b']);
        assert!(wildcard_match("**%*a%%b", "Sent/xab"));
        assert!(!wildcard_match("a%%b", "a/b"));
        // A pattern of a million wildcards costs what one does.
        let stars = "*".repeat(1_000_000);
        let (matched, steps) = Pattern::new(&stars).matches("Sent/2026");
        assert!(matched && steps <= 2 * "Sent/2026".len());
        let long = "a".repeat(MAX_FOLDER_NAME_CHARS + 1);
        assert!(!wildcard_match(&long, &long));
    }
}
