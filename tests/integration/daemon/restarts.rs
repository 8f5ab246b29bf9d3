//! Stops and crashes: nothing acknowledged is lost, nothing certified twice, and the
//! queue resumes.

use super::burst;
use super::burst::Burst;
use super::burst::Outcome;
use super::burst::delivered_exactly_once;
use super::*;

#[test]
fn a_crash_during_a_burst_loses_nothing_acknowledged_and_certifies_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let mut a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    // Three clients submit 60 messages each; A is killed with SIGKILL in the middle,
    // once ten submissions were acknowledged.
    let mut burst = Burst::start(&a, 60);
    assert!(burst.acknowledged(10), "the burst ended early");
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(a.child.id().to_string())
        .status();
    let _ = a.child.wait();
    let seen = burst.finish(false);
    let acknowledged = burst::acknowledged(&seen);
    assert!(
        seen.iter().any(|s| matches!(s.outcome, Outcome::Lost(_))),
        "the kill hit no submission; the test proves nothing: {seen:?}"
    );

    // Restart A: the queue resumes; every acknowledged message reaches Bob exactly once.
    drop(a);
    a = start(&a_dir, base_a);
    delivered_exactly_once(&a, &b, &acknowledged, Duration::from_secs(60));
}

#[test]
fn sigterm_closes_idle_sessions_with_421_and_a_restart_resumes_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let mut a = start(&a_dir, base_a);
    // B is down: the envelope waits in A's durable queue.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &message("alice@pec-a.test", "bob@pec-b.test", None, "In coda"),
    );
    assert_eq!(reply, "250");

    let mut idle = std::net::TcpStream::connect(("127.0.0.1", base_a + 2)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut greeting = [0u8; 128];
    let _ = std::io::Read::read(&mut idle, &mut greeting).unwrap();
    let stopped = Instant::now();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(a.child.id().to_string())
        .status();
    let mut bye = [0u8; 128];
    let n = std::io::Read::read(&mut idle, &mut bye).unwrap();
    assert!(
        String::from_utf8_lossy(&bye[..n]).starts_with("421"),
        "{}",
        String::from_utf8_lossy(&bye[..n])
    );
    assert!(a.child.wait().unwrap().success(), "clean exit");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "shutdown does not wait for idle clients"
    );
    drop(a);

    let b = start(&b_dir, base_b);
    a = start(&a_dir, base_a);
    wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
}
