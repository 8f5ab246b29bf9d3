//! The service's unavailability, as the AgID statistics report it (P02, C01): the
//! outages operators record (`pecd outage add`) and the daemon's own runs, from which
//! the unplanned ones are detected ([`crate::stats::downtime`]).
//!
//! A run is written when `pecd serve` starts, its heartbeat moves while it serves, and
//! its stop is written when it shuts down cleanly. A run with no stop ended in a crash
//! (or a power cut) some time after its last heartbeat: the gap from there to the next
//! start is an outage nobody had to remember to record.

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;

const OUTAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("outages");
const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("daemon_runs");

/// TipoDisservizio of the AgID P02 record.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum OutageType {
    /// `01`: planned (announced maintenance).
    #[serde(rename = "01")]
    Planned,
    /// `02`: incident.
    #[serde(rename = "02")]
    Incident,
    /// `03`: malfunction.
    #[serde(rename = "03")]
    Malfunction,
}

impl OutageType {
    /// The two-digit code of the record.
    pub fn code(self) -> &'static str {
        match self {
            OutageType::Planned => "01",
            OutageType::Incident => "02",
            OutageType::Malfunction => "03",
        }
    }

    /// The type whose code is `text`.
    pub fn parse(text: &str) -> Option<OutageType> {
        [
            OutageType::Planned,
            OutageType::Incident,
            OutageType::Malfunction,
        ]
        .into_iter()
        .find(|kind| kind.code() == text)
    }
}

/// An outage an operator recorded.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct RecordedOutage {
    /// Its number, from 1.
    pub id: u64,
    /// When the service became unavailable.
    pub start: Timestamp,
    /// When it was available again.
    pub end: Timestamp,
    /// Its type.
    pub kind: OutageType,
    /// When it was recorded.
    pub recorded: Timestamp,
}

/// One run of the daemon.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Run {
    /// Its number, from 1, in start order.
    pub id: u64,
    /// When it started serving.
    pub started: Timestamp,
    /// The last time it was known to serve.
    pub heartbeat: Timestamp,
    /// When it stopped cleanly; `None` while it runs, or after a crash.
    pub stopped: Option<Timestamp>,
}

/// The outage tables: `Outages<&mut Tx>` records, `Outages<&ReadTx>` reads a snapshot.
pub struct Outages<T>(pub(super) T);

impl Outages<&mut Tx<'_>> {
    /// Records an outage; its number.
    pub fn record(
        &mut self,
        start: Timestamp,
        end: Timestamp,
        kind: OutageType,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let id = self.0.next("outages")?;
        let outage = RecordedOutage {
            id,
            start,
            end,
            kind,
            recorded: now,
        };
        let mut table = self.0.table(OUTAGES)?;
        table.insert(id, encode(&outage)?.as_slice())?;
        Ok(id)
    }

    /// Records that the daemon started serving; the run's number.
    pub fn start_run(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        let id = self.0.next("daemon_runs")?;
        self.put_run(&Run {
            id,
            started: now,
            heartbeat: now,
            stopped: None,
        })?;
        Ok(id)
    }

    /// Records that run `id` still serves at `now`.
    pub fn heartbeat(&mut self, id: u64, now: Timestamp) -> Result<(), StoreError> {
        self.update_run(id, |run| run.heartbeat = run.heartbeat.max(now))
    }

    /// Records that run `id` stopped cleanly at `now`.
    pub fn stop_run(&mut self, id: u64, now: Timestamp) -> Result<(), StoreError> {
        self.update_run(id, |run| {
            run.heartbeat = run.heartbeat.max(now);
            run.stopped = Some(now);
        })
    }

    fn update_run(&mut self, id: u64, change: impl FnOnce(&mut Run)) -> Result<(), StoreError> {
        let table = self.0.table(RUNS)?;
        let mut run: Run = match table.get(id)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::Corrupt(format!("no daemon run {id}"))),
        };
        drop(table);
        change(&mut run);
        self.put_run(&run)
    }

    fn put_run(&mut self, run: &Run) -> Result<(), StoreError> {
        let mut table = self.0.table(RUNS)?;
        table.insert(run.id, encode(run)?.as_slice())?;
        Ok(())
    }
}

impl Outages<&ReadTx<'_>> {
    /// Every recorded outage, in recording order.
    pub fn recorded(&self) -> Result<Vec<RecordedOutage>, StoreError> {
        self.0.values(OUTAGES)
    }

    /// Every run of the daemon, in start order.
    pub fn runs(&self) -> Result<Vec<Run>, StoreError> {
        self.0.values(RUNS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn runs_and_outages_are_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store
            .write(|tx| tx.outages().start_run(at("2026-01-10T08:00:00Z")))
            .unwrap();
        store
            .write(|tx| tx.outages().heartbeat(first, at("2026-01-10T08:01:00Z")))
            .unwrap();
        store
            .write(|tx| tx.outages().stop_run(first, at("2026-01-10T09:00:00Z")))
            .unwrap();
        let second = store
            .write(|tx| tx.outages().start_run(at("2026-01-10T09:30:00Z")))
            .unwrap();
        store
            .write(|tx| {
                tx.outages().record(
                    at("2026-02-01T10:00:00Z"),
                    at("2026-02-01T11:00:00Z"),
                    OutageType::Malfunction,
                    at("2026-02-02T00:00:00Z"),
                )
            })
            .unwrap();
        let (runs, recorded) = store
            .read(|tx| Ok((tx.outages().runs()?, tx.outages().recorded()?)))
            .unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].stopped, Some(at("2026-01-10T09:00:00Z")));
        assert_eq!(runs[1].id, second);
        assert_eq!(runs[1].stopped, None);
        assert_eq!(recorded[0].kind, OutageType::Malfunction);
        assert!(
            store
                .write(|tx| tx.outages().heartbeat(99, at("2026-03-01T00:00:00Z")))
                .is_err()
        );
    }

    #[test]
    fn outage_types_are_the_record_codes() {
        for code in ["01", "02", "03"] {
            assert_eq!(OutageType::parse(code).unwrap().code(), code);
        }
        assert_eq!(OutageType::parse("04"), None);
        assert_eq!(OutageType::parse("1"), None);
    }
}
