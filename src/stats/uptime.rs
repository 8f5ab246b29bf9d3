//! The daemon's runs, recorded for [`super::downtime`]: `pecd serve` records its start,
//! moves its heartbeat every [`HEARTBEAT`] while it serves, and records its clean stop.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::StoreError;

/// How often a serving daemon says so. After a crash the detected outage starts at
/// the last heartbeat, so it may be longer than the real one by up to this much.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// Records that the daemon started serving; the run's number.
pub fn started(store: &Store) -> Result<u64, StoreError> {
    let now = Timestamp::now();
    store.write(|tx| tx.outages().start_run(now))
}

/// Records run `run`'s clean stop at `at` (when it stopped taking work).
pub fn stopped(store: &Store, run: u64, at: Timestamp) -> Result<(), StoreError> {
    store.write(|tx| tx.outages().stop_run(run, at))
}

/// Moves run `run`'s heartbeat until `shutdown`.
pub async fn heartbeat(store: Store, run: u64, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEARTBEAT) => {}
            () = shutdown.cancelled() => return,
        }
        let store = store.clone();
        let beat = tokio::task::spawn_blocking(move || {
            let now = Timestamp::now();
            store.write(|tx| tx.outages().heartbeat(run, now))
        })
        .await;
        match beat {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot record the daemon's heartbeat"),
            Err(error) => tracing::warn!(%error, "cannot record the daemon's heartbeat"),
        }
    }
}
