//! Stops and crashes: nothing acknowledged is lost, nothing certified twice, and the
//! queue resumes.

use super::*;

#[test]
fn a_crash_during_a_burst_loses_nothing_acknowledged_and_certifies_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let mut a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    // Three clients submit 40 messages; A is killed with SIGKILL in the middle.
    let script = r#"
import smtplib, ssl, sys, threading
port, cafile, password = sys.argv[1:4]
lock = threading.Lock()
def client(n):
    context = ssl.create_default_context(cafile=cafile)
    for i in range(n * 100, n * 100 + 60):
        msg = ("From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: raffica %d\r\n"
               "Message-ID: <burst-%d@client.test>\r\n\r\ncorpo %d\r\n" % (i, i, i)).encode()
        try:
            with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
                s.starttls(context=context)
                s.login("alice@pec-a.test", password)
                s.sendmail("alice@pec-a.test", ["bob@pec-b.test"], msg)
            with lock:
                print("ok", i, flush=True)
        except Exception as e:
            with lock:
                print("lost", i, type(e).__name__, flush=True)
threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
for t in threads: t.start()
for t in threads: t.join()
"#;
    let mut child = Command::new("python3")
        .args([
            "-c",
            script,
            &base_a.to_string(),
            &a.ca().to_string_lossy(),
            PASSWORD,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (Debian package python3)");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    // Kill A once ten submissions were acknowledged, mid-burst.
    while lines.matches("ok ").count() < 10 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        lines.push_str(&line);
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(a.child.id().to_string())
        .status();
    let _ = a.child.wait();
    std::io::Read::read_to_string(&mut stdout, &mut lines).unwrap();
    child.wait().unwrap();
    let acknowledged: Vec<String> = lines
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .map(|i| format!("<burst-{i}@client.test>"))
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "no submission finished before the kill: {lines}"
    );
    assert!(
        lines.contains("lost"),
        "the kill hit no submission; the test proves nothing: {lines}"
    );

    // Restart A: the queue resumes; every acknowledged message reaches Bob exactly once.
    drop(a);
    a = start(&a_dir, base_a);
    let deadline = Instant::now() + Duration::from_secs(60);
    let count =
        |daemon: &Daemon, user: &str, kind: Kind| -> std::collections::BTreeMap<String, usize> {
            let mut seen = std::collections::BTreeMap::new();
            for m in daemon.inbox(user) {
                let read = reader::read(&m).unwrap();
                if read.kind == kind {
                    *seen
                        .entry(read.reference_message_id.unwrap_or_default())
                        .or_insert(0) += 1;
                }
            }
            seen
        };
    loop {
        let at_bob = count(&b, "bob@pec-b.test", Kind::Transport);
        let accepted = count(
            &a,
            "alice@pec-a.test",
            Kind::Receipt(ReceiptKind::Acceptance),
        );
        let delivered = count(
            &a,
            "alice@pec-a.test",
            Kind::Receipt(ReceiptKind::Delivered),
        );
        let done = acknowledged
            .iter()
            .all(|id| at_bob.contains_key(id) && delivered.contains_key(id));
        // Whatever A certified (acknowledged or cut off after its commit) is complete:
        // an acceptance always comes with a delivery, and nothing arrives twice.
        let whole = accepted
            .keys()
            .all(|id| at_bob.contains_key(id) && delivered.contains_key(id));
        if done && whole {
            assert!(
                at_bob.values().all(|n| *n == 1),
                "duplicates at Bob: {at_bob:?}"
            );
            assert!(
                accepted.values().all(|n| *n == 1),
                "duplicate acceptances: {accepted:?}"
            );
            assert!(
                delivered.values().all(|n| *n == 1),
                "duplicate receipts: {delivered:?}"
            );
            assert!(
                at_bob.keys().all(|id| accepted.contains_key(id)),
                "delivered without acceptance"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged {acknowledged:?}\nat bob {at_bob:?}\naccepted {accepted:?}\ndelivered {delivered:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
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
