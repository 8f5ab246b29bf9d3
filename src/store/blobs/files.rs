//! Large bodies as files: a read-only file each under one of 256 folders
//! (`ab/abcd…`), written to a temporary file and renamed into place. The group commit
//! calls [`Files::sync`] (one `syncfs` of the filesystem) before the database commit,
//! so such a body is durable before any committed record points at it. An
//! unreferenced body left by a crash is harmless; a torn file (renamed but never
//! flushed) is found by its hash and rewritten the next time the same bytes are put.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use super::BlobId;
use crate::store::StoreError;

/// The folder of large bodies.
#[derive(Clone)]
pub(super) struct Files {
    root: PathBuf,
    /// Files written (`written`) and covered by a completed [`Files::sync`]
    /// (`synced`), so a commit with no new file skips the flush.
    written: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
}

impl Files {
    /// Opens (creating) the folder and its 256 subfolders, so writing a body never
    /// creates a directory.
    pub(super) fn open(root: &Path) -> Result<Files, StoreError> {
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
        Ok(Files {
            root: root.to_path_buf(),
            written: Arc::new(AtomicU64::new(0)),
            synced: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where a body lives: `ab/abcd…`, or `ab/cd/abcd…` for bodies written before the
    /// layout had one level (still read, never written).
    pub(super) fn path(&self, id: &BlobId) -> PathBuf {
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

    /// Writes the file of `bytes`, named `id`, unless it is already there and whole.
    pub(super) fn put(&self, id: &BlobId, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(existing) = self.existing(id) {
            match fs::read(&existing) {
                // Present and whole. Its flush may still be pending (written by a run
                // that crashed, still in the page cache), so the next sync covers it.
                Ok(found) if found == bytes => {
                    self.written.fetch_add(1, Ordering::AcqRel);
                    return Ok(());
                }
                // Torn by a crash: replaced below (the rename overwrites it).
                _ => {}
            }
        }
        let path = self.home(id);
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
        Ok(())
    }

    /// Makes every file put so far durable (one `syncfs`); a no-op when none was put
    /// since the last sync.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        let written = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= written {
            return Ok(());
        }
        sync_filesystem(&self.root)?;
        self.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    /// The bytes of the file named `id`.
    pub(super) fn read(&self, id: &BlobId) -> Result<Vec<u8>, StoreError> {
        let path = self.path(id);
        fs::read(&path).map_err(|source| io(format!("reading {}", path.display()), source))
    }

    /// The folder, for messages.
    pub(super) fn root(&self) -> &Path {
        &self.root
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
