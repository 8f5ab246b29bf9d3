//! Message bodies as immutable, content-addressed files: named by their SHA-256 under
//! one of 256 folders (`ab/abcd…`), written to a temporary file and renamed into place,
//! read-only.
//!
//! Durability is batched with the metadata: [`BlobStore::put`] does not fsync; the
//! store's group commit calls [`BlobStore::sync`] (one `syncfs` of the filesystem)
//! before every redb commit, so a body is durable before any committed record points
//! at it, and one flush covers every body of a batch instead of two fsyncs per body.
//! An unreferenced body left by a crash is harmless; a torn one (renamed but never
//! flushed) is found by its hash and rewritten the next time the same bytes are put.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde::Serialize;

use crate::store::StoreError;

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

/// The folder of bodies.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    /// Bodies written (`written`) and covered by a completed [`BlobStore::sync`]
    /// (`synced`), so a commit with no new body skips the flush.
    written: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
}

impl BlobStore {
    /// Opens (creating) the folder and its 256 subfolders, so writing a body never
    /// creates a directory.
    pub fn open(root: &Path) -> Result<BlobStore, StoreError> {
        let mut created = false;
        for byte in 0..=255u8 {
            let dir = root.join(format!("{byte:02x}"));
            if !dir.is_dir() {
                fs::create_dir_all(&dir)
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
            written: Arc::new(AtomicU64::new(0)),
            synced: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where a body lives: `ab/abcd…`, or `ab/cd/abcd…` for bodies written before the
    /// layout had one level (still read, never written).
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
            // Read-only from birth: the open descriptor may still write it.
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
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

    /// Makes every body put so far durable (one `syncfs`); a no-op when none was put
    /// since the last sync.
    pub fn sync(&self) -> Result<(), StoreError> {
        let written = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= written {
            return Ok(());
        }
        sync_filesystem(&self.root)?;
        self.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    /// Reads a body back, checking it still hashes to its name: a body damaged on disk
    /// is reported as `Corrupt`, never served as if it were the certified message.
    pub fn get(&self, id: &BlobId) -> Result<Vec<u8>, StoreError> {
        let path = self.path(id);
        let bytes =
            fs::read(&path).map_err(|source| io(format!("reading {}", path.display()), source))?;
        if BlobId::of(&bytes) != *id {
            return Err(StoreError::Corrupt(format!(
                "{} no longer matches its hash",
                path.display()
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
        let path = self.path(id);
        fs::read(&path).map_err(|source| io(format!("reading {}", path.display()), source))
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
