//! Authentication throttling per source address, shared by SMTP and IMAP.
//!
//! Password guessing is slowed down in two stages. After
//! [`ThrottlePolicy::delay_after_failures`] failures from one IP address, each further
//! attempt is delayed (linearly growing, capped); after
//! [`ThrottlePolicy::lock_after_failures`] failures the address is locked out for
//! [`ThrottlePolicy::lock_duration`]. A successful login resets the count. Failures are
//! forgotten once [`ThrottlePolicy::lock_duration`] has passed since the last one.
//!
//! The logic is pure: every method takes `now`, so tests need no clock. The drivers
//! sleep for the returned delay themselves.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;
use std::time::Instant;

/// How many addresses are remembered before expired entries are swept.
const SWEEP_THRESHOLD: usize = 4096;

/// The throttling limits; part of each listener's configuration.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ThrottlePolicy {
    /// Failures from one address before attempts start to be delayed.
    pub delay_after_failures: u32,
    /// Delay added per failure beyond `delay_after_failures`.
    pub delay_step: Duration,
    /// The longest delay ever returned.
    pub max_delay: Duration,
    /// Failures from one address before it is locked out.
    pub lock_after_failures: u32,
    /// How long a lock lasts, and how long a failure is remembered.
    pub lock_duration: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            delay_after_failures: 3,
            delay_step: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            lock_after_failures: 10,
            lock_duration: Duration::from_secs(15 * 60),
        }
    }
}

/// Failure counts per source address. Cheap to clone: clones share the counts.
#[derive(Clone, Debug)]
pub struct AuthThrottle {
    policy: ThrottlePolicy,
    entries: Arc<Mutex<HashMap<IpAddr, Entry>>>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
}

impl AuthThrottle {
    /// An empty throttle with the given limits.
    pub fn new(policy: ThrottlePolicy) -> Self {
        AuthThrottle {
            policy,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `ip` is locked out at `now`; a locked address must not even try.
    pub fn is_locked(&self, ip: IpAddr, now: Instant) -> bool {
        self.current(ip, now)
            .is_some_and(|entry| entry.failures >= self.policy.lock_after_failures)
    }

    /// How long to wait before checking the next attempt from `ip`.
    pub fn delay(&self, ip: IpAddr, now: Instant) -> Duration {
        let Some(entry) = self.current(ip, now) else {
            return Duration::ZERO;
        };
        let excess = entry
            .failures
            .saturating_sub(self.policy.delay_after_failures);
        if excess == 0 {
            return Duration::ZERO;
        }
        self.policy
            .delay_step
            .saturating_mul(excess)
            .min(self.policy.max_delay)
    }

    /// Records a failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= SWEEP_THRESHOLD {
            let lock_duration = self.policy.lock_duration;
            entries.retain(|_, entry| !expired(entry, lock_duration, now));
        }
        let entry = entries.entry(ip).or_insert(Entry {
            failures: 0,
            last_failure: now,
        });
        if expired(entry, self.policy.lock_duration, now) {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
    }

    /// Records a successful login from `ip`: its failures are forgotten.
    pub fn record_success(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    fn current(&self, ip: IpAddr, now: Instant) -> Option<Entry> {
        let entries = self.lock();
        let entry = entries.get(&ip)?;
        (!expired(entry, self.policy.lock_duration, now)).then_some(*entry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // The map holds plain counters; a panic elsewhere cannot leave it inconsistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expired(entry: &Entry, lock_duration: Duration, now: Instant) -> bool {
    now.saturating_duration_since(entry.last_failure) >= lock_duration
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> AuthThrottle {
        AuthThrottle::new(ThrottlePolicy {
            delay_after_failures: 2,
            delay_step: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
            lock_after_failures: 6,
            lock_duration: Duration::from_secs(60),
        })
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn delays_grow_after_the_threshold_and_are_capped() {
        let throttle = throttle();
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..6 {
            delays.push(throttle.delay(IP, now).as_secs());
            throttle.record_failure(IP, now);
        }
        assert_eq!(delays, [0, 0, 0, 1, 2, 3]);
        assert_eq!(throttle.delay(OTHER, now), Duration::ZERO);
    }

    #[test]
    fn locks_after_too_many_failures_until_the_lock_expires() {
        let throttle = throttle();
        let start = Instant::now();
        for _ in 0..5 {
            throttle.record_failure(IP, start);
        }
        assert!(!throttle.is_locked(IP, start));
        throttle.record_failure(IP, start);
        assert!(throttle.is_locked(IP, start));
        assert!(!throttle.is_locked(OTHER, start));
        assert!(throttle.is_locked(IP, start + Duration::from_secs(59)));
        assert!(!throttle.is_locked(IP, start + Duration::from_secs(60)));
        assert_eq!(
            throttle.delay(IP, start + Duration::from_secs(60)),
            Duration::ZERO
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let throttle = throttle();
        let start = Instant::now();
        for _ in 0..5 {
            throttle.record_failure(IP, start);
        }
        let later = start + Duration::from_secs(61);
        throttle.record_failure(IP, later);
        assert!(!throttle.is_locked(IP, later));
        assert_eq!(throttle.delay(IP, later), Duration::ZERO);
    }

    #[test]
    fn success_resets_and_clones_share_counts() {
        let throttle = throttle();
        let clone = throttle.clone();
        let now = Instant::now();
        for _ in 0..6 {
            clone.record_failure(IP, now);
        }
        assert!(throttle.is_locked(IP, now));
        throttle.record_success(IP);
        assert!(!clone.is_locked(IP, now));
    }
}
