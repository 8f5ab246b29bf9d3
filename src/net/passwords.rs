//! Password checks on a small fixed set of threads. argon2id needs 19 MiB of working
//! memory per check; run on the blocking pool, every one of its many threads would keep
//! some (docs/performance.md). Two threads bound that to two, two cores cannot check
//! faster anyway, and a thread idle for a moment gives its share back.
//!
//! The queue has no bound of its own: every login is admitted by
//! [`crate::net::throttle`] first, which bounds the checks waiting or running
//! (`[login] max_pending_checks`) and answers the rest with a temporary refusal.
//!
//! Where passwords are kept is the caller's business: it passes the lookup, so the
//! network layer does not depend on the store.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use tokio::sync::oneshot;

/// One check: the caller's lookup, already bound to the user and password, sending its
/// answer back itself.
type Job = Box<dyn FnOnce() + Send>;

/// The password checkers; cheap to clone.
#[derive(Clone)]
pub struct PasswordChecks {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for PasswordChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChecks")
    }
}

/// How long a checker thread keeps what its checks hold (argon2's working memory)
/// after the last one: long enough to serve a burst of logins from it, short enough
/// that an idle server holds none of it.
const KEEP_AFTER_CHECK: Duration = Duration::from_secs(2);

/// How long a checker waits for a job with the queue's lock held, before letting the
/// other checkers have a turn (so each notices when it has been idle).
const TURN: Duration = Duration::from_millis(500);

impl PasswordChecks {
    /// Starts `threads` checker threads (at least one).
    pub fn start(threads: usize) -> PasswordChecks {
        PasswordChecks::start_releasing(threads, || {})
    }

    /// Starts `threads` checker threads (at least one), each calling `release` once it
    /// has had no check for [`KEEP_AFTER_CHECK`], to give back what its checks keep.
    pub fn start_releasing(threads: usize, release: fn()) -> PasswordChecks {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pecd-password-{n}"))
                .spawn(move || check_jobs(&queue, release));
            if let Err(error) = spawned {
                tracing::error!(%error, "password checker thread not started");
            }
        }
        PasswordChecks { jobs }
    }

    /// What `lookup` answers, on a checker thread, about `password` for `user`
    /// (unknown users must cost the lookup the same as known ones); `None` when no
    /// checker is left to ask.
    pub async fn check<L, T>(&self, lookup: L, user: &str, password: &str) -> Option<T>
    where
        L: FnOnce(&str, &str) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let (user, password) = (user.to_string(), password.to_string());
        let job: Job = Box::new(move || {
            let _ = reply.send(lookup(&user, &password));
        });
        if self.jobs.send(job).is_err() {
            return None;
        }
        answer.await.ok()
    }
}

/// A checker thread: takes jobs until the queue is gone, and calls `release` once it
/// has been idle for [`KEEP_AFTER_CHECK`] after a check.
fn check_jobs(queue: &Mutex<mpsc::Receiver<Job>>, release: fn()) {
    let mut last_check: Option<Instant> = None;
    loop {
        // The lock is held only to take the next job, or for one turn of waiting.
        let job = match queue.lock() {
            Ok(queue) => queue.recv_timeout(TURN),
            Err(_) => return,
        };
        match job {
            Ok(job) => {
                job();
                last_check = Some(Instant::now());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if last_check.is_some_and(|at| at.elapsed() >= KEEP_AFTER_CHECK) {
                    release();
                    last_check = None;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;

    use super::*;

    static RELEASED: AtomicUsize = AtomicUsize::new(0);

    fn count_release() {
        RELEASED.fetch_add(1, Ordering::SeqCst);
    }

    /// A checker keeps what its checks hold through a burst and gives it back once
    /// idle, once.
    #[tokio::test]
    async fn an_idle_checker_releases_once() {
        let checks = PasswordChecks::start_releasing(1, count_release);
        let same = |u: &str, p: &str| (u == p).then_some(());
        assert!(checks.check(same, "a", "a").await.flatten().is_some());
        assert!(checks.check(same, "a", "b").await.flatten().is_none());
        assert_eq!(RELEASED.load(Ordering::SeqCst), 0, "kept through the burst");
        tokio::time::sleep(KEEP_AFTER_CHECK + TURN * 3).await;
        assert_eq!(RELEASED.load(Ordering::SeqCst), 1);
        tokio::time::sleep(TURN * 3).await;
        assert_eq!(
            RELEASED.load(Ordering::SeqCst),
            1,
            "released once per idle spell"
        );
    }
}
