//! Password checks on a small fixed set of threads. argon2id allocates its working
//! memory per check; run on the blocking pool, every one of its many threads would keep
//! its own malloc arena holding that memory (docs/performance.md). Two threads bound
//! that to two arenas, and two cores cannot check faster anyway.
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

use tokio::sync::oneshot;

/// One check: the caller's lookup, already bound to the user and password.
type Verify = Box<dyn FnOnce() -> bool + Send>;

struct Job {
    verify: Verify,
    reply: oneshot::Sender<bool>,
}

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

impl PasswordChecks {
    /// Starts `threads` checker threads (at least one).
    pub fn start(threads: usize) -> PasswordChecks {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pecd-password-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let _ = job.reply.send((job.verify)());
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "password checker thread not started");
            }
        }
        PasswordChecks { jobs }
    }

    /// Whether `password` is `user`'s, by `lookup` on a checker thread (unknown users
    /// must cost the lookup the same and answer false).
    pub async fn check<L>(&self, lookup: L, user: &str, password: &str) -> bool
    where
        L: FnOnce(&str, &str) -> bool + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let (user, password) = (user.to_string(), password.to_string());
        let job = Job {
            verify: Box::new(move || lookup(&user, &password)),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}
