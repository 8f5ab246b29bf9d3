//! Retention classes and disposal (scarto): every conserved message gets a retention
//! class (by PEC kind, default 10 years) and a keep-until date at ingest. A package
//! whose messages have all expired becomes a disposal proposal for the postmaster;
//! nothing is ever deleted automatically (conservation.md §1.7).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::conservation::archive::PackageRecord;

/// The retention classes: PEC kind → years, and the default.
#[derive(Clone, Debug)]
pub struct Classes {
    /// Years for kinds not listed.
    pub default_years: u32,
    /// Years by PEC kind (`posta-certificata`, `avvenuta-consegna`, …).
    pub by_kind: BTreeMap<String, u32>,
}

impl Classes {
    /// The class name and years for a kind.
    pub fn of(&self, kind: &str) -> (String, u32) {
        match self.by_kind.get(kind) {
            Some(years) => (kind.to_string(), *years),
            None => ("default".to_string(), self.default_years),
        }
    }
}

/// `received` plus `years` calendar years (UTC); far future if it overflows.
pub fn keep_until(received: Timestamp, years: u32) -> Timestamp {
    received
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MAX)
}

/// A proposal to dispose of one package.
#[derive(Clone, Debug, Serialize)]
pub struct Proposal {
    /// The package.
    pub package: String,
    /// The mailbox.
    pub mailbox: String,
    /// The latest keep-until date among its messages.
    pub expired: Timestamp,
    /// How many messages it holds.
    pub messages: usize,
}

/// The packages whose every message is past its keep-until date at `at`.
pub fn proposals(packages: &[PackageRecord], at: Timestamp) -> Vec<Proposal> {
    packages
        .iter()
        .filter_map(|package| {
            let latest = package
                .messages
                .iter()
                .map(|m| m.metadata.keep_until.unwrap_or(Timestamp::MAX))
                .max()?;
            (latest <= at).then(|| Proposal {
                package: package.id.clone(),
                mailbox: package.mailbox.clone(),
                expired: latest,
                messages: package.messages.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_years_by_default_and_classes_by_kind() {
        let classes = Classes {
            default_years: 10,
            by_kind: BTreeMap::from([("avvenuta-consegna".to_string(), 5)]),
        };
        assert_eq!(classes.of("posta-certificata"), ("default".to_string(), 10));
        assert_eq!(classes.of("avvenuta-consegna").1, 5);
        let start: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        assert_eq!(keep_until(start, 10).to_string(), "2036-03-02T10:00:00Z");
    }
}
