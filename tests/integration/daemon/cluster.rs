//! Two nodes of provider A on one PostgreSQL: a holder submits through node 1 and reads
//! on node 2, where IDLE sees node 1's delivery; the receipts from B, which reach node
//! 1's MX, are read on node 2 too. Then the failures: node 1 killed during a burst,
//! whose relay jobs and timers node 2 finishes; PostgreSQL restarted during a burst.

use super::burst;
use super::burst::Burst;
use super::burst::Outcome;
use super::burst::delivered_exactly_once;
use super::burst::epoch_now;
use super::burst::registro_verifies;
use super::*;

/// A PostgreSQL of this test's own from `tools/postgres.sh`, stopped when dropped; or
/// the one `PECD_TEST_POSTGRES` names (the cluster pass of `.ci/run`).
pub(super) struct Postgres {
    pub(super) url: String,
    pub(super) own: Option<tempfile::TempDir>,
}

impl Postgres {
    pub(super) fn start() -> Option<Postgres> {
        if let Some(url) = std::env::var_os("PECD_TEST_POSTGRES") {
            let url = url.to_string_lossy().into_owned();
            return Some(Postgres { url, own: None });
        }
        Postgres::own()
    }

    /// A PostgreSQL of this test's own, whatever the pass: for a test that stops it.
    fn own() -> Option<Postgres> {
        if !Path::new("/usr/lib/postgresql").is_dir() {
            eprintln!("SKIP a cluster test: PostgreSQL is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let url = script("start", dir.path());
        Some(Postgres {
            url: url.trim().to_string(),
            own: Some(dir),
        })
    }

    /// `tools/postgres.sh ACTION` on this test's own server.
    fn control(&self, action: &str) {
        script(
            action,
            self.own
                .as_ref()
                .expect("a server of the test's own")
                .path(),
        );
    }
}

fn script(action: &str, dir: &Path) -> String {
    support::stdout_of(
        "bash",
        &[
            &support::root().join("tools/postgres.sh").to_string_lossy(),
            action,
            &dir.to_string_lossy(),
        ],
        "bash",
    )
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new("bash")
                .arg(support::root().join("tools/postgres.sh"))
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

/// A second node of the provider in `dir`: the same keys, index, routes and database,
/// its own ports (from `port_base`) and its own data folder.
pub(super) fn second_node(dir: &Path, base: u16, node: &Path, port_base: u16) {
    let copy = |from: &Path, to: &Path| {
        support::stdout_of(
            "cp",
            &["-a", &from.to_string_lossy(), &to.to_string_lossy()],
            "coreutils",
        );
    };
    std::fs::create_dir_all(node).unwrap();
    copy(&dir.join("certs"), node);
    copy(&dir.join("index.ldif"), node);
    let mut config = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
    for offset in 0..7 {
        config = config.replace(
            &format!("127.0.0.1:{}\"", base + offset),
            &format!("127.0.0.1:{}\"", port_base + offset),
        );
    }
    std::fs::write(node.join("pecd.toml"), config).unwrap();
}

#[test]
fn a_holder_submits_on_one_node_and_reads_on_the_other() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    if postgres.own.is_some() {
        on_the_cluster(&a_dir, &postgres.url);
    }
    let (node_dir, node_base) = (tmp.path().join("a2"), port_base());
    second_node(&a_dir, base_a, &node_dir, node_base);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let first = start(&a_dir, base_a);
    let second = start(&node_dir, node_base);
    let b = start(&b_dir, base_b);

    let script = support::root().join("tests/scripts/imap_idle_two_nodes.py");
    let out = support::run(
        "python3",
        &[
            &script.to_string_lossy(),
            &base_a.to_string(),
            &(node_base + 4).to_string(),
            &first.ca().to_string_lossy(),
            "alice@pec-a.test",
            PASSWORD,
            "bob@pec-b.test",
        ],
        "python3",
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The consegna arrives at node 1's MX; node 2 shows it, and each receipt once.
    let inbox = wait_for(
        &second,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    assert_eq!(inbox.len(), 2);
    for message in &inbox {
        // The accettazione is A's (either node: one key), the consegna B's.
        let signer = match reader::read(message).unwrap().kind {
            Kind::Receipt(ReceiptKind::Acceptance) => second.ca(),
            _ => b.ca(),
        };
        check_signed(message, &signer);
    }
}

/// Timers short enough for a test: the 12 h notice after 20 s, the 24 h one after 35 s.
const SHORT_TIMERS: &str = "warning_secs = 20\nfinal_secs = 35\n";

/// A third provider, C, in A's index and routes but never started: a PEC to it stays
/// in A's queue and its timers fire.
fn unreachable_provider(tmp: &Path, a_dir: &Path) {
    let c_dir = tmp.join("c");
    let base = port_base();
    let out = pecd()
        .args(["init", &c_dir.to_string_lossy(), "--domain", "pec-c.test"])
        .args([
            "--name",
            "Gestore C S.p.A.",
            "--port-base",
            &base.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(a_dir.join("index.ldif")).unwrap()
        + "\n"
        + &std::fs::read_to_string(c_dir.join("index.ldif")).unwrap();
    std::fs::write(a_dir.join("index.ldif"), index).unwrap();
    let route = format!("[routes]\n\"pec-c.test\" = \"127.0.0.1:{}\"\n", base + 2);
    let config = std::fs::read_to_string(a_dir.join("pecd.toml")).unwrap();
    std::fs::write(
        a_dir.join("pecd.toml"),
        config.replacen("[routes]\n", &route, 1),
    )
    .unwrap();
}

/// Points B's route to A at `port`, another node's MX.
fn route_b_to(b_dir: &Path, base_a: u16, port: u16) {
    let config = std::fs::read_to_string(b_dir.join("pecd.toml")).unwrap();
    let config = config.replace(
        &format!("\"pec-a.test\" = \"127.0.0.1:{}\"", base_a + 2),
        &format!("\"pec-a.test\" = \"127.0.0.1:{port}\""),
    );
    std::fs::write(b_dir.join("pecd.toml"), config).unwrap();
}

/// Node 1 of A is killed with SIGKILL during a burst and never comes back: node 2
/// finishes its relay jobs, whose claims lapse once node 1's heartbeat stops, and fires
/// its timers. Every acknowledged message reaches Bob exactly once, every acceptance is
/// complete, and the registro verifies. B's receipts reach A through node 2's MX, as
/// through an MX record naming both nodes.
#[test]
fn a_node_killed_during_a_burst_leaves_its_relay_jobs_and_timers_to_the_other() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), SHORT_TIMERS);
    if postgres.own.is_some() {
        on_the_cluster(&a_dir, &postgres.url);
    }
    unreachable_provider(tmp.path(), &a_dir);
    let (node_dir, node_base) = (tmp.path().join("a2"), port_base());
    second_node(&a_dir, base_a, &node_dir, node_base);
    route_b_to(&b_dir, base_a, node_base + 2);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let mut first = start(&a_dir, base_a);
    let second = start(&node_dir, node_base);
    let b = start(&b_dir, base_b);

    // A PEC to C, accepted by node 1: its timers are node 1's to fire, had it lived.
    let to_carol = message("alice@pec-a.test", "carol@pec-c.test", None, "Per Carol");
    let reply = smtplib_send(&first, "alice@pec-a.test", &["carol@pec-c.test"], &to_carol);
    assert_eq!(reply, "250");
    let carol_accepted = Instant::now();

    let mut burst = Burst::start(&first, 60);
    assert!(burst.acknowledged(10), "the burst ended early");
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(first.child.id().to_string())
        .status();
    let _ = first.child.wait();
    assert!(
        carol_accepted.elapsed() < Duration::from_secs(20),
        "node 1 lived until Carol's 12 h notice was due; the test proves nothing"
    );
    let seen = burst.finish(false);
    assert!(
        seen.iter().any(|s| matches!(s.outcome, Outcome::Lost(_))),
        "the kill hit no submission; the test proves nothing: {seen:?}"
    );
    let acknowledged = burst::acknowledged(&seen);
    delivered_exactly_once(&second, &b, &acknowledged, Duration::from_secs(90));

    // Node 2 fires node 1's timers: each notice once.
    let warning = Kind::Receipt(ReceiptKind::DeliveryWarning);
    let deadline = carol_accepted + Duration::from_secs(90);
    let notices = loop {
        let notices = burst::count(&second, "alice@pec-a.test", warning);
        if notices.get("<Per-Carol@client.test>") >= Some(&2) || Instant::now() > deadline {
            break notices;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        notices.get("<Per-Carol@client.test>"),
        Some(&2),
        "the 12 h and 24 h notices, each once: {notices:?}"
    );
    registro_verifies(&node_dir);
}

/// PostgreSQL stops at once, as in a crash, during a burst through A, and comes back
/// on the same address: while it is down no submission is acknowledged and some are
/// refused with a 4xx (never a 5xx: the client must try again); afterwards they are
/// acknowledged again, and everything acknowledged is delivered exactly once. The test
/// stops a PostgreSQL of its own in either pass, since other tests share the pass's.
#[test]
fn postgres_stopping_during_a_burst_gets_4xx_and_loses_nothing() {
    let Some(postgres) = Postgres::own() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    on_the_cluster(&a_dir, &postgres.url);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    let mut burst = Burst::start(&a, 100_000);
    assert!(burst.acknowledged(10), "the burst ended early");
    postgres.control("halt");
    let down = epoch_now();
    let refused_while_down =
        |s: &burst::Submission| s.started > down && matches!(s.outcome, Outcome::Reply(400..=499));
    // Each outcome is a line, and python gives up on a silent server after a minute.
    burst.until(|seen| seen.iter().any(refused_while_down) || epoch_now() > down + 60.0);
    // Down a while longer, so that submissions meet it at every step.
    std::thread::sleep(Duration::from_secs_f64((down + 5.0 - epoch_now()).max(0.0)));
    let restarting = epoch_now();
    postgres.control("restart");
    let up = epoch_now();
    let resumed = burst.until(|seen| {
        seen.iter()
            .filter(|s| s.started > up && s.outcome == Outcome::Acknowledged)
            .count()
            >= 10
    });
    let seen = burst.finish(true);
    assert!(
        resumed,
        "no submission acknowledged after the restart: {seen:?}"
    );

    let while_down = |s: &&burst::Submission| s.started > down && s.ended < restarting;
    eprintln!(
        "PostgreSQL down {:.1} s; while down: {:?}",
        restarting - down,
        seen.iter()
            .filter(while_down)
            .map(|s| &s.outcome)
            .collect::<Vec<_>>()
    );
    let acknowledged_while_down: Vec<_> = seen
        .iter()
        .filter(while_down)
        .filter(|s| s.outcome == Outcome::Acknowledged)
        .collect();
    assert!(
        acknowledged_while_down.is_empty(),
        "250 with PostgreSQL down: {acknowledged_while_down:?}"
    );
    assert!(seen.iter().filter(while_down).any(refused_while_down));
    let permanent: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Reply(500..)))
        .collect();
    assert!(permanent.is_empty(), "refused for good: {permanent:?}");
    let acknowledged = burst::acknowledged(&seen);
    delivered_exactly_once(&a, &b, &acknowledged, Duration::from_secs(120));
    registro_verifies(&a_dir);
}
