//! Message bodies, content-addressed: named by their SHA-256, immutable once stored.
//!
//! A body of at most [`INLINE_MAX`] bytes (receipts, notices, short certified
//! messages) lives in the database itself, in the `bodies` table, keyed by its name.
//! [`BlobStore::put`] keeps it in memory until the next group commit, which inserts it
//! in the same redb transaction as the records that name it: body and records become
//! durable together, under the database's own flushes, and storing one costs no file
//! creation and no extra flush: a PEC message makes several small bodies on each
//! provider, and file creations and the `syncfs` that makes them durable cost far more
//! kernel time than the bytes (docs/performance.md).
//!
//! A larger body lives outside the database ([`Large`]): on the embedded engine as a
//! file under `data_dir` ([`files`]), flushed before the commit that names it; on a
//! cluster with an object store, as an object of its bucket, which every node reads,
//! stored before the commit that names it.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;

use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::kv::Snapshots;
use crate::store::kv::Writing;
use crate::store::objects::Bucket;

mod files;

use files::Files;

/// The SHA-256 (lowercase hex) naming a body.
#[derive(Clone, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobId(String);

impl BlobId {
    /// The id of some bytes.
    pub fn of(bytes: &[u8]) -> BlobId {
        BlobId::from_digest(&openssl::sha::sha256(bytes))
    }

    /// The id whose SHA-256 is `digest` (as stored in a message record).
    pub fn from_digest(digest: &[u8; 32]) -> BlobId {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        BlobId(hex)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobId {
    type Error = String;

    fn try_from(text: String) -> Result<BlobId, String> {
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(BlobId(text))
        } else {
            Err(format!("{text:?} is not a blob id"))
        }
    }
}

impl From<BlobId> for String {
    fn from(id: BlobId) -> String {
        id.0
    }
}

/// The largest body kept in the database rather than in a file of its own. redb
/// gives a large value a page of the next power-of-two size: at 256 KiB the IMAP
/// benchmark's 10,000-message mailbox took 824 MB on disk against 623 MB as files.
/// Receipts, notices and short messages are far below this.
pub const INLINE_MAX: usize = 64 * 1024;

/// Bodies of at most [`INLINE_MAX`] bytes, by the hex of their SHA-256.
const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bodies");

/// The bodies: small ones in the database, large ones outside it (see the module doc).
#[derive(Clone)]
pub struct BlobStore {
    db: Snapshots,
    /// Small bodies put but not yet committed, inserted by the next group commit.
    pending: Arc<Mutex<HashMap<BlobId, Arc<[u8]>>>>,
    large: Large,
}

/// Where the bodies larger than [`INLINE_MAX`] are kept.
#[derive(Clone)]
enum Large {
    /// Files under the node's `data_dir`.
    Files(Files),
    /// Objects named `bodies/<hash>` in the cluster's bucket.
    Bucket(Bucket),
}

/// Small bodies taken by a group commit ([`BlobStore::stage`]), released from memory
/// once that commit is durable ([`BlobStore::committed`]).
pub(crate) struct Staged(Vec<(BlobId, Arc<[u8]>)>);

impl BlobStore {
    /// Small bodies in `db`, large ones as files under `root` (created).
    pub(crate) fn open(root: &Path, db: Snapshots) -> Result<BlobStore, StoreError> {
        Ok(BlobStore::with(db, Large::Files(Files::open(root)?)))
    }

    /// Small bodies in `db`, large ones in `bucket`.
    pub(crate) fn in_bucket(bucket: Bucket, db: Snapshots) -> BlobStore {
        BlobStore::with(db, Large::Bucket(bucket))
    }

    fn with(db: Snapshots, large: Large) -> BlobStore {
        BlobStore {
            db,
            pending: Arc::default(),
            large,
        }
    }

    /// The file holding a large body, when large bodies are files here (written or
    /// not yet); small bodies have none.
    pub fn path(&self, id: &BlobId) -> Option<PathBuf> {
        match &self.large {
            Large::Files(files) => Some(files.path(id)),
            Large::Bucket(_) => None,
        }
    }

    /// The bucket of the large bodies, when they are objects.
    pub(crate) fn bucket(&self) -> Option<&Bucket> {
        match &self.large {
            Large::Files(_) => None,
            Large::Bucket(bucket) => Some(bucket),
        }
    }

    /// Stores bytes; idempotent. Durable once the next store commit returns (see the
    /// module doc); callers put a body before committing the record that names it.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        let id = BlobId::of(bytes);
        if bytes.len() <= INLINE_MAX {
            // Inserting the same bytes again under the same name changes nothing, so
            // there is no need to look for them first.
            lock(&self.pending).insert(id.clone(), Arc::from(bytes));
            return Ok(id);
        }
        match &self.large {
            Large::Files(files) => files.put(&id, bytes)?,
            Large::Bucket(bucket) => bucket.put(&object_key(&id), bytes)?,
        }
        Ok(id)
    }

    /// Makes every large body put so far durable: one flush of the files written
    /// since the last one; objects are durable once put.
    pub fn sync(&self) -> Result<(), StoreError> {
        match &self.large {
            Large::Files(files) => files.sync(),
            Large::Bucket(_) => Ok(()),
        }
    }

    /// For the group commit, before it commits `txn`: flushes the body files and
    /// inserts every small body put so far into `txn`. They stay readable from memory
    /// until [`BlobStore::committed`].
    pub(crate) fn stage(&self, txn: Writing<'_>) -> Result<Staged, StoreError> {
        self.sync()?;
        let staged: Vec<(BlobId, Arc<[u8]>)> = lock(&self.pending)
            .iter()
            .map(|(id, bytes)| (id.clone(), Arc::clone(bytes)))
            .collect();
        if !staged.is_empty() {
            let mut table = txn.table(BODIES)?;
            for (id, bytes) in &staged {
                table.insert(id.as_str(), &bytes[..])?;
            }
        }
        Ok(Staged(staged))
    }

    /// Releases from memory the small bodies of a commit that is now durable.
    pub(crate) fn committed(&self, staged: Staged) {
        let mut pending = lock(&self.pending);
        for (id, bytes) in staged.0 {
            // Put again meanwhile is the same bytes; either way it is now stored.
            if pending
                .get(&id)
                .is_some_and(|held| Arc::ptr_eq(held, &bytes))
            {
                pending.remove(&id);
            }
        }
    }

    /// Reads a body back, checking it still hashes to its name: a body damaged on disk
    /// is reported as `Corrupt`, never served as if it were the certified message.
    pub fn get(&self, id: &BlobId) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_unverified(id)?;
        if BlobId::of(&bytes) != *id {
            return Err(StoreError::Corrupt(format!(
                "body {} no longer matches its hash",
                id.as_str()
            )));
        }
        Ok(bytes)
    }

    /// Reads a body back without checking its hash: for serving a mailbox to its own
    /// IMAP client, which has always had the bytes and can check the gestore's S/MIME
    /// signature itself. Hashing every body on every FETCH cost more than reading it;
    /// Dovecot checks nothing either. Whatever certifies, relays or exports a message
    /// (conservation, receipts, the audit export) goes through [`BlobStore::get`].
    pub fn read_unverified(&self, id: &BlobId) -> Result<Vec<u8>, StoreError> {
        if let Some(bytes) = lock(&self.pending).get(id) {
            return Ok(bytes.to_vec());
        }
        if let Some(bytes) = self.inline(id)? {
            return Ok(bytes);
        }
        match &self.large {
            Large::Files(files) => files.read(id),
            Large::Bucket(bucket) => bucket.get(&object_key(id))?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "body {} is in neither the database nor the object store",
                    id.as_str()
                ))
            }),
        }
    }

    /// Where the small bodies are read, which is where the store reads.
    pub(crate) fn snapshots(&self) -> Snapshots {
        self.db.clone()
    }

    /// A small body from the database, if it is there.
    fn inline(&self, id: &BlobId) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.read(|tx| {
            let table = tx.table(BODIES)?;
            Ok(table.get(id.as_str())?.map(|bytes| bytes.value().to_vec()))
        })
    }
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("BlobStore");
        match &self.large {
            Large::Files(files) => debug.field("root", &files.root()),
            Large::Bucket(bucket) => debug.field("bucket", bucket),
        };
        debug.finish_non_exhaustive()
    }
}

/// A lock that survives a panicked holder: the map only ever holds whole entries.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The name of a large body in the bucket.
fn object_key(id: &BlobId) -> String {
    format!("bodies/{}", id.as_str())
}
