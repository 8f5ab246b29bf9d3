//! Message bodies as immutable, content-addressed files: named by their SHA-256, written
//! to a temporary file, fsynced, renamed into place, the directory fsynced, then made
//! read-only. A body is durable before any record points at it; an unreferenced body
//! left by a crash is harmless.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

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
        BlobId(
            openssl::sha::sha256(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
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
}

impl BlobStore {
    /// Opens (creating) the folder.
    pub fn open(root: &Path) -> Result<BlobStore, StoreError> {
        fs::create_dir_all(root)
            .map_err(|source| io(format!("creating {}", root.display()), source))?;
        Ok(BlobStore {
            root: root.to_path_buf(),
        })
    }

    /// Where a body lives: `ab/cd/abcd…`.
    pub fn path(&self, id: &BlobId) -> PathBuf {
        let hex = id.as_str();
        self.root.join(&hex[..2]).join(&hex[2..4]).join(hex)
    }

    /// Stores bytes durably; idempotent.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        let id = BlobId::of(bytes);
        let path = self.path(&id);
        if path.exists() {
            return Ok(id);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)
            .map_err(|source| io(format!("creating {}", dir.display()), source))?;
        let temp = dir.join(format!(".{}.tmp-{}", id.as_str(), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            let mut permissions = file.metadata()?.permissions();
            permissions.set_readonly(true);
            fs::set_permissions(&temp, permissions)?;
            fs::rename(&temp, &path)?;
            fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&temp);
            io(format!("writing {}", path.display()), source)
        })?;
        Ok(id)
    }

    /// Reads a body back.
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

fn io(context: String, source: std::io::Error) -> StoreError {
    StoreError::Io { context, source }
}
