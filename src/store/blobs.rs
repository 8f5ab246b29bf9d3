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
//! A larger body is a read-only file under one of 256 folders (`ab/abcd…`), written to
//! a temporary file and renamed into place; the group commit calls
//! [`BlobStore::sync`] (one `syncfs` of the filesystem) before the redb commit, so such
//! a body is durable before any committed record points at it. An unreferenced body
//! left by a crash is harmless; a torn file (renamed but never flushed) is found by its
//! hash and rewritten the next time the same bytes are put.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::kv::Snapshots;
use crate::store::kv::Writing;

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

/// The bodies: small ones in the database, large ones in files (see the module doc).
#[derive(Clone)]
pub struct BlobStore {
    root: PathBuf,
    db: Snapshots,
    /// Small bodies put but not yet committed, inserted by the next group commit.
    pending: Arc<Mutex<HashMap<BlobId, Arc<[u8]>>>>,
    /// Files written (`written`) and covered by a completed [`BlobStore::sync`]
    /// (`synced`), so a commit with no new file skips the flush.
    written: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
}

/// Small bodies taken by a group commit ([`BlobStore::stage`]), released from memory
/// once that commit is durable ([`BlobStore::committed`]).
pub(crate) struct Staged(Vec<(BlobId, Arc<[u8]>)>);

impl BlobStore {
    /// Opens (creating) the folder of large bodies and its 256 subfolders, so writing
    /// a body never creates a directory; small bodies go to `db`.
    pub(crate) fn open(root: &Path, db: Snapshots) -> Result<BlobStore, StoreError> {
        let mut created = false;
        for byte in 0..=255u8 {
            let dir = root.join(format!("{byte:02x}"));
            if !dir.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|source| io(format!("creating {}", dir.display()), source))?;
                created = true;
            }
        }
        // New subfolders must survive a crash before any body is put in them.
        if created {
            sync_filesystem(root)?;
        }
        Ok(BlobStore {
            root: root.to_path_buf(),
            db,
            pending: Arc::default(),
            written: Arc::new(AtomicU64::new(0)),
            synced: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where a large body lives: `ab/abcd…`, or `ab/cd/abcd…` for bodies written
    /// before the layout had one level (still read, never written). Small bodies have
    /// no file.
    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.existing(id).unwrap_or_else(|| self.home(id))
    }

    /// The file holding a body, if there is one, in either layout.
    fn existing(&self, id: &BlobId) -> Option<PathBuf> {
        let hex = id.as_str();
        [
            self.home(id),
            self.root.join(&hex[..2]).join(&hex[2..4]).join(hex),
        ]
        .into_iter()
        .find(|path| path.exists())
    }

    /// Where a body is written.
    fn home(&self, id: &BlobId) -> PathBuf {
        let hex = id.as_str();
        self.root.join(&hex[..2]).join(hex)
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
        if let Some(existing) = self.existing(&id) {
            match fs::read(&existing) {
                // Present and whole. Its flush may still be pending (written by a run
                // that crashed, still in the page cache), so the next sync covers it.
                Ok(found) if found == bytes => {
                    self.written.fetch_add(1, Ordering::AcqRel);
                    return Ok(id);
                }
                // Torn by a crash: replaced below (the rename overwrites it).
                _ => {}
            }
        }
        let path = self.home(&id);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let temp = dir.join(format!(".{}.tmp-{}", id.as_str(), std::process::id()));
        let write = || -> std::io::Result<()> {
            let _ = fs::remove_file(&temp);
            // Read-only from birth (the open descriptor may still write it), and
            // only for the daemon's user: bodies are people's mail.
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&temp)?;
            file.write_all(bytes)?;
            fs::rename(&temp, &path)
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&temp);
            io(format!("writing {}", path.display()), source)
        })?;
        self.written.fetch_add(1, Ordering::AcqRel);
        Ok(id)
    }

    /// Makes every body file put so far durable (one `syncfs`); a no-op when none was
    /// put since the last sync.
    pub fn sync(&self) -> Result<(), StoreError> {
        let written = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= written {
            return Ok(());
        }
        sync_filesystem(&self.root)?;
        self.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
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
        let path = self.path(id);
        fs::read(&path).map_err(|source| io(format!("reading {}", path.display()), source))
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
        f.debug_struct("BlobStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A lock that survives a panicked holder: the map only ever holds whole entries.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Flushes the whole filesystem holding `root`: file data, new names, directories.
/// `syncfs(2)` rather than an fsync per file and folder: one device flush per batch.
fn sync_filesystem(root: &Path) -> Result<(), StoreError> {
    let dir =
        fs::File::open(root).map_err(|source| io(format!("opening {}", root.display()), source))?;
    rustix::fs::syncfs(&dir).map_err(|errno| {
        io(
            format!("flushing {}", root.display()),
            std::io::Error::from(errno),
        )
    })
}

fn io(context: String, source: std::io::Error) -> StoreError {
    StoreError::Io { context, source }
}
