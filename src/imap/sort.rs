//! SORT (RFC 5256 §3) with the DISPLAYFROM and DISPLAYTO keys (RFC 5957): the sort
//! key of each message, the base subject (RFC 5256 §2.1) and the `i;unicode-casemap`
//! comparator (RFC 5051) every string key is compared with.
//!
//! Pure: the session gives each message's [`HeaderIndex`], arrival and size, and gets
//! the order back. Ties on every key fall back to the sequence number (RFC 5256 §3,
//! "ties are broken by sequence number"), whatever the REVERSE of the other keys.

use std::cmp::Ordering;

use icu_casemap::CaseMapper;
use icu_normalizer::DecomposingNormalizerBorrowed;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::sort::SortKey;
use imap_codec::imap_types::response::Capability;

use crate::mail::header_index::AddressField;
use crate::mail::header_index::HeaderIndex;

/// The capabilities SORT, THREAD, ESORT and CONTEXT add (kept apart from the others so
/// the capability list of the session merges without conflicts).
pub const CAPABILITIES: &[&str] = &[
    "SORT",
    "SORT=DISPLAY",
    "THREAD=REFERENCES",
    "THREAD=ORDEREDSUBJECT",
    "ESORT",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
];

/// [`CAPABILITIES`] as the codec's values.
pub fn capabilities() -> impl Iterator<Item = Capability<'static>> {
    CAPABILITIES
        .iter()
        .filter_map(|name| Capability::try_from(*name).ok())
}

/// One message as SORT sees it.
#[derive(Clone, Debug)]
pub struct Sortable {
    /// Message sequence number.
    pub seq: u32,
    /// INTERNALDATE, seconds since the epoch (ARRIVAL).
    pub arrival: i64,
    /// RFC822.SIZE (SIZE).
    pub size: u64,
    /// The values of the keys asked for, in the order of the criteria.
    pub keys: Vec<Key>,
}

/// The value of one sort key for one message.
#[derive(Clone, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum Key {
    /// A number (ARRIVAL, DATE, SIZE).
    Number(i64),
    /// A string, already through the comparator ([`casemap`]).
    Text(String),
}

/// The key values of one message for `criteria`.
pub fn keys(
    criteria: &[SortCriterion],
    header: &HeaderIndex<&str>,
    arrival: i64,
    size: u64,
) -> Vec<Key> {
    criteria
        .iter()
        .map(|criterion| key(&criterion.key, header, arrival, size))
        .collect()
}

fn key(key: &SortKey, header: &HeaderIndex<&str>, arrival: i64, size: u64) -> Key {
    let mailbox = |field| {
        let mailbox = header
            .first_address(field)
            .map(|first| first.mailbox)
            .unwrap_or_default();
        Key::Text(casemap(mailbox))
    };
    let display = |field| {
        let shown = header.first_address(field).map(|first| {
            if !first.name.is_empty() {
                first.name.to_string()
            } else if first.host.is_empty() {
                first.mailbox.to_string()
            } else {
                format!("{}@{}", first.mailbox, first.host)
            }
        });
        Key::Text(casemap(&shown.unwrap_or_default()))
    };
    match key {
        SortKey::Arrival => Key::Number(arrival),
        // The sent date, or the arrival when there is no readable `Date:` (§3).
        SortKey::Date => Key::Number(header.sent.map_or(arrival, |sent| sent.seconds)),
        SortKey::Size => Key::Number(i64::try_from(size).unwrap_or(i64::MAX)),
        SortKey::Subject => {
            let subject = header.values("subject").next().unwrap_or_default();
            Key::Text(casemap(&base_subject(subject).text))
        }
        SortKey::From => mailbox(AddressField::From),
        SortKey::To => mailbox(AddressField::To),
        SortKey::Cc => mailbox(AddressField::Cc),
        SortKey::DisplayFrom => display(AddressField::From),
        SortKey::DisplayTo => display(AddressField::To),
    }
}

/// Sorts `messages` by `criteria` (their keys computed by [`keys`] in that order).
pub fn sort(messages: &mut [Sortable], criteria: &[SortCriterion]) {
    messages.sort_by(|a, b| compare(a, b, criteria));
}

fn compare(a: &Sortable, b: &Sortable, criteria: &[SortCriterion]) -> Ordering {
    for (index, criterion) in criteria.iter().enumerate() {
        let ordering = a.keys.get(index).cmp(&b.keys.get(index));
        let ordering = if criterion.reverse {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.seq.cmp(&b.seq)
}

/// A string as the `i;unicode-casemap` comparator (RFC 5051 §2) sees it: every
/// character through its simple titlecase mapping, then the whole through NFKD. Two
/// strings compare as these forms' octets do. The titlecase mapping is applied again
/// after the decomposition, so that a compatibility form (the ligature `ﬁ`) folds
/// like the letters it stands for.
pub fn casemap(text: &str) -> String {
    let mapper = CaseMapper::new();
    let titled: String = text.chars().map(|c| mapper.simple_titlecase(c)).collect();
    DecomposingNormalizerBorrowed::new_nfkd()
        .normalize(&titled)
        .chars()
        .map(|c| mapper.simple_titlecase(c))
        .collect()
}

/// A subject with its reply and forward markers taken off (RFC 5256 §2.1).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BaseSubject {
    /// The base subject.
    pub text: String,
    /// Whether a `Re:`/`Fwd:` leader or a `[fwd: …]` wrapper was taken off: the
    /// message is a reply or a forward (RFC 5256 §2.1, §3).
    pub reply_or_forward: bool,
}

/// The base subject of a decoded subject (RFC 5256 §2.1, steps 1–6).
pub fn base_subject(subject: &str) -> BaseSubject {
    // Step 1: whitespace runs (tabs and folds included) become one space.
    let mut text = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply_or_forward = false;
    loop {
        // Step 2: trailers.
        loop {
            let trimmed = text.trim_end();
            let cut = strip_suffix_ignore_case(trimmed, "(fwd)").unwrap_or(trimmed);
            if cut.len() == text.len() {
                break;
            }
            text.truncate(cut.len());
        }
        // Steps 3–5: leaders and blobs, until nothing changes.
        loop {
            let before = text.len();
            while let Some(rest) = strip_leader(&text) {
                reply_or_forward |= rest.1;
                text = rest.0.to_string();
            }
            if let Some(rest) = strip_blob(&text)
                && !rest.is_empty()
            {
                text = rest.to_string();
            }
            if text.len() == before {
                break;
            }
        }
        // Step 6: `[fwd: … ]`.
        match strip_prefix_ignore_case(&text, "[fwd:").and_then(|rest| rest.strip_suffix(']')) {
            Some(inner) => {
                text = inner.to_string();
                reply_or_forward = true;
            }
            None => break,
        }
    }
    BaseSubject {
        text,
        reply_or_forward,
    }
}

/// `subj-leader` (`*subj-blob subj-refwd` / WSP) at the start: what follows, and
/// whether it was a `Re:`/`Fw:`/`Fwd:`.
fn strip_leader(text: &str) -> Option<(&str, bool)> {
    if let Some(rest) = text.strip_prefix([' ', '\t']) {
        return Some((rest, false));
    }
    let mut rest = text;
    loop {
        if let Some(after) = refwd(rest) {
            return Some((after, true));
        }
        rest = strip_blob(rest)?;
    }
}

/// `subj-refwd` = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
fn refwd(text: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(text, "re")
        .or_else(|| strip_prefix_ignore_case(text, "fwd"))
        .or_else(|| strip_prefix_ignore_case(text, "fw"))?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = strip_blob(rest).unwrap_or(rest);
    rest.strip_prefix(':')
}

/// `subj-blob` = "[" *BLOBCHAR "]" *WSP at the start: what follows.
fn strip_blob(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(['[', ']'])?;
    let rest = inner.get(end..)?.strip_prefix(']')?;
    Some(rest.trim_start_matches([' ', '\t']))
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

fn strip_suffix_ignore_case<'t>(text: &'t str, suffix: &str) -> Option<&'t str> {
    let at = text.len().checked_sub(suffix.len())?;
    let tail = text.get(at..)?;
    tail.eq_ignore_ascii_case(suffix)
        .then(|| text.get(..at))
        .flatten()
}

#[cfg(test)]
mod tests;
