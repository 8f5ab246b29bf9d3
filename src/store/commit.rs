//! Group commit: concurrent [`Store::write`](super::Store::write)s share one redb
//! transaction and one durable commit, so N submissions arriving together cost one
//! flush of the bodies and one fsync of the database instead of N of each.
//!
//! Writers run their closures one after another on the open transaction (redb has a
//! single writer anyway), so each sees the writes of those before it, exactly as if
//! they had committed one by one. The first writer to finish its closure becomes the
//! batch's committer: it lets writers already on their way join (never longer than
//! [`JOIN_WAIT`]), takes the transaction, adds the bodies put meanwhile
//! ([`BlobStore::stage`](super::blobs::BlobStore::stage): small ones inserted in it,
//! files flushed) and commits. Everyone in the
//! batch returns only after that commit: nothing is acknowledged before it is durable.
//!
//! A closure that fails aborts the transaction, which also holds the writes of the
//! batch members before it. The failing writer gets its own error (a serial run after
//! those members would have failed the same way, since it saw their writes); the others
//! learn their batch was aborted and run their closures again in a later batch, which
//! is why closures are `Fn`: they keep their effects inside the transaction.
//!
//! Every commit is durable, since a writer acknowledges what it wrote as soon as it
//! returns; batching by sharing the transaction keeps that, where the usual batching
//! by commits without fsync would not.

use std::panic;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use redb::WriteTransaction;

use super::StoreError;
use super::Tx;
use super::Writer;
use super::blobs::BlobStore;
use super::kv::Writing;
use super::signal::Touched;

/// The longest a committer waits for writers already inside [`GroupCommit::write`].
const JOIN_WAIT: Duration = Duration::from_millis(4);
/// The most closures in one transaction (here and on the committer thread).
pub(super) const MAX_BATCH: usize = 256;

/// The shared state of the group commit.
#[derive(Default)]
pub(crate) struct GroupCommit {
    open: Mutex<Open>,
    /// Signalled when a writer has run its closure.
    ran: Condvar,
    /// Writers between entering `write` and having run their closure.
    arriving: AtomicUsize,
    /// Held by the one committer at a time.
    flush: Mutex<Flushed>,
}

/// The transaction being filled.
#[derive(Default)]
struct Open {
    txn: Option<WriteTransaction>,
    /// The batch `txn` belongs to; batches are numbered from 1 and finish in order.
    batch: u64,
    /// Closures that ran successfully in `txn`.
    members: usize,
    /// The mailboxes those closures changed: what the commit signals.
    touched: Touched,
    /// Batches aborted by a failing closure, with how many members still must learn it.
    aborted: Vec<(u64, usize)>,
}

/// What became of the batches that left the open transaction.
#[derive(Default)]
struct Flushed {
    /// The last batch that finished (committed or failed).
    finished: u64,
    /// Batches whose commit failed: (batch, members still to learn it, the error).
    failed: Vec<(u64, usize, Arc<StoreError>)>,
}

/// How a member's batch ended.
pub(super) enum Outcome {
    Committed,
    Aborted,
    Failed(Arc<StoreError>),
}

impl GroupCommit {
    /// Runs `work` in a shared transaction and returns once that transaction is durably
    /// committed; `on_commit` runs after each commit this writer makes, with how long the
    /// commit took, how many writers it held and the mailboxes they changed.
    pub(crate) fn write<T>(
        &self,
        db: &Writer,
        blobs: &BlobStore,
        on_commit: impl Fn(Duration, usize, &Touched),
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        loop {
            let (value, batch) = self.run(db, &work)?;
            match self.finish(batch, blobs, &on_commit)? {
                Outcome::Committed => return Ok(value),
                Outcome::Failed(error) => return Err(StoreError::Batch(error)),
                Outcome::Aborted => continue,
            }
        }
    }

    /// Runs the closure on the open transaction (beginning one if needed).
    pub(super) fn run<T>(
        &self,
        db: &Writer,
        work: &impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<(T, u64), StoreError> {
        self.arriving.fetch_add(1, Ordering::AcqRel);
        let mut open = lock(&self.open);
        let result = (|| {
            if open.txn.is_none() {
                // Blocks while the previous batch commits; the writers queued behind
                // this lock meanwhile form the next batch.
                open.txn = Some(db.begin()?);
                open.batch += 1;
                open.members = 0;
                open.touched.clear();
            }
            let txn = open.txn.as_ref().ok_or_else(out_of_step)?;
            let mut tx = Tx::new(Writing::Embedded(txn));
            let ran = panic::catch_unwind(AssertUnwindSafe(|| work(&mut tx)));
            let touched = tx.into_touched();
            let ran = ran.unwrap_or_else(|payload| {
                // A panicking closure's writes must not reach the batch's commit.
                abort(&mut open);
                self.arriving.fetch_sub(1, Ordering::AcqRel);
                self.ran.notify_all();
                panic::resume_unwind(payload)
            });
            match ran {
                Ok(value) => {
                    open.members += 1;
                    open.touched.extend(touched);
                    Ok((value, open.batch))
                }
                Err(error) => {
                    abort(&mut open);
                    Err(error)
                }
            }
        })();
        self.arriving.fetch_sub(1, Ordering::AcqRel);
        drop(open);
        self.ran.notify_all();
        result
    }

    /// Waits for `batch` to end, committing it if no one else has.
    pub(super) fn finish(
        &self,
        batch: u64,
        blobs: &BlobStore,
        on_commit: &impl Fn(Duration, usize, &Touched),
    ) -> Result<Outcome, StoreError> {
        let mut flushed = lock(&self.flush);
        if let Some(error) = take_failed(&mut flushed.failed, batch) {
            return Ok(Outcome::Failed(error));
        }
        let mut open = lock(&self.open);
        if take_aborted(&mut open.aborted, batch) {
            return Ok(Outcome::Aborted);
        }
        if flushed.finished >= batch {
            return Ok(Outcome::Committed);
        }
        // This writer commits the batch: first let those already on their way join.
        let deadline = Instant::now() + JOIN_WAIT;
        while self.arriving.load(Ordering::Acquire) > 0 && open.members < MAX_BATCH {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            open = match self.ran.wait_timeout(open, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        // A joiner may have failed meanwhile, aborting this batch.
        if take_aborted(&mut open.aborted, batch) {
            return Ok(Outcome::Aborted);
        }
        if open.batch != batch {
            return Err(out_of_step());
        }
        let txn = open.txn.take().ok_or_else(out_of_step)?;
        let members = std::mem::take(&mut open.members);
        let touched = std::mem::take(&mut open.touched);
        drop(open);
        let started = Instant::now();
        let committed = blobs
            .stage(Writing::Embedded(&txn))
            .and_then(|staged| txn.commit().map_err(db_error).map(|()| staged));
        flushed.finished = batch;
        match committed {
            Ok(staged) => {
                blobs.committed(staged);
                on_commit(started.elapsed(), members, &touched);
                Ok(Outcome::Committed)
            }
            Err(error) if members > 1 => {
                let shared = Arc::new(error);
                flushed
                    .failed
                    .push((batch, members - 1, Arc::clone(&shared)));
                Err(StoreError::Batch(shared))
            }
            Err(error) => Err(error),
        }
    }
}

/// Aborts the open transaction and tells its members to run again.
fn abort(open: &mut Open) {
    if let Some(txn) = open.txn.take() {
        // Nothing of the batch is kept; an abort that fails leaves nothing either
        // (redb discards an uncommitted transaction when it is dropped).
        let _ = txn.abort();
    }
    open.touched.clear();
    if open.members > 0 {
        let entry = (open.batch, std::mem::take(&mut open.members));
        open.aborted.push(entry);
    }
}

/// Removes one member's share of an aborted batch; true if `batch` was aborted.
fn take_aborted(aborted: &mut Vec<(u64, usize)>, batch: u64) -> bool {
    let Some(at) = aborted.iter().position(|(b, _)| *b == batch) else {
        return false;
    };
    aborted[at].1 -= 1;
    if aborted[at].1 == 0 {
        aborted.swap_remove(at);
    }
    true
}

/// Removes one member's share of a failed commit; its error if `batch` failed.
fn take_failed(
    failed: &mut Vec<(u64, usize, Arc<StoreError>)>,
    batch: u64,
) -> Option<Arc<StoreError>> {
    let at = failed.iter().position(|(b, _, _)| *b == batch)?;
    let error = failed[at].2.clone();
    failed[at].1 -= 1;
    if failed[at].1 == 0 {
        failed.swap_remove(at);
    }
    Some(error)
}

/// A lock that survives a panicked holder: the state it guards is only counters and
/// an uncommitted transaction, both still meaningful.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn db_error<E: Into<redb::Error>>(error: E) -> StoreError {
    StoreError::Database(error.into())
}

fn out_of_step() -> StoreError {
    StoreError::Internal("group commit out of step")
}

#[cfg(test)]
pub(super) mod tests;
