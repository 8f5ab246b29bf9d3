//! The store on the cluster engine: PostgreSQL holds every table, shared by the
//! provider's nodes ([`kv::pg`]).
//!
//! A write is one serializable transaction, committed by the writer's own thread: the
//! group commit of the embedded engine exists to share one fsync among writers, and
//! PostgreSQL already groups the commits of concurrent transactions into one flush of
//! its log. When another node's commit got in the way (a serialization failure) the
//! closure runs again in a fresh transaction: closures are `Fn` and keep their effects
//! inside the transaction, as the group commit already requires.
//!
//! Bodies go as on the embedded engine: large ones to files flushed before the commit,
//! small ones into the same transaction as the records that name them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use super::Store;
use super::StoreError;
use super::Tx;
use super::blobs::BlobStore;
use super::count_commit;
use super::kv;
use super::kv::Snapshots;
use super::kv::Writing;
use super::kv::pg;
use super::meter;
use super::signal::Signals;
use super::signal::Touched;

/// How many times a write runs before its serialization failure is the caller's.
const ATTEMPTS: u32 = 30;

/// The longest wait before running a write again.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Connections a node keeps to PostgreSQL.
const CONNECTIONS: u32 = 16;

impl Store {
    /// The store of a cluster node: tables in the PostgreSQL database at `url` (its
    /// schema brought up to date), bodies under `data_dir`.
    pub fn cluster(url: &str, data_dir: &Path) -> Result<Store, StoreError> {
        super::create_private_dir(data_dir)?;
        let pool = pg::connect(url, CONNECTIONS)?;
        let blobs = BlobStore::open(&data_dir.join("blobs"), Snapshots::Cluster(pool.clone()))?;
        Ok(Store {
            reader: blobs.snapshots(),
            writer: None,
            cluster: Some(pool),
            blobs,
            group: Arc::default(),
            committer: None,
            commits: Arc::new(tokio::sync::watch::Sender::new(0u64)),
            signals: Arc::new(Signals::default()),
            meter: meter::CommitMeter::default(),
        })
    }

    /// [`Store::write`] on the cluster engine.
    pub(super) fn write_cluster<T>(
        &self,
        pool: &kv::pg::Pool,
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            match self.attempt(pool, &work) {
                Ok((value, touched)) => {
                    count_commit(&self.commits);
                    self.signals.committed(&touched);
                    self.meter.observe(started.elapsed(), 1);
                    return Ok(value);
                }
                Err(error) if attempt < ATTEMPTS && pg::Txn::retryable(&error) => {
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One run of `work` in its own transaction, committed.
    fn attempt<T>(
        &self,
        pool: &kv::pg::Pool,
        work: &impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<(T, Touched), StoreError> {
        let txn = pg::Txn::write(pool)?;
        let mut tx = Tx::new(Writing::Cluster(&txn));
        let value = work(&mut tx)?;
        let touched = tx.into_touched();
        let staged = self.blobs.stage(Writing::Cluster(&txn))?;
        txn.commit()?;
        self.blobs.committed(staged);
        Ok((value, touched))
    }
}

/// A random wait, growing with the attempts: writers that keep meeting each other on
/// the same records (a folder's next UID, the log's head) fall out of step.
fn backoff(attempt: u32) -> Duration {
    let mut random = [0u8; 4];
    // Without randomness the wait is the longest; it only spaces the attempts.
    let random = match openssl::rand::rand_bytes(&mut random) {
        Ok(()) => u32::from_le_bytes(random),
        Err(_) => u32::MAX,
    };
    let ceiling = Duration::from_micros(250 << attempt.min(8)).min(MAX_BACKOFF);
    ceiling.mul_f64(f64::from(random) / f64::from(u32::MAX))
}
