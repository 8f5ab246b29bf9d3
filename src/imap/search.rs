//! SEARCH evaluation (RFC 3501 §6.4.4, MODSEQ from RFC 7162 §3.1.5): whether one
//! message matches a key tree.
//!
//! The session calls [`matches()`] once per message of the mailbox; [`reads`] tells it
//! what to load first: nothing, the message's [`HeaderIndex`] (header keys are
//! answered from it, without the body), or the raw message (TEXT, BODY). String keys
//! match
//! case-insensitively as substrings of decoded header values and decoded text (see
//! [`SearchText`]). Dates compare as calendar days, disregarding time and time zone:
//! INTERNALDATE as a UTC day for BEFORE, ON and SINCE; the `Date:` field as written for
//! SENTBEFORE, SENTON and SENTSINCE (a message without a readable `Date:` matches
//! none of those).

use std::cell::OnceCell;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SeqOrUid;
use imap_codec::imap_types::sequence::Sequence;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::message::CivilDay;
use crate::imap::message::SearchText;
use crate::mail::header_index::HeaderIndex;

/// One message as SEARCH sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Message sequence number.
    pub seq: u32,
    /// Unique identifier.
    pub uid: u32,
    /// Stored flags and keywords, e.g. `\Seen`, `$PecRicevuta`.
    pub flags: &'a [String],
    /// Whether the message has the `\Recent` flag in this session.
    pub recent: bool,
    /// INTERNALDATE.
    pub internal_date: jiff::Timestamp,
    /// RFC822.SIZE.
    pub size: u64,
    /// MODSEQ (RFC 7162).
    pub modseq: u64,
    /// The header index, when the session loaded it ([`Reads::Header`]); header keys
    /// read it rather than `raw`.
    pub header: Option<&'a HeaderIndex<&'a str>>,
    /// The full message; read only when a key needs it ([`Reads::Message`]).
    pub raw: &'a [u8],
}

/// What evaluating a key reads of each message.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum Reads {
    /// Flags, sizes, dates and numbers the session already has.
    Nothing,
    /// Header fields and the `Date:` field: the header index.
    Header,
    /// The text of the message (TEXT, BODY).
    Message,
}

/// What `*` means in sequence sets: the highest sequence number and UID in the mailbox
/// (RFC 3501 §9, `seq-number`).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// The number of messages in the mailbox.
    pub max_seq: u32,
    /// The highest UID in the mailbox.
    pub max_uid: u32,
}

/// Whether `candidate` satisfies `key`. The raw message is parsed at most once, and only
/// if a key reached needs it.
pub fn matches(key: &SearchKey<'_>, candidate: &Candidate<'_>, bounds: Bounds) -> bool {
    let evaluation = Evaluation {
        candidate,
        bounds,
        text: OnceCell::new(),
    };
    evaluation.matches(key)
}

/// Whether evaluating `key` may read the message's header or body, so the server can
/// skip loading messages for flag, size, date, sequence and UID searches.
pub fn needs_body(key: &SearchKey<'_>) -> bool {
    reads(key) != Reads::Nothing
}

/// The most evaluating `key` reads of a message.
pub fn reads(key: &SearchKey<'_>) -> Reads {
    match key {
        SearchKey::And(keys) => keys
            .as_ref()
            .iter()
            .map(reads)
            .max()
            .unwrap_or(Reads::Nothing),
        SearchKey::Not(key) => reads(key),
        SearchKey::Or(left, right) => reads(left).max(reads(right)),
        SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::To(_) => Reads::Header,
        SearchKey::Body(_) | SearchKey::Text(_) => Reads::Message,
        _ => Reads::Nothing,
    }
}

/// One message under evaluation, with its text parsed on first need.
struct Evaluation<'c, 'a> {
    candidate: &'c Candidate<'a>,
    bounds: Bounds,
    text: OnceCell<SearchText>,
}

impl Evaluation<'_, '_> {
    fn matches(&self, key: &SearchKey<'_>) -> bool {
        let candidate = self.candidate;
        match key {
            SearchKey::And(keys) => keys.as_ref().iter().all(|key| self.matches(key)),
            SearchKey::Not(key) => !self.matches(key),
            SearchKey::Or(left, right) => self.matches(left) || self.matches(right),
            SearchKey::SequenceSet(set) => contains(set, candidate.seq, self.bounds.max_seq),
            SearchKey::Uid(set) => contains(set, candidate.uid, self.bounds.max_uid),
            SearchKey::All => true,
            SearchKey::Answered => self.has(Flag::Answered),
            SearchKey::Deleted => self.has(Flag::Deleted),
            SearchKey::Draft => self.has(Flag::Draft),
            SearchKey::Flagged => self.has(Flag::Flagged),
            SearchKey::Seen => self.has(Flag::Seen),
            SearchKey::Unanswered => !self.has(Flag::Answered),
            SearchKey::Undeleted => !self.has(Flag::Deleted),
            SearchKey::Undraft => !self.has(Flag::Draft),
            SearchKey::Unflagged => !self.has(Flag::Flagged),
            SearchKey::Unseen => !self.has(Flag::Seen),
            SearchKey::Keyword(keyword) => self.flags().has_named(keyword.inner()),
            SearchKey::Unkeyword(keyword) => !self.flags().has_named(keyword.inner()),
            SearchKey::Recent => candidate.recent,
            SearchKey::Old => !candidate.recent,
            SearchKey::New => candidate.recent && !self.has(Flag::Seen),
            SearchKey::Larger(size) => candidate.size > u64::from(*size),
            SearchKey::Smaller(size) => candidate.size < u64::from(*size),
            SearchKey::Before(date) => self.internal_day() < day(date),
            SearchKey::On(date) => self.internal_day() == day(date),
            SearchKey::Since(date) => self.internal_day() >= day(date),
            SearchKey::SentBefore(date) => self.sent_day().is_some_and(|sent| sent < day(date)),
            SearchKey::SentOn(date) => self.sent_day().is_some_and(|sent| sent == day(date)),
            SearchKey::SentSince(date) => self.sent_day().is_some_and(|sent| sent >= day(date)),
            SearchKey::Bcc(needle) => self.address_contains("bcc", needle),
            SearchKey::Cc(needle) => self.address_contains("cc", needle),
            SearchKey::From(needle) => self.address_contains("from", needle),
            SearchKey::Subject(needle) => self.header_contains("subject", needle),
            SearchKey::To(needle) => self.address_contains("to", needle),
            SearchKey::Header(name, needle) => {
                self.header_contains(&String::from_utf8_lossy(name.as_ref()), needle)
            }
            SearchKey::Body(needle) => self.text().body().contains(&folded(needle)),
            SearchKey::Text(needle) => {
                let needle = folded(needle);
                let text = self.text();
                text.headers()
                    .any(|(name, value)| name.contains(&needle) || value.contains(&needle))
                    || text.body().contains(&needle)
            }
            // Per-flag modification sequences are not kept, so the entry is ignored, as
            // RFC 7162 §3.1.5 allows.
            SearchKey::ModSequence { modseq, .. } => candidate.modseq >= *modseq,
        }
    }

    fn flags(&self) -> Flags<'_> {
        Flags::of(self.candidate.flags)
    }

    fn has(&self, flag: Flag) -> bool {
        self.flags().has(flag)
    }

    fn internal_day(&self) -> CivilDay {
        CivilDay::of_timestamp(self.candidate.internal_date)
    }

    fn sent_day(&self) -> Option<CivilDay> {
        match self.candidate.header {
            Some(header) => header.sent.map(|sent| CivilDay(sent.day)),
            None => self.text().sent(),
        }
    }

    /// Whether a field called `name` contains `needle`; an empty needle matches every
    /// message that has the field (RFC 3501 §6.4.4, HEADER).
    fn header_contains(&self, name: &str, needle: &AString<'_>) -> bool {
        let needle = folded(needle);
        match self.candidate.header {
            Some(header) => header
                .values(name)
                .any(|value| contains_folded(value, &needle)),
            None => self
                .text()
                .header_values(name)
                .any(|value| value.contains(&needle)),
        }
    }

    /// [`Self::header_contains`] for an address field, also matching the addresses as
    /// written without comments and folding (`<user (c)@ (c) domain>` is
    /// `user@domain`). The same on the header index and on the message: the decoded
    /// value, lower-cased, then read as addresses.
    fn address_contains(&self, name: &str, needle: &AString<'_>) -> bool {
        let needle = folded(needle);
        let matches = |value: &str| {
            value.contains(&needle)
                || crate::imap::message::address::searchable(value.as_bytes()).contains(&needle)
        };
        match self.candidate.header {
            Some(header) => header
                .values(name)
                .any(|value| matches(&value.to_lowercase())),
            None => self.text().header_values(name).any(matches),
        }
    }

    fn text(&self) -> &SearchText {
        self.text
            .get_or_init(|| SearchText::parse(self.candidate.raw))
    }
}

/// Whether `value` is in `set`, `*` standing for `max`. Ranges may be written either
/// way round (RFC 3501 §9, `seq-range`).
fn contains(set: &SequenceSet, value: u32, max: u32) -> bool {
    let resolve = |number: &SeqOrUid| match number {
        SeqOrUid::Value(number) => number.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(number) => resolve(number) == value,
        Sequence::Range(from, to) => {
            let (from, to) = (resolve(from), resolve(to));
            from.min(to) <= value && value <= from.max(to)
        }
    })
}

fn day(date: &NaiveDate) -> CivilDay {
    CivilDay(i64::from(date.as_ref().to_epoch_days()))
}

/// Whether `value`, lower-cased, contains `needle` (lower-case already). An ASCII value
/// is compared in place, without the copy lower-casing would make; lower-casing keeps
/// ASCII ASCII, so the answer is the same.
fn contains_folded(value: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if value.is_ascii() {
        return value
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()));
    }
    value.to_lowercase().contains(needle)
}

/// The search string, lower-cased like [`SearchText`]; the session has already
/// refused charsets other than US-ASCII and UTF-8.
fn folded(needle: &AString<'_>) -> String {
    String::from_utf8_lossy(needle.as_ref()).to_lowercase()
}

pub mod returns;

#[cfg(test)]
mod tests;
