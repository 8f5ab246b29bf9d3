//! The counters the reports read, kept in step with the mailbox records: every write of
//! a mailbox record goes through [`retally`], which adds the new record's share and
//! takes away the old one's, in the same transaction. A summary then reads a handful of
//! counters per ente instead of every mailbox.

use std::collections::BTreeMap;

use redb::TableDefinition;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::mailbox::Mailbox;

/// `(ente, counter)` → value; the provider's own mailboxes count under ente `""`.
const COUNTERS: TableDefinition<(&str, &str), u64> = TableDefinition::new("management_counters");

/// One ente's counters.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Counts {
    /// Mailboxes by state (`pending`, `active`, `suspended`, `deleted`).
    pub by_state: BTreeMap<String, u64>,
    /// Mailboxes by type.
    pub by_type: BTreeMap<String, u64>,
    /// Mailboxes by the operator who created them.
    pub by_operator: BTreeMap<String, u64>,
    /// Bytes in INBOX and the other folders.
    pub bytes: u64,
    /// Certified messages delivered to the ente's mailboxes.
    pub received: u64,
    /// Messages the ente's mailboxes sent (accepted at the punto di accesso).
    pub sent: u64,
    /// Bytes conserved in the ente's conservation archive.
    pub archive: u64,
}

impl Counts {
    /// Every mailbox, whatever its state.
    pub fn mailboxes(&self) -> u64 {
        self.by_state.values().sum()
    }

    /// Mailboxes in one state.
    pub fn in_state(&self, state: &str) -> u64 {
        self.by_state.get(state).copied().unwrap_or(0)
    }

    fn add(&mut self, counter: &str, value: u64) {
        let (family, name) = counter.split_once(':').unwrap_or((counter, ""));
        match family {
            "state" => *self.by_state.entry(name.to_string()).or_default() += value,
            "type" => *self.by_type.entry(name.to_string()).or_default() += value,
            "operator" => *self.by_operator.entry(name.to_string()).or_default() += value,
            "bytes" => self.bytes += value,
            "received" => self.received += value,
            "sent" => self.sent += value,
            "archive" => self.archive += value,
            _ => {}
        }
    }
}

/// What one mailbox record adds to its ente's counters.
fn share(mailbox: &Mailbox) -> Vec<(String, u64)> {
    vec![
        (format!("state:{}", mailbox.state.as_str()), 1),
        (format!("type:{}", mailbox.profile.kind.as_str()), 1),
        (format!("operator:{}", mailbox.profile.created_by), 1),
        ("bytes".to_string(), mailbox.used_bytes),
        ("received".to_string(), mailbox.traffic.received),
        ("sent".to_string(), mailbox.traffic.sent),
    ]
}

/// Moves the counters from `old` (the record before the write, if any) to `new` (the
/// record after it, if any).
pub(crate) fn retally(
    tx: &Tx<'_>,
    old: Option<&Mailbox>,
    new: Option<&Mailbox>,
) -> Result<(), StoreError> {
    let mut deltas: BTreeMap<(String, String), i128> = BTreeMap::new();
    for (mailbox, sign) in [(old, -1i128), (new, 1)] {
        let Some(mailbox) = mailbox else { continue };
        for (counter, value) in share(mailbox) {
            *deltas
                .entry((mailbox.profile.ente.clone(), counter))
                .or_default() += sign * i128::from(value);
        }
    }
    apply(tx, deltas)
}

/// Moves the `archive` counter of the ente of `mailbox` by `delta` conserved bytes.
pub(crate) fn conserved(
    tx: &Tx<'_>,
    mailbox: Option<&Mailbox>,
    delta: i128,
) -> Result<(), StoreError> {
    let ente = mailbox.map(|m| m.profile.ente.clone()).unwrap_or_default();
    apply(tx, BTreeMap::from([((ente, "archive".to_string()), delta)]))
}

fn apply(tx: &Tx<'_>, mut deltas: BTreeMap<(String, String), i128>) -> Result<(), StoreError> {
    deltas.retain(|_, delta| *delta != 0);
    if deltas.is_empty() {
        return Ok(());
    }
    let mut table = tx.table(COUNTERS)?;
    for ((ente, counter), delta) in deltas {
        let key = (ente.as_str(), counter.as_str());
        let current = table.get(key)?.map_or(0, |v| v.value());
        let next = u64::try_from((i128::from(current) + delta).max(0)).unwrap_or(u64::MAX);
        if next == 0 {
            table.remove(key)?;
        } else {
            table.insert(key, next)?;
        }
    }
    Ok(())
}

/// The counters of `ente`, or of every ente.
pub(super) fn read(
    tx: &ReadTx<'_>,
    ente: Option<&str>,
) -> Result<Vec<(String, Counts)>, StoreError> {
    let table = tx.table(COUNTERS)?;
    let entries = match ente {
        Some(ente) => {
            let past = format!("{ente}\0");
            table.range((ente, "")..(past.as_str(), ""))?
        }
        None => table.range::<(&str, &str)>(..)?,
    };
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    if let Some(ente) = ente {
        out.entry(ente.to_string()).or_default();
    }
    for entry in entries {
        let (key, value) = entry?;
        let (ente, counter) = key.value();
        out.entry(ente.to_string())
            .or_default()
            .add(counter, value.value());
    }
    Ok(out.into_iter().collect())
}
