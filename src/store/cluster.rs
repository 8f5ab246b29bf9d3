//! The store on the cluster engine: PostgreSQL holds every table, shared by the
//! provider's nodes ([`kv::pg`]).
//!
//! A write is one serializable transaction. A node runs its writes one at a time: every
//! write of a message touches the same few records (the event log's head, the
//! counters, the sender's mailbox), so concurrent writers of one node would only fail
//! each other's commits, over and over under load. When another node's commit got in
//! the way (a serialization failure) the closure runs again in a fresh transaction:
//! closures are `Fn` and keep their effects inside the transaction, as the embedded
//! group commit already requires.
//!
//! Sessions wake on the commits of every node alike, through PostgreSQL's
//! notifications ([`wakeups`]), their own node's included.
//!
//! Small bodies go into the same transaction as the records that name them, as on the
//! embedded engine; large ones to the cluster's object store before it.

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use jiff::SignedDuration;
use jiff::Timestamp;

use super::Store;
use super::StoreError;
use super::Tx;
use super::blobs::BlobStore;
use super::kv::Snapshots;
use super::kv::Writing;
use super::kv::pg;
use super::meter;
use super::objects::Bucket;
use super::queue::Job;
use super::signal::Signals;

mod heartbeat;
pub mod turn;
mod wakeups;

/// How many times a write runs before its serialization failure is the caller's.
const ATTEMPTS: u32 = 30;

/// The longest wait before running a write again.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// How long a node's claim on a relay job holds at most, however alive the node looks:
/// longer than any delivery attempt (SMTP allows ten minutes for the end of the data).
/// A node that died loses its claims much sooner, when its heartbeat stops
/// ([`crate::store::nodes`]); the lease is for a node that beats but whose relay is
/// stuck.
const JOB_LEASE: SignedDuration = SignedDuration::from_mins(15);

/// Connections a node keeps to PostgreSQL.
const CONNECTIONS: u32 = 16;

/// The cluster engine of one node.
#[derive(Clone)]
pub(super) struct Engine {
    pool: pg::Pool,
    /// The database, for the connections of the node's own (the turns).
    url: Arc<str>,
    /// Held by the node's write in progress.
    writing: Arc<Mutex<()>>,
    /// Started once, by the node that serves.
    heartbeat: Arc<std::sync::Once>,
}

impl Store {
    /// The store of a cluster node: tables in the PostgreSQL database at `url` (its
    /// schema brought up to date), large bodies in `bucket`, or else under `data_dir`
    /// where only this node reads them.
    pub fn cluster(
        url: &str,
        bucket: Option<Bucket>,
        data_dir: &Path,
    ) -> Result<Store, StoreError> {
        super::create_private_dir(data_dir)?;
        let pool = pg::off_the_runtime(|| pg::connect(url, CONNECTIONS))?;
        let tables = Snapshots::Cluster(pool.clone());
        let blobs = match bucket {
            Some(bucket) => BlobStore::in_bucket(bucket, tables),
            None => BlobStore::open(&data_dir.join("blobs"), tables)?,
        };
        let commits = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let signals = Arc::new(Signals::default());
        wakeups::listen(url, &signals, &commits);
        Ok(Store {
            reader: blobs.snapshots(),
            writer: None,
            cluster: Some(Engine {
                pool,
                url: Arc::from(url),
                writing: Arc::default(),
                heartbeat: Arc::new(std::sync::Once::new()),
            }),
            node: Arc::from(node_name(data_dir)?),
            blobs,
            group: Arc::default(),
            committer: None,
            commits,
            signals,
            meter: meter::CommitMeter::default(),
        })
    }

    /// Keeps this node's claims alive for as long as the store lives, with a heartbeat
    /// on a thread of its own ([`crate::store::nodes`]). For the node that serves: an
    /// operator command claims nothing. The embedded engine claims nothing either.
    pub fn start_heartbeat(&self) {
        if let Some(engine) = &self.cluster {
            engine.heartbeat.call_once(|| {
                let alive = Arc::downgrade(&self.signals);
                heartbeat::start(engine.pool.clone(), Arc::clone(&self.node), alive);
            });
        }
    }

    /// The relay's jobs due at `now`, at most `limit`, but those `skip` names. On the
    /// cluster engine they are claimed for this node in the same commit, so no other
    /// node delivers them while the claim holds: while this node beats
    /// ([`Store::start_heartbeat`]), and for [`JOB_LEASE`] at most.
    pub fn take_due_jobs(
        &self,
        now: Timestamp,
        limit: usize,
        skip: impl Fn(u64) -> bool,
    ) -> Result<Vec<Job>, StoreError> {
        let node = &self.node;
        if self.cluster.is_none() {
            return self.read(|tx| tx.queue().due(node, now, limit, &skip));
        }
        let until = now + JOB_LEASE;
        self.write(|tx| tx.queue().claim(node, now, until, limit, &skip))
    }

    /// [`Store::write`] on the cluster engine.
    pub(super) fn write_cluster<T>(
        &self,
        engine: &Engine,
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // The wait for the node's other writes is a wait too: off the runtime's workers.
        pg::off_the_runtime(|| {
            let _writing = engine
                .writing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut attempt = 1;
            loop {
                let started = Instant::now();
                match self.attempt(&engine.pool, &work) {
                    Ok(value) => {
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
        })
    }

    /// One run of `work` in its own transaction, committed.
    fn attempt<T>(
        &self,
        pool: &pg::Pool,
        work: &impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = pg::Txn::write(pool)?;
        let mut tx = Tx::new(Writing::Cluster(&txn));
        let value = work(&mut tx)?;
        wakeups::announce(&txn, &tx.into_touched())?;
        let staged = self.blobs.stage(Writing::Cluster(&txn))?;
        txn.commit()?;
        self.blobs.committed(staged);
        Ok(value)
    }
}

/// This node's name in its claims, kept in its data folder: a node that restarts
/// (after a crash too) finishes the work it had claimed at once, instead of leaving it
/// until its claims expire. Each node has a data folder of its own.
fn node_name(data_dir: &Path) -> Result<String, StoreError> {
    let path = data_dir.join("node");
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_string()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io {
                context: format!("reading {}", path.display()),
                source,
            });
        }
    }
    let mut random = [0u8; 16];
    openssl::rand::rand_bytes(&mut random)
        .map_err(|_| StoreError::Internal("no randomness for the node's name"))?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    // Lost in a crash before it reaches the disk, it is only made again: the claims
    // made under the lost name expire.
    std::fs::write(&path, &name).map_err(|source| StoreError::Io {
        context: format!("writing {}", path.display()),
        source,
    })?;
    Ok(name)
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
