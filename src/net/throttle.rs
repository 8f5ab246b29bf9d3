//! Authentication throttling, shared by SMTP AUTH and IMAP LOGIN/AUTHENTICATE.
//!
//! Failures are counted under three keys, each a leaky bucket with its own cap:
//!
//! * the source address (IPv6 by its /64, the smallest block one client is given),
//!   across accounts: one address cannot try many accounts;
//! * the (address, account) pair: one address cannot hammer one account;
//! * the account, across addresses: many addresses (a botnet) cannot either. Its
//!   bucket drains slowly, so a distributed attacker gets a few guesses an hour. An
//!   address from which the account logged in recently is *trusted* for it and not
//!   held by this lock, so an attacker elsewhere cannot lock the owner out.
//!
//! A bucket forgets one failure per release interval; once it reaches its cap it is
//! locked until it has drained completely. A successful login takes back only its own
//! reservation and clears only its own (address, account) pair: logging in to one's own
//! mailbox never clears what was counted against another.
//!
//! The check and the record are one step: [`AuthThrottle::admit`] counts the failure
//! before the password is checked, under one lock, and [`Attempt::succeeded`] takes it
//! back. However many attempts arrive at once, no more than a cap's worth are ever
//! checked. Admission also bounds the password checks running or about to run
//! ([`ThrottlePolicy::max_pending_checks`]), so a flood of logins cannot queue unbounded
//! argon2 work: beyond the bound the client is told to retry later, and nothing is
//! counted. An attempt that must first wait ([`Attempt::delay`]) takes its slot only
//! after the wait ([`Attempt::after_delay`]), so an attacker's delayed attempts cannot
//! fill the slots everyone else's logins need.
//!
//! Memory is bounded: each table holds at most [`ThrottlePolicy::max_tracked`] keys.
//! When one is full, drained entries go first, then those closest to draining, so a
//! spray of fresh accounts or addresses (one failure each) evicts its own kind before it
//! can evict a bucket that has been counting for a while.
//!
//! The logic is pure: every method takes `now`, so tests need no clock. The drivers
//! sleep for [`Attempt::delay`] themselves.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hash::Hash;
use std::hash::Hasher;
use std::hash::RandomState;
use std::net::IpAddr;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::PoisonError;
use std::time::Duration;
use std::time::Instant;

use crate::net::listener::client_block;

/// The throttling limits (`[login]` in the configuration).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ThrottlePolicy {
    /// Failures counted against an address before its attempts start to be delayed.
    pub delay_after_failures: u32,
    /// Delay added per failure beyond `delay_after_failures`.
    pub delay_step: Duration,
    /// The longest delay ever returned.
    pub max_delay: Duration,
    /// Failures from one address, whatever the accounts, before it is locked out.
    pub lock_after_failures: u32,
    /// How long an address's or a pair's full count takes to drain (so how long its
    /// lock lasts after a burst).
    pub lock_duration: Duration,
    /// Failures from one address against one account before that pair is locked.
    pub failures_per_address_account: u32,
    /// Failures against one account, from any addresses, before it is locked.
    pub failures_per_account: u32,
    /// How long an account takes to forget one failure.
    pub account_release: Duration,
    /// How long a successful login keeps its address exempt from the account lock.
    pub trusted_address: Duration,
    /// The most keys each table remembers.
    pub max_tracked: usize,
    /// The most password checks admitted and not yet answered.
    pub max_pending_checks: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            delay_after_failures: 3,
            delay_step: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            lock_after_failures: 10,
            lock_duration: Duration::from_secs(15 * 60),
            failures_per_address_account: 5,
            failures_per_account: 20,
            account_release: Duration::from_secs(3 * 60),
            trusted_address: Duration::from_secs(30 * 24 * 3600),
            max_tracked: 16_384,
            max_pending_checks: 32,
        }
    }
}

/// The verdict on a login attempt before its password is looked at.
#[derive(Debug)]
pub enum Admission {
    /// Check the password after [`Attempt::delay`]; the attempt already counts as a
    /// failure until [`Attempt::succeeded`] says otherwise.
    Check(Attempt),
    /// Too many failures for this address, pair or account: refused unchecked.
    Locked,
    /// Too many checks are waiting: refused unchecked and uncounted; retry later.
    Busy,
}

/// One admitted attempt. Dropping it without [`Attempt::succeeded`] leaves the failure
/// counted, so a client that hangs up during the check gains nothing.
#[derive(Debug)]
pub struct Attempt {
    throttle: AuthThrottle,
    pair: PairKey,
    delay: Duration,
    /// The locks this attempt's reservation set, undone if it proves right.
    set: LocksSet,
    /// Whether it holds one of the check slots.
    holds_slot: bool,
}

/// Failure counts, shared by every listener. Cheap to clone: clones share the counts.
#[derive(Clone, Debug)]
pub struct AuthThrottle {
    shared: Arc<Shared>,
}

impl AuthThrottle {
    /// An empty throttle with the given limits.
    pub fn new(policy: ThrottlePolicy) -> Self {
        AuthThrottle {
            shared: Arc::new(Shared {
                policy: std::sync::RwLock::new(policy),
                hasher: RandomState::new(),
                tables: Mutex::new(Tables::default()),
            }),
        }
    }

    /// Decides whether `account` may be tried from `ip` at `now` and, if so, counts the
    /// attempt as a failure and takes a check slot, in one step.
    pub fn admit(&self, ip: IpAddr, account: &str, now: Instant) -> Admission {
        let pair = PairKey(client_block(ip), self.account_key(account));
        let limits = self.limits();
        let mut tables = self.tables();
        let trusted = tables.trusted.get(&pair).is_some_and(|until| *until > now);
        let locked = limits.address.is_locked(tables.addresses.get(&pair.0), now)
            || limits.pair.is_locked(tables.pairs.get(&pair), now)
            || (!trusted && limits.account.is_locked(tables.accounts.get(&pair.1), now));
        if locked {
            return Admission::Locked;
        }
        let delay = self.delay(limits.address.count(tables.addresses.get(&pair.0), now));
        // An attempt that must wait takes its check slot after the wait: sleeping
        // attempts must not fill the slots every other client's login needs.
        let holds_slot = delay.is_zero();
        if holds_slot {
            if tables.pending_checks >= self.policy().max_pending_checks {
                return Admission::Busy;
            }
            tables.pending_checks += 1;
        }
        let max = self.policy().max_tracked;
        let set = LocksSet {
            pair: limits
                .pair
                .reserve(bucket(&mut tables.pairs, pair, max, now), now),
            address: limits
                .address
                .reserve(bucket(&mut tables.addresses, pair.0, max, now), now),
            account: limits
                .account
                .reserve(bucket(&mut tables.accounts, pair.1, max, now), now),
        };
        drop(tables);
        Admission::Check(Attempt {
            throttle: self.clone(),
            pair,
            delay,
            set,
            holds_slot,
        })
    }

    /// How many keys the tables hold, all together (bounded by the policy).
    pub fn tracked(&self) -> usize {
        let tables = self.tables();
        tables.addresses.len() + tables.pairs.len() + tables.accounts.len() + tables.trusted.len()
    }

    fn policy(&self) -> ThrottlePolicy {
        let policy = self.shared.policy.read();
        *policy.unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts new limits in force (a reload); the failures counted so far stay.
    pub fn set_policy(&self, policy: ThrottlePolicy) {
        let mut current = self
            .shared
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = policy;
    }

    fn limits(&self) -> Limits {
        let policy = self.policy();
        Limits {
            address: Limit::over(policy.lock_after_failures, policy.lock_duration),
            pair: Limit::over(policy.failures_per_address_account, policy.lock_duration),
            account: Limit {
                cap: policy.failures_per_account.max(1),
                release: policy.account_release.max(Duration::from_nanos(1)),
            },
        }
    }

    fn delay(&self, failures: u32) -> Duration {
        let policy = self.policy();
        let excess = failures.saturating_sub(policy.delay_after_failures);
        policy
            .delay_step
            .saturating_mul(excess)
            .min(policy.max_delay)
    }

    /// Account names are keyed by a hash (keyed per process, so collisions cannot be
    /// aimed at), which keeps every entry small whatever the client sends. Case is
    /// folded as widely as any lookup folds it (Unicode, as operators' names are): two
    /// spellings one lookup takes for the same account must share its count, or each
    /// would bring its own guesses.
    fn account_key(&self, account: &str) -> AccountKey {
        let mut hasher = self.shared.hasher.build_hasher();
        for folded in account.chars().flat_map(char::to_lowercase) {
            hasher.write_u32(u32::from(folded));
        }
        AccountKey(hasher.finish())
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables hold plain counters; a panic elsewhere cannot leave them inconsistent.
        self.shared
            .tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Attempt {
    /// How long to wait before checking the password.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The password was right: this attempt's reservation is taken back, its own
    /// (address, account) pair is cleared and trusted. Nothing else is forgotten.
    pub fn succeeded(self, now: Instant) {
        let throttle = &self.throttle;
        let limits = throttle.limits();
        let policy = throttle.policy();
        let mut tables = throttle.tables();
        self.take_back(&mut tables, &limits, now);
        tables.pairs.remove(&self.pair);
        if !policy.trusted_address.is_zero() {
            let max = policy.max_tracked;
            if !tables.trusted.contains_key(&self.pair) && tables.trusted.len() >= max {
                make_room(&mut tables.trusted, max, |until| *until, now);
            }
            tables
                .trusted
                .insert(self.pair, now + policy.trusted_address);
        }
    }

    /// The password was wrong: the failure counted at admission stands.
    pub fn failed(self) {}

    /// The password could not be checked (the store did not answer): nothing counted
    /// at admission stands, as if the attempt had never been made.
    pub fn withdrawn(self, now: Instant) {
        let throttle = self.throttle.clone();
        let limits = throttle.limits();
        let mut tables = throttle.tables();
        self.take_back_all(&mut tables, &limits, now);
    }

    /// After [`Attempt::delay`]: takes a check slot, or, when none is free, withdraws
    /// the attempt (nothing counted) and says so with `None`.
    pub fn after_delay(mut self, now: Instant) -> Option<Attempt> {
        let throttle = self.throttle.clone();
        let limits = throttle.limits();
        let mut tables = throttle.tables();
        if self.holds_slot || tables.pending_checks < throttle.policy().max_pending_checks {
            if !self.holds_slot {
                tables.pending_checks += 1;
                self.holds_slot = true;
            }
            return Some(self);
        }
        self.take_back_all(&mut tables, &limits, now);
        None
    }

    /// Takes back all admission counted: against the pair, the address and the account.
    fn take_back_all(&self, tables: &mut Tables, limits: &Limits, now: Instant) {
        refund(
            &mut tables.pairs,
            self.pair,
            &limits.pair,
            self.set.pair,
            now,
        );
        self.take_back(tables, limits, now);
    }

    /// Takes back what admission counted against the address and the account.
    fn take_back(&self, tables: &mut Tables, limits: &Limits, now: Instant) {
        let set = &self.set;
        refund(
            &mut tables.addresses,
            self.pair.0,
            &limits.address,
            set.address,
            now,
        );
        refund(
            &mut tables.accounts,
            self.pair.1,
            &limits.account,
            set.account,
            now,
        );
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.holds_slot {
            let mut tables = self.throttle.tables();
            tables.pending_checks = tables.pending_checks.saturating_sub(1);
        }
    }
}

#[derive(Debug)]
struct Shared {
    /// Replaced on reload; the counts stay.
    policy: std::sync::RwLock<ThrottlePolicy>,
    hasher: RandomState,
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    addresses: HashMap<IpAddr, Bucket>,
    pairs: HashMap<PairKey, Bucket>,
    accounts: HashMap<AccountKey, Bucket>,
    /// Until when a pair that logged in is exempt from its account's lock.
    trusted: HashMap<PairKey, Instant>,
    pending_checks: usize,
}

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
struct AccountKey(u64);

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
struct PairKey(IpAddr, AccountKey);

/// A leaky bucket as the instant it will be empty: each failure moves that instant one
/// release interval later (from now, if it had already passed).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    drained_at: Instant,
    /// Set when the count reached the cap; holds until the bucket is empty.
    locked: bool,
}

/// The limits of the three tables.
#[derive(Clone, Copy, Debug)]
struct Limits {
    address: Limit,
    pair: Limit,
    account: Limit,
}

/// Which of the address and account locks one reservation set.
#[derive(Clone, Copy, Debug)]
struct LocksSet {
    pair: bool,
    address: bool,
    account: bool,
}

/// A cap and the time a bucket takes to forget one failure.
#[derive(Clone, Copy, Debug)]
struct Limit {
    cap: u32,
    release: Duration,
}

impl Limit {
    /// A cap whose full count drains over `drain`.
    fn over(cap: u32, drain: Duration) -> Limit {
        let cap = cap.max(1);
        Limit {
            cap,
            release: (drain / cap).max(Duration::from_nanos(1)),
        }
    }

    /// Failures still remembered at `now`.
    fn count(&self, bucket: Option<&Bucket>, now: Instant) -> u32 {
        let Some(bucket) = bucket else { return 0 };
        let left = bucket.drained_at.saturating_duration_since(now).as_nanos();
        u32::try_from(left.div_ceil(self.release.as_nanos())).unwrap_or(u32::MAX)
    }

    fn is_locked(&self, bucket: Option<&Bucket>, now: Instant) -> bool {
        bucket.is_some_and(|bucket| bucket.locked && bucket.drained_at > now)
    }

    /// Counts one failure; returns whether that reached the cap (and set the lock).
    fn reserve(&self, bucket: &mut Bucket, now: Instant) -> bool {
        if bucket.drained_at <= now {
            *bucket = Bucket {
                drained_at: now,
                locked: false,
            };
        }
        bucket.drained_at += self.release;
        if bucket.locked || self.count(Some(bucket), now) < self.cap {
            return false;
        }
        bucket.locked = true;
        true
    }
}

/// The bucket of `key`, made (with room for it) if missing.
fn bucket<K: Copy + Eq + Hash>(
    table: &mut HashMap<K, Bucket>,
    key: K,
    max: usize,
    now: Instant,
) -> &mut Bucket {
    if !table.contains_key(&key) && table.len() >= max {
        make_room(table, max, |bucket| bucket.drained_at, now);
    }
    table.entry(key).or_insert(Bucket {
        drained_at: now,
        locked: false,
    })
}

/// Takes back one reservation; an emptied bucket is removed.
fn refund<K: Eq + Hash>(
    table: &mut HashMap<K, Bucket>,
    key: K,
    limit: &Limit,
    unlock: bool,
    now: Instant,
) {
    let Some(bucket) = table.get_mut(&key) else {
        return;
    };
    bucket.drained_at = bucket.drained_at.checked_sub(limit.release).unwrap_or(now);
    if unlock {
        bucket.locked = false;
    }
    if bucket.drained_at <= now {
        table.remove(&key);
    }
}

/// Frees room in a full table: first what has expired, then, if that is not enough,
/// the eighth of the entries closest to expiring (the least counted), at once, so a
/// spray pays for eviction rarely.
fn make_room<K, V>(
    table: &mut HashMap<K, V>,
    max: usize,
    expiry: impl Fn(&V) -> Instant,
    now: Instant,
) {
    table.retain(|_, value| expiry(value) > now);
    if table.len() < max {
        return;
    }
    let mut expiries: Vec<Instant> = table.values().map(&expiry).collect();
    let nth = expiries.len() / 8;
    let (_, threshold, _) = expiries.select_nth_unstable(nth);
    let threshold = *threshold;
    table.retain(|_, value| expiry(value) > threshold);
}
