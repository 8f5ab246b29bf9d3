//! IMAP system flags (RFC 3501 §2.3.2) as a type, and a message's stored flags read
//! through it. The store keeps flags as the strings clients send (`\Seen`,
//! `$PecRicevuta`); this is the one place that knows how a system flag is spelled and
//! that flags compare case-insensitively.

/// A system flag a message may carry. `\Recent` is not one of them here: it belongs to
/// a session, not to the stored message.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Flag {
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`: removed by the next EXPUNGE.
    Deleted,
    /// `\Seen`.
    Seen,
    /// `\Draft`.
    Draft,
}

impl Flag {
    /// The flag as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Seen => "\\Seen",
            Flag::Draft => "\\Draft",
        }
    }
}

/// A message's stored flags and keywords.
#[derive(Clone, Copy, Debug)]
pub struct Flags<'a>(&'a [String]);

impl<'a> Flags<'a> {
    /// The flags as the store keeps them.
    pub fn of(stored: &'a [String]) -> Flags<'a> {
        Flags(stored)
    }

    /// Whether the message carries `flag` (flags are case-insensitive, RFC 3501 §9).
    pub fn has(self, flag: Flag) -> bool {
        self.has_named(flag.as_str())
    }

    /// Whether the message carries the flag or keyword called `name`.
    pub fn has_named(self, name: &str) -> bool {
        self.0.iter().any(|f| f.eq_ignore_ascii_case(name))
    }
}

/// The keywords pecd sets itself: a sent message's delivery status, receipts, envelopes
/// and anomalies from delivery, and the conservation alerts. Every folder announces
/// them (see [`crate::imap::session`]), so clients that trust FLAGS show them.
pub const PEC_KEYWORDS: [&str; 10] = [
    crate::pec::status::ACCEPTED,
    crate::pec::status::NOT_ACCEPTED,
    crate::pec::status::DELIVERED,
    crate::pec::status::PARTLY_DELIVERED,
    crate::pec::status::NOT_DELIVERED,
    crate::pec::status::WARNED,
    crate::provider::access_point::RECEIPT_KEYWORD,
    crate::provider::reception_point::ENVELOPE_KEYWORD,
    crate::provider::delivery_point::ANOMALY_KEYWORD,
    "$PecConservazione",
];
