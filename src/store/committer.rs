//! The committer thread: writes whose closures own what they use
//! ([`Store::write_owned`](super::Store::write_owned)) are run by one thread, in
//! batches, and committed together.
//!
//! [`GroupCommit`](super::commit) shares one transaction among writers that each run
//! their closure on their own thread, so a batch of N is handed from thread to thread
//! N times, and under load every hop waits for a core behind the signing work, on the
//! store's serial path (closures, then the flush) that every message crosses. Here the
//! messages' hot paths send their closures to a thread that runs every closure
//! waiting, back to back, and commits once; the writers only wait for the outcome.
//!
//! Same guarantees as the group commit: a writer returns only after the commit that
//! holds its writes is durable; a closure that fails aborts the transaction, gets its
//! own error, and the others run again in a fresh one (closures are `Fn` and keep
//! their effects inside the transaction). The two paths share redb's single write
//! transaction, one after the other.

use std::any::Any;
use std::panic;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::Instant;

use super::StoreError;
use super::Tx;
use super::Writer;
use super::blobs::BlobStore;
use super::commit::MAX_BATCH;
use super::db;
use super::kv::Writing;
use super::signal::Touched;

type Value = Box<dyn Any + Send>;
type Work = Box<dyn Fn(&mut Tx<'_>) -> Result<Value, StoreError> + Send>;

struct Job {
    work: Work,
    done: mpsc::SyncSender<Result<Value, StoreError>>,
}

/// The thread and the way to it; dropping it stops the thread and waits for it.
pub(crate) struct Committer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the thread for `db`; `on_commit` runs after each of its commits, with how
    /// long the commit took, how many writes it held and the mailboxes they changed.
    pub(crate) fn start(
        db: Writer,
        blobs: BlobStore,
        on_commit: impl Fn(Duration, usize, &Touched) + Send + 'static,
    ) -> Result<Committer, StoreError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("pecd-commit".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match receiver.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    // The thread outlives a panic in redb or the blob store: every job
                    // not yet answered learns that its write failed (a job answered
                    // already keeps its answer: the channel holds one).
                    let answers: Vec<_> = batch.iter().map(|job| job.done.clone()).collect();
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                        commit(&db, &blobs, batch, &on_commit);
                    }));
                    if ran.is_err() {
                        tracing::error!("a commit panicked; its writes were not acknowledged");
                        for answer in answers {
                            let _ = answer
                                .try_send(Err(StoreError::Internal("the store's commit panicked")));
                        }
                    }
                }
            })
            .map_err(|source| StoreError::Io {
                context: "starting the committer thread".into(),
                source,
            })?;
        Ok(Committer {
            jobs: Some(sender),
            thread: Some(thread),
        })
    }

    /// Runs `work` in the committer's next transaction; returns once it is durable.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        let job = Job {
            work: Box::new(move |tx: &mut Tx<'_>| work(tx).map(|value| Box::new(value) as Value)),
            done,
        };
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(stopped());
        }
        let value = outcome.recv().map_err(|_| stopped())??;
        value
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| StoreError::Internal("committer returned another type"))
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the jobs sent are done; waiting for
        // it releases its handle on the database before the store is reopened.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            // A closure owning the last handle to the store would drop it on the
            // committer itself, which must not wait for its own end.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Runs a batch in one transaction and commits it, rerunning the rest without any
/// closure that fails; every job learns its outcome. Only the attempt that commits
/// says which mailboxes changed.
fn commit(
    database: &Writer,
    blobs: &BlobStore,
    mut batch: Vec<Job>,
    on_commit: &impl Fn(Duration, usize, &Touched),
) {
    'attempt: while !batch.is_empty() {
        let txn = match database.begin() {
            Ok(txn) => txn,
            Err(error) => return fail(batch, error),
        };
        let mut values = Vec::with_capacity(batch.len());
        let mut touched = Touched::new();
        for at in 0..batch.len() {
            let work = &batch[at].work;
            let mut tx = Tx::new(Writing::Embedded(&txn));
            let ran = panic::catch_unwind(AssertUnwindSafe(|| work(&mut tx)))
                .unwrap_or_else(|_| Err(StoreError::Internal("a store write panicked")));
            let marked = tx.into_touched();
            match ran {
                Ok(value) => {
                    values.push(value);
                    touched.extend(marked);
                }
                Err(error) => {
                    // Nothing of the batch is kept; the others run again without it.
                    let _ = txn.abort();
                    let failed = batch.remove(at);
                    let _ = failed.done.send(Err(error));
                    continue 'attempt;
                }
            }
        }
        let started = Instant::now();
        let committed = blobs
            .stage(Writing::Embedded(&txn))
            .and_then(|staged| txn.commit().map_err(db).map(|()| staged));
        match committed {
            Ok(staged) => {
                let size = batch.len();
                // Answered first: whatever happens after a durable commit, no writer is
                // told its write failed.
                for (job, value) in batch.into_iter().zip(values) {
                    let _ = job.done.send(Ok(value));
                }
                blobs.committed(staged);
                on_commit(started.elapsed(), size, &touched);
            }
            Err(error) => fail(batch, error),
        }
        return;
    }
}

fn fail(batch: Vec<Job>, error: StoreError) {
    let shared = Arc::new(error);
    for job in batch {
        let _ = job.done.send(Err(StoreError::Batch(Arc::clone(&shared))));
    }
}

fn stopped() -> StoreError {
    StoreError::Internal("the committer thread stopped")
}

#[cfg(test)]
mod tests;
