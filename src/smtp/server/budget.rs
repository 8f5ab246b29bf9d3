//! The memory MX sessions may hold in message bodies, one budget for all of them.
//!
//! Nobody answers for a peer at the MX, and a body is held whole until the provider has
//! taken it, so without a shared bound a crowd of sessions could make the process hold
//! as many maximal messages as it has connections. Each session reserves bytes as its
//! body grows and gives them back once the provider is done with the message. The
//! budget is a semaphore whose permits are bytes; a session that finds no room is
//! refused (a transient `452`) rather than made to wait, so slow senders cannot queue
//! up behind it.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The bytes all sessions of a listener may hold at once.
#[derive(Clone, Debug)]
pub struct InFlight {
    bytes: Arc<Semaphore>,
}

/// What one message holds of an [`InFlight`] budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Semaphore>,
    held: usize,
}

impl InFlight {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> InFlight {
        InFlight {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// An empty reservation against this budget.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.bytes.clone(),
            held: 0,
        }
    }

    /// The bytes no message holds.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

impl Reservation {
    /// Holds exactly `bytes`, giving back or taking the difference. Returns `false`,
    /// holding what it held, when the budget has no room for the growth.
    pub fn resize(&mut self, bytes: usize) -> bool {
        if bytes <= self.held {
            self.budget.add_permits(self.held - bytes);
            self.held = bytes;
            return true;
        }
        let Ok(more) = u32::try_from(bytes - self.held) else {
            return false;
        };
        match self.budget.try_acquire_many(more) {
            Ok(permits) => {
                // Counted in `held` from here on, and given back by `resize` or drop.
                permits.forget();
                self.held = bytes;
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.add_permits(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let budget = InFlight::new(1000);
        let mut first = budget.reservation();
        let mut second = budget.reservation();
        assert!(first.resize(600));
        assert!(!second.resize(500), "only 400 left");
        assert!(second.resize(400));
        assert_eq!(budget.available(), 0);
        assert!(first.resize(100));
        assert!(second.resize(900));
        drop(second);
        assert_eq!(budget.available(), 900);
        drop(first);
        assert_eq!(budget.available(), 1000);
    }
}
