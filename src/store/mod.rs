//! The durable store: metadata in redb (ACID, fsync on every commit), message bodies
//! immutable and content-addressed ([`blobs`]: small ones in redb, large ones in files). Everything the provider certifies is
//! committed through [`Store::write`] — one redb transaction, shared by concurrent
//! writers ([`commit`]) — or, on the paths every message takes, [`Store::write_owned`]
//! (the same, run by one committer thread: [`committer`]) before it is announced, so a
//! crash leaves either all of a step or none of it.
//!
//! That is the embedded engine. The cluster engine ([`cluster`]) keeps the same tables
//! in PostgreSQL, shared by several nodes; both sit under the same handles ([`kv`]).
//!
//! One process holds the embedded store: the database is opened in redb's exclusive-writer
//! mode, whose commits need one fsync (the modes that let other processes follow the
//! writer need two, and a second header write), and every writer waits for the
//! commit's flush. Operator commands that find the daemon holding it hand their
//! work to it ([`crate::control`]); [`Store::open_read_only`] is for a store no writer
//! holds. After a crash the writer's next open rebuilds the allocator state from the
//! committed trees before it serves.

mod backend;
pub mod blobs;
mod cluster;
mod commit;
mod committer;
pub mod conservation;
pub mod folders;
pub mod headers;
pub mod key;
pub(crate) mod kv;
pub mod ledger;
pub mod links;
pub mod log;
pub mod mailbox;
pub mod management;
pub mod meter;
pub mod nodes;
pub mod objects;
pub mod outages;
pub mod outbox;
pub mod quarantine;
pub mod queue;
pub mod signal;
pub mod status;
pub mod subscriptions;
pub mod timers;
mod tx;

pub use cluster::turn::Turn;
pub use tx::ReadTx;
pub use tx::Tx;

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use redb::ConcurrencyMode;
use redb::Database;
use redb::ReadOnlyDatabase;
use redb::ReadableDatabase;
use redb::TableDefinition;
use redb::WriteTransaction;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::blobs::BlobStore;
use crate::store::kv::Snapshots;
use crate::store::mailbox::Credential;
use crate::store::signal::MailboxCommits;
use crate::store::signal::Signals;
use crate::store::signal::Touched;

/// Counters and chain heads.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Faults of the store. Expected outcomes (a full mailbox) are values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine failed.
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    /// PostgreSQL failed, or refused the statement.
    #[error("database: {}", kv::pg::describe(.0))]
    Cluster(#[from] postgres::Error),
    /// The object store failed, or refused the request.
    #[error("object store: {0}")]
    Objects(#[source] object_store::Error),
    /// No connection to PostgreSQL could be had.
    #[error("database: {0}")]
    Pool(#[source] r2d2::Error),
    /// A commit shared with other writers failed: each of them gets the one error.
    #[error("database: {0}")]
    Batch(#[source] Arc<StoreError>),
    /// The store's own machinery failed (a write panicked, the committer stopped): the
    /// write is not kept.
    #[error("database: {0}")]
    Internal(&'static str),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored record does not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A record does not encode or decode as JSON.
    #[error("corrupt record: {0}")]
    Record(#[from] serde_json::Error),
    /// The mailbox already exists.
    #[error("mailbox {0} already exists")]
    MailboxExists(String),
    /// No such mailbox.
    #[error("no mailbox {0}")]
    NoSuchMailbox(String),
    /// A password could not be hashed.
    #[error("password hashing failed")]
    Password,
    /// State changed under a transaction that relied on it; the caller retries.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another process (the daemon) has the store open for writing.
    #[error("the store is open for writing by another process")]
    InUse,
    /// A write through a handle opened with [`Store::open_read_only`].
    #[error("the store was opened read-only")]
    ReadOnly,
}

/// A state of the store to come back to ([`Store::savepoint`], [`Store::restore`]).
pub struct Savepoint(redb::Savepoint);

/// The database file in the data directory.
const FILE: &str = "pecd.redb";

/// Maps an open's error, telling a store held by another writer apart.
fn open_error(error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
        other => db(other),
    }
}

/// Maps an engine's error.
pub(crate) fn db<E: Into<StoreError>>(error: E) -> StoreError {
    error.into()
}

/// redb's errors of each operation, as the [`redb::Error`] they all convert to.
macro_rules! from_redb {
    ($($error:ty),*) => {
        $(impl From<$error> for StoreError {
            fn from(error: $error) -> StoreError {
                StoreError::Database(error.into())
            }
        })*
    };
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SavepointError,
    redb::SetDurabilityError
);

/// Encodes a record.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(value)?)
}

/// Decodes a record.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The store: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Store {
    /// Where reads go: the writer itself, a read-only handle following it, or the
    /// cluster's database.
    reader: Snapshots,
    /// `None` for a read-only handle and for the cluster engine.
    writer: Option<Writer>,
    /// The cluster engine; `None` for the embedded engine.
    cluster: Option<cluster::Engine>,
    /// This node's name in the claims it makes on shared work (empty when embedded:
    /// one process holds the store, and claims nothing).
    node: Arc<str>,
    blobs: BlobStore,
    group: Arc<commit::GroupCommit>,
    /// Runs the hot paths' writes ([`Store::write_owned`]); `None` when read-only.
    committer: Option<Arc<committer::Committer>>,
    /// Counts the commits (this is the one writer: there are no other processes'
    /// commits).
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Wakes the IMAP sessions (IDLE, NOTIFY) of the mailboxes each commit changed
    /// ([`signal`]).
    signals: Arc<Signals>,
    /// What each commit took and carried.
    meter: meter::CommitMeter,
}

/// The database a store writes, and how its commits end: durably for a database on
/// disk; for one in memory, which nothing could make durable, without the bookkeeping
/// a durable commit costs.
#[derive(Clone)]
pub(crate) struct Writer {
    db: Arc<Database>,
    durability: redb::Durability,
}

impl Writer {
    /// A write transaction that commits the way this store's commits end.
    pub(crate) fn begin(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_durability(self.durability).map_err(db)?;
        Ok(txn)
    }
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir` as its one writer;
    /// [`StoreError::InUse`] if another process holds it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Io {
                context: format!("opening {}", path.display()),
                source,
            })?;
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .create_with_backend(backend::WrittenAhead::new(file).map_err(open_error)?)
            .map_err(open_error)?;
        let db = Arc::new(db);
        let writer = Writer {
            db: Arc::clone(&db),
            durability: redb::Durability::Immediate,
        };
        Store::with(data_dir, db, Some(writer))
    }

    /// A store whose database lives in memory (bodies too large to inline still go to
    /// files under `data_dir`): for harnesses that prepare one store and run many inputs
    /// against it, each from the same [`Savepoint`]. Its commits end when the process
    /// does: they are made without a durable commit's bookkeeping ([`Writer`]).
    pub fn in_memory(data_dir: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(open_error)?;
        let db = Arc::new(db);
        let writer = Writer {
            db: Arc::clone(&db),
            durability: redb::Durability::None,
        };
        Store::with(data_dir, db, Some(writer))
    }

    /// The state of every table now, to come back to with [`Store::restore`].
    pub fn savepoint(&self) -> Result<Savepoint, StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        // redb takes and restores savepoints only in durable transactions.
        let txn = writer.db.begin_write().map_err(db)?;
        let savepoint = txn.ephemeral_savepoint().map_err(db)?;
        txn.commit().map_err(db)?;
        Ok(Savepoint(savepoint))
    }

    /// Puts every table back as it was at `savepoint`, in one commit: what was written
    /// since is gone, as if it had never been. Bodies kept as files since then stay on
    /// disk, unreferenced (their names are their contents).
    pub fn restore(&self, savepoint: &Savepoint) -> Result<(), StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        let mut txn = writer.db.begin_write().map_err(db)?;
        txn.restore_savepoint(&savepoint.0).map_err(db)?;
        txn.commit().map_err(db)?;
        count_commit(&self.commits);
        self.signals.all();
        Ok(())
    }

    /// Opens an existing store under `data_dir` for reading, beside other readers;
    /// [`StoreError::InUse`] while a writer holds it. Fails on a store a crash left
    /// until a writer has opened (and so repaired) it.
    pub fn open_read_only(data_dir: &Path) -> Result<Store, StoreError> {
        let db: ReadOnlyDatabase = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .open_read_only(data_dir.join(FILE))
            .map_err(open_error)?;
        Store::with(data_dir, Arc::new(db), None)
    }

    fn with(
        data_dir: &Path,
        reader: Arc<dyn ReadableDatabase + Send + Sync>,
        writer: Option<Writer>,
    ) -> Result<Store, StoreError> {
        let blobs = BlobStore::open(&data_dir.join("blobs"), Snapshots::Embedded(reader))?;
        let commits = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let signals = Arc::new(Signals::default());
        let meter = meter::CommitMeter::default();
        let committer = match &writer {
            Some(db) => {
                let (commits, meter) = (Arc::clone(&commits), meter.clone());
                let signals = Arc::clone(&signals);
                let on_commit = move |took, writes, touched: &Touched| {
                    count_commit(&commits);
                    signals.committed(touched);
                    meter.observe(took, writes);
                };
                let started = committer::Committer::start(db.clone(), blobs.clone(), on_commit);
                Some(Arc::new(started?))
            }
            None => None,
        };
        Ok(Store {
            reader: blobs.snapshots(),
            writer,
            cluster: None,
            node: Arc::from(""),
            blobs,
            group: Arc::default(),
            committer,
            commits,
            signals,
            meter,
        })
    }

    /// The commit latency and batch-size instruments.
    pub fn commit_meter(&self) -> &meter::CommitMeter {
        &self.meter
    }

    /// The message bodies.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The cluster's object store, when it has one.
    pub fn bucket(&self) -> Option<&objects::Bucket> {
        self.blobs.bucket()
    }

    /// Runs `work` in a write transaction and commits it durably (bodies flushed, then
    /// the database fsynced) when it returns `Ok`; on `Err` nothing of it is kept.
    /// Concurrent writers share the transaction and its commit ([`commit`]), so `work`
    /// may run more than once: it is `Fn` and keeps its effects inside the transaction.
    pub fn write<T>(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(engine) = &self.cluster {
            return self.write_cluster(engine, work);
        }
        let writer = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        let on_commit = |took, writes, touched: &Touched| {
            count_commit(&self.commits);
            self.signals.committed(touched);
            self.meter.observe(took, writes);
        };
        self.group.write(writer, &self.blobs, on_commit, work)
    }

    /// [`Store::write`] for a closure that owns what it uses: it runs on the store's
    /// committer thread ([`committer`]), batched with the others waiting there without
    /// being handed from thread to thread, and this returns once the commit is durable.
    /// For the paths every message takes.
    pub fn write_owned<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match (&self.committer, &self.cluster) {
            (Some(committer), _) => committer.write(work),
            (None, Some(engine)) => self.write_cluster(engine, work),
            (None, None) => Err(StoreError::ReadOnly),
        }
    }

    /// A receiver that changes after every commit made through this `Store`.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Wakes after every durable commit that changed `address`'s mailbox (its record,
    /// folders, messages, flags, counters, subscriptions), and after no other: what an
    /// IMAP session in IDLE or NOTIFY waits for. Only mailboxes someone listens to are
    /// kept, each as long as a subscription to it lives.
    pub fn mailbox_commits(&self, address: &str) -> MailboxCommits {
        self.signals.listen(address)
    }

    /// How many mailboxes [`Store::mailbox_commits`] subscriptions listen to.
    pub fn listened_mailboxes(&self) -> usize {
        self.signals.listened()
    }

    /// Runs `work` on a read snapshot.
    pub fn read<T>(
        &self,
        work: impl FnOnce(&ReadTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.reader.read(work)
    }

    /// The lookup a login's password check runs on a checker thread: the credential
    /// the password opens, if it is the address's; an error when the store could not
    /// tell (its database unreachable), which is no answer about the password.
    pub fn password_lookup(
        &self,
    ) -> impl FnOnce(&str, &str) -> Result<Option<Credential>, StoreError> + Send + 'static {
        let store = self.clone();
        move |address, password| store.read(|tx| tx.mailboxes().login(address, password))
    }

    /// Whether a login's credential still opens the address's mailbox.
    pub fn credential_stands(
        &self,
        address: &str,
        credential: &Credential,
    ) -> Result<bool, StoreError> {
        self.read(|tx| tx.mailboxes().credential_stands(address, credential))
    }
}

/// Creates the data folder, if missing, for the daemon's user alone: it holds people's
/// mail and password hashes (whatever the umask).
fn create_private_dir(data_dir: &Path) -> Result<(), StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|source| StoreError::Io {
            context: format!("creating {}", data_dir.display()),
            source,
        })
}

/// Tells IDLE sessions that a commit happened.
fn count_commit(commits: &tokio::sync::watch::Sender<u64>) {
    commits.send_modify(|n| *n = n.wrapping_add(1));
}

impl ReadTx<'_> {
    /// Every record of a table, decoded, in key order; a table never written is empty.
    pub(crate) fn values<K: kv::OrderedKey, T: DeserializeOwned>(
        &self,
        definition: TableDefinition<'static, K, &'static [u8]>,
    ) -> Result<Vec<T>, StoreError> {
        self.table(definition)?
            .iter()?
            .map(|entry| decode(entry?.1.value()))
            .collect()
    }
}

impl Tx<'_> {
    /// Next value of a durable counter.
    pub(crate) fn next(&mut self, counter: &str) -> Result<u64, StoreError> {
        let mut meta = self.table(META)?;
        let current = match meta.get(counter).map_err(db)? {
            Some(bytes) => decode::<u64>(bytes.value())?,
            None => 0,
        };
        let next = current + 1;
        meta.insert(counter, encode(&next)?.as_slice())
            .map_err(db)?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
