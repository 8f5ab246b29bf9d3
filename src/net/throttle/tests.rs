use std::net::Ipv4Addr;
use std::net::Ipv6Addr;

use super::*;

fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        delay_after_failures: 2,
        delay_step: Duration::from_secs(1),
        max_delay: Duration::from_secs(3),
        lock_after_failures: 6,
        lock_duration: Duration::from_secs(60),
        failures_per_address_account: 4,
        failures_per_account: 8,
        account_release: Duration::from_secs(30),
        trusted_address: Duration::from_secs(3600),
        max_tracked: 1000,
        max_pending_checks: 100,
    }
}

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n))
}

/// One attempt with a wrong password; `None` when it was not even admitted.
fn fail(throttle: &AuthThrottle, ip: IpAddr, account: &str, now: Instant) -> Option<Duration> {
    match throttle.admit(ip, account, now) {
        Admission::Check(attempt) => {
            let delay = attempt.delay();
            attempt.failed();
            Some(delay)
        }
        Admission::Locked | Admission::Busy => None,
    }
}

/// One attempt with the right password; whether it was admitted (and so logged in).
fn succeed(throttle: &AuthThrottle, ip: IpAddr, account: &str, now: Instant) -> bool {
    match throttle.admit(ip, account, now) {
        Admission::Check(attempt) => {
            attempt.succeeded(now);
            true
        }
        Admission::Locked | Admission::Busy => false,
    }
}

fn locked(throttle: &AuthThrottle, ip: IpAddr, account: &str, now: Instant) -> bool {
    matches!(throttle.admit(ip, account, now), Admission::Locked)
}

#[test]
fn delays_grow_after_the_threshold_and_are_capped() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    let delays: Vec<u64> = (0..6)
        .map(|n| {
            fail(&throttle, IP, &format!("user{n}"), now)
                .unwrap()
                .as_secs()
        })
        .collect();
    assert_eq!(delays, [0, 0, 0, 1, 2, 3]);
    assert_eq!(fail(&throttle, OTHER, "user0", now), Some(Duration::ZERO));
}

#[test]
fn an_address_is_locked_across_accounts_until_its_count_drains() {
    let throttle = AuthThrottle::new(policy());
    let start = Instant::now();
    for n in 0..6 {
        assert!(fail(&throttle, IP, &format!("user{n}"), start).is_some());
    }
    assert!(locked(&throttle, IP, "someone-else", start));
    assert!(!locked(&throttle, OTHER, "someone-else", start));
    assert!(locked(&throttle, IP, "x", start + Duration::from_secs(59)));
    assert!(!locked(&throttle, IP, "x", start + Duration::from_secs(60)));
}

#[test]
fn old_failures_are_forgotten_one_by_one() {
    let throttle = AuthThrottle::new(policy());
    let start = Instant::now();
    for n in 0..5 {
        fail(&throttle, IP, &format!("user{n}"), start);
    }
    // Ten seconds per failure: after 61 s all five have drained.
    let later = start + Duration::from_secs(61);
    assert_eq!(fail(&throttle, IP, "user9", later), Some(Duration::ZERO));
    assert!(!locked(&throttle, IP, "user9", later));
}

#[test]
fn a_pair_is_locked_before_its_address() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for _ in 0..4 {
        assert!(fail(&throttle, IP, "victim@pec.test", now).is_some());
    }
    assert!(locked(&throttle, IP, "victim@pec.test", now));
    assert!(
        locked(&throttle, IP, "VICTIM@pec.test", now),
        "case is folded"
    );
    assert!(!locked(&throttle, IP, "other@pec.test", now));
}

/// An operator's name is looked up lowercased in Unicode, where the Kelvin sign is a
/// `k`: each mix of the two spellings would otherwise be an account of its own.
#[test]
fn spellings_one_lookup_takes_alike_share_one_count() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for name in ["kate", "\u{212A}ate", "KATE", "\u{212A}ATE"] {
        assert!(fail(&throttle, IP, name, now).is_some(), "{name}");
    }
    assert!(locked(&throttle, IP, "kate", now));
}

#[test]
fn logging_in_to_ones_own_account_clears_nothing_of_the_victims() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    let mut wrong = 0;
    for _ in 0..20 {
        if fail(&throttle, IP, "victim@pec.test", now).is_some() {
            wrong += 1;
        }
        // The attacker's own mailbox, from the same address, right password.
        succeed(&throttle, IP, "attacker@pec.test", now);
    }
    assert_eq!(
        wrong, 4,
        "the pair's cap, however many successes came between"
    );
    assert!(!succeed(&throttle, IP, "victim@pec.test", now));
}

#[test]
fn a_success_takes_back_only_its_own_reservation() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for _ in 0..3 {
        fail(&throttle, IP, "alice@pec.test", now);
    }
    assert!(succeed(&throttle, IP, "alice@pec.test", now));
    // Alice's pair is cleared; the address still remembers its three failures.
    let address = throttle.limits().address;
    let tables = throttle.tables();
    assert_eq!(address.count(tables.addresses.get(&IP), now), 3);
    assert!(tables.pairs.is_empty());
}

#[test]
fn parallel_attempts_are_counted_before_any_is_answered() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    // Forty attempts admitted before the first check returns: only the pair's cap.
    let admitted: Vec<Attempt> = (0..40)
        .filter_map(|_| match throttle.admit(IP, "victim@pec.test", now) {
            Admission::Check(attempt) => Some(attempt),
            Admission::Locked | Admission::Busy => None,
        })
        .collect();
    assert_eq!(admitted.len(), 4);
    drop(admitted);
    assert!(locked(&throttle, IP, "victim@pec.test", now));
}

#[test]
fn a_hung_up_attempt_still_counts() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for _ in 0..4 {
        match throttle.admit(IP, "victim@pec.test", now) {
            Admission::Check(attempt) => drop(attempt),
            other => panic!("{other:?}"),
        }
    }
    assert!(locked(&throttle, IP, "victim@pec.test", now));
}

#[test]
fn a_right_password_in_the_locking_slot_undoes_the_lock() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for _ in 0..3 {
        fail(&throttle, IP, "alice@pec.test", now);
    }
    assert!(succeed(&throttle, IP, "alice@pec.test", now));
    assert!(!locked(&throttle, IP, "alice@pec.test", now));
}

#[test]
fn an_account_is_locked_across_addresses_and_released_slowly() {
    let throttle = AuthThrottle::new(policy());
    let start = Instant::now();
    for n in 0..8 {
        assert!(fail(&throttle, ip(n / 2), "victim@pec.test", start).is_some());
    }
    assert!(locked(&throttle, ip(100), "victim@pec.test", start));
    assert!(!locked(&throttle, ip(100), "other@pec.test", start));
    // Locked until the whole count has drained: eight failures of thirty seconds.
    assert!(locked(
        &throttle,
        ip(100),
        "victim@pec.test",
        start + Duration::from_secs(239)
    ));
    assert!(succeed(
        &throttle,
        ip(100),
        "victim@pec.test",
        start + Duration::from_secs(240)
    ));
}

#[test]
fn the_owners_usual_address_is_not_held_by_the_account_lock() {
    let throttle = AuthThrottle::new(policy());
    let start = Instant::now();
    assert!(succeed(&throttle, IP, "victim@pec.test", start));
    for n in 0..8 {
        fail(&throttle, ip(n / 2), "victim@pec.test", start);
    }
    assert!(locked(&throttle, ip(100), "victim@pec.test", start));
    assert!(succeed(&throttle, IP, "victim@pec.test", start));
    // Trust ends, and the lock then holds there too.
    let later = start + Duration::from_secs(3601);
    for n in 0..8 {
        fail(&throttle, ip(n / 2), "victim@pec.test", later);
    }
    assert!(locked(&throttle, IP, "victim@pec.test", later));
}

#[test]
fn waiting_attempts_hold_no_check_slot_and_withdraw_when_none_is_free() {
    let throttle = AuthThrottle::new(ThrottlePolicy {
        max_pending_checks: 2,
        ..policy()
    });
    let now = Instant::now();
    for _ in 0..3 {
        fail(&throttle, IP, "x@pec.test", now);
    }
    // The attacker's address now waits before each check: however many of its
    // attempts wait at once, other clients still find the slots free.
    let waiting: Vec<Attempt> = (0..3)
        .map(
            |n| match throttle.admit(IP, &format!("y{n}@pec.test"), now) {
                Admission::Check(attempt) => {
                    assert!(!attempt.delay().is_zero());
                    attempt
                }
                other => panic!("{other:?}"),
            },
        )
        .collect();
    let first = throttle.admit(OTHER, "a@pec.test", now);
    let second = throttle.admit(ip(7), "b@pec.test", now);
    assert!(matches!(first, Admission::Check(_)) && matches!(second, Admission::Check(_)));
    // Their waits over, they find no slot: withdrawn, nothing counted for them.
    let counted = throttle.tables().addresses[&client_block(IP)].drained_at;
    for attempt in waiting {
        assert!(attempt.after_delay(now).is_none());
    }
    let refunded = throttle.tables().addresses[&client_block(IP)].drained_at;
    assert_eq!(
        counted - refunded,
        3 * policy().lock_duration / policy().lock_after_failures
    );
    drop((first, second));
    assert_eq!(throttle.tables().pending_checks, 0);
}

#[test]
fn checks_beyond_the_bound_are_refused_and_not_counted() {
    let throttle = AuthThrottle::new(ThrottlePolicy {
        max_pending_checks: 2,
        ..policy()
    });
    let now = Instant::now();
    let first = throttle.admit(IP, "a@pec.test", now);
    let second = throttle.admit(OTHER, "b@pec.test", now);
    assert!(matches!(
        throttle.admit(ip(7), "c@pec.test", now),
        Admission::Busy
    ));
    assert!(!throttle.tables().addresses.contains_key(&ip(7)));
    drop(first);
    assert!(matches!(
        throttle.admit(ip(7), "c@pec.test", now),
        Admission::Check(_)
    ));
    drop(second);
    assert_eq!(throttle.tables().pending_checks, 0);
}

#[test]
fn a_spray_of_random_accounts_keeps_memory_bounded_and_the_victim_locked() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for n in 0..8 {
        fail(&throttle, ip(n / 2), "victim@pec.test", now);
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for n in 0..50_000u32 {
        // xorshift: addresses and accounts the throttle has never seen.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = now + Duration::from_millis(u64::from(n));
        fail(
            &throttle,
            ip(1000 + (seed as u32 >> 8)),
            &format!("{seed:x}@pec.test"),
            at,
        );
        let _ = succeed(
            &throttle,
            ip(seed as u32 >> 4),
            &format!("{seed:x}@pec.test"),
            at,
        );
    }
    assert!(throttle.tracked() <= 4 * 1000, "{}", throttle.tracked());
    assert!(locked(
        &throttle,
        ip(5000),
        "victim@pec.test",
        now + Duration::from_secs(50)
    ));
}

#[test]
fn ipv6_addresses_share_their_64_block() {
    let throttle = AuthThrottle::new(policy());
    let now = Instant::now();
    for n in 0..6u16 {
        let address = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n));
        fail(&throttle, address, &format!("user{n}"), now);
    }
    let neighbour = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
    let elsewhere = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 9, 9, 9, 9));
    assert!(locked(&throttle, neighbour, "x", now));
    assert!(!locked(&throttle, elsewhere, "x", now));
}

#[test]
fn clones_share_counts() {
    let throttle = AuthThrottle::new(policy());
    let clone = throttle.clone();
    let now = Instant::now();
    for _ in 0..4 {
        fail(&clone, IP, "victim@pec.test", now);
    }
    assert!(locked(&throttle, IP, "victim@pec.test", now));
}
