//! The database file under redb, with the space it grows into written before use.
//!
//! redb grows its file with `set_len`, which leaves a hole: the first write into a hole
//! makes the filesystem allocate blocks, and the next `fdatasync` must then also write
//! the allocation (block bitmaps, extent tree, inode) and wait for each in turn (ext4
//! without a journal: four waits instead of one). Writing zeros a little ahead of the
//! highest page redb has written moves that allocation into an occasional larger write,
//! so the fsync of an ordinary commit carries only the commit's own pages.
//!
//! Durability is unchanged: every byte redb writes still goes through [`FileBackend`]
//! and its `sync_data`. The zeros only ever land where redb has written nothing since
//! the file was opened, and zeros are what a hole reads as anyway.

use std::fs::File;
use std::io;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use redb::BackendError;
use redb::StorageBackend;
use redb::backends::FileBackend;

/// How far past the highest written byte the file is made real at a time.
const AHEAD: u64 = 1 << 20;
/// What the growth is written with, a block at a time.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// [`FileBackend`] with the growth of the file written ahead of use.
#[derive(Debug)]
pub(super) struct WrittenAhead {
    inner: FileBackend,
    /// The same file, for writing the zeros.
    file: File,
    /// Everything below this offset is redb's data or zeros we wrote; nothing at or
    /// above it has been written through this backend.
    ready: Mutex<u64>,
}

impl WrittenAhead {
    /// Wraps the open database `file`.
    pub(super) fn new(file: File) -> Result<WrittenAhead, redb::DatabaseError> {
        let ready = file.metadata()?.len();
        let zeros_handle = file.try_clone()?;
        Ok(WrittenAhead {
            inner: FileBackend::new(file)?,
            file: zeros_handle,
            ready: Mutex::new(ready),
        })
    }

    /// Makes `[ready, end + AHEAD)` real (never past the file's length) before a write
    /// that ends at `end`.
    fn prepare(&self, end: u64) -> io::Result<()> {
        let mut ready = match self.ready.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if end <= *ready {
            return Ok(());
        }
        let target = self.inner.len()?.min(end.saturating_add(AHEAD)).max(end);
        let mut at = *ready;
        while at < target {
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        *ready = target;
        Ok(())
    }
}

impl StorageBackend for WrittenAhead {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut ready = match self.ready.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A shrink gives space back; growing again makes a new hole there.
        *ready = (*ready).min(len);
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.prepare(offset.saturating_add(data.len() as u64))?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
