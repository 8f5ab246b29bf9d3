//! A burst of submissions from three concurrent clients (Python's smtplib, one session
//! per message), each outcome timed, and the exactly-once checks that every test of a
//! failure during a burst ends with.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::io::BufReader;
use std::process::ChildStdin;
use std::process::ChildStdout;

use super::*;

/// Each client submits its messages one session at a time, until it has sent `count`
/// or its standard input closes; one line per outcome, with the submission's start and
/// end (seconds since the epoch): `ok I START END`, `reply I START END CODE` (refused
/// with CODE) or `lost I START END EXCEPTION` (no reply).
const SCRIPT: &str = r#"
import smtplib, ssl, sys, threading, time
port, cafile, password, count = sys.argv[1:5]
lock = threading.Lock()
stop = threading.Event()
def say(*words):
    with lock:
        print(*words, flush=True)
def watch():
    sys.stdin.read()
    stop.set()
def client(n):
    context = ssl.create_default_context(cafile=cafile)
    for i in range(n * 10000, n * 10000 + int(count)):
        if stop.is_set():
            return
        msg = ("From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: raffica %d\r\n"
               "Message-ID: <burst-%d@client.test>\r\n\r\ncorpo %d\r\n" % (i, i, i)).encode()
        started = time.time()
        try:
            with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
                s.starttls(context=context)
                s.login("alice@pec-a.test", password)
                s.sendmail("alice@pec-a.test", ["bob@pec-b.test"], msg)
            say("ok", i, started, time.time())
        except smtplib.SMTPResponseException as e:
            say("reply", i, started, time.time(), e.smtp_code)
        except smtplib.SMTPRecipientsRefused as e:
            say("reply", i, started, time.time(), min(c for c, _ in e.recipients.values()))
        except Exception as e:
            say("lost", i, started, time.time(), type(e).__name__)
threading.Thread(target=watch, daemon=True).start()
threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
for t in threads: t.start()
for t in threads: t.join()
"#;

/// How one submission ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `250`: A says the message is durable.
    Acknowledged,
    /// Refused with this code.
    Reply(u16),
    /// No reply (the connection was cut, refused or timed out).
    Lost(String),
}

/// One submission of the burst.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The client's Message-ID.
    pub message_id: String,
    pub outcome: Outcome,
    /// When the client connected and when it had its answer, in seconds since the
    /// epoch.
    pub started: f64,
    pub ended: f64,
}

/// A burst in progress.
pub struct Burst {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The outcomes so far.
    pub seen: Vec<Submission>,
}

impl Burst {
    /// Three clients submitting `count` messages each through `daemon`'s submission
    /// port.
    pub fn start(daemon: &Daemon, count: usize) -> Burst {
        let mut child = Command::new("python3")
            .args([
                "-c",
                SCRIPT,
                &daemon.port_base.to_string(),
                &daemon.ca().to_string_lossy(),
                PASSWORD,
                &count.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (Debian package python3)");
        Burst {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            seen: Vec::new(),
        }
    }

    /// Reads outcomes until `enough` says so; false if the burst ended first.
    pub fn until(&mut self, enough: impl Fn(&[Submission]) -> bool) -> bool {
        while !enough(&self.seen) {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return false;
            }
            self.seen.push(parse(&line));
        }
        true
    }

    /// Reads outcomes until `n` submissions were acknowledged in all.
    pub fn acknowledged(&mut self, n: usize) -> bool {
        self.until(|seen| acknowledged(seen).len() >= n)
    }

    /// Lets the clients end their submissions in flight and start no more (or, with
    /// `stop` false, send all they were to send); every outcome.
    pub fn finish(mut self, stop: bool) -> Vec<Submission> {
        if stop {
            self.stdin = None;
        }
        self.until(|_| false);
        self.child.wait().unwrap();
        self.seen
    }
}

fn parse(line: &str) -> Submission {
    let words: Vec<&str> = line.split_whitespace().collect();
    let time = |i: usize| words[i].parse::<f64>().unwrap();
    let outcome = match words[0] {
        "ok" => Outcome::Acknowledged,
        "reply" => Outcome::Reply(words[4].parse().unwrap()),
        "lost" => Outcome::Lost(words[4..].join(" ")),
        other => panic!("the burst printed {other:?}: {line}"),
    };
    Submission {
        message_id: format!("<burst-{}@client.test>", words[1]),
        outcome,
        started: time(2),
        ended: time(3),
    }
}

/// The Message-IDs A acknowledged with `250`.
pub fn acknowledged(seen: &[Submission]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.outcome == Outcome::Acknowledged)
        .map(|s| s.message_id.clone())
        .collect()
}

/// Now, in the burst's clock: seconds since the epoch.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// How many messages of `kind` in `user`'s INBOX refer to each client Message-ID.
pub fn count(daemon: &Daemon, user: &str, kind: Kind) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for m in daemon.inbox(user) {
        let read = reader::read(&m).unwrap();
        if read.kind == kind {
            *seen
                .entry(read.reference_message_id.unwrap_or_default())
                .or_insert(0) += 1;
        }
    }
    seen
}

/// Waits, up to `within`, until every message in `acknowledged` reached Bob at B and
/// its consegna reached Alice at A (read on `a`, any node of A); then checks that
/// whatever A certified of the burst, acknowledged or cut off after its commit, is
/// complete, and that nothing arrived twice.
pub fn delivered_exactly_once(a: &Daemon, b: &Daemon, acknowledged: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let at_bob = count(b, "bob@pec-b.test", Kind::Transport);
        let accepted = count(
            a,
            "alice@pec-a.test",
            Kind::Receipt(ReceiptKind::Acceptance),
        );
        let delivered = count(a, "alice@pec-a.test", Kind::Receipt(ReceiptKind::Delivered));
        let done = acknowledged
            .iter()
            .all(|id| at_bob.contains_key(id) && delivered.contains_key(id));
        // An acceptance of the burst always comes with a delivery.
        let whole = accepted
            .keys()
            .filter(|id| id.starts_with("<burst-"))
            .all(|id| at_bob.contains_key(id) && delivered.contains_key(id));
        if done && whole {
            assert!(acknowledged.iter().all(|id| accepted.contains_key(id)));
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
            return;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged {acknowledged:?}\nat bob {at_bob:?}\naccepted {accepted:?}\ndelivered {delivered:?}\nA's log:\n{}\nB's log:\n{}",
            tail(&a.dir.join("pecd.log")),
            tail(&b.dir.join("pecd.log")),
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The end of a log, for a failing test to show.
pub fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// `pecd log verify` against `dir`'s configuration passes: the registro's chain holds.
pub fn registro_verifies(dir: &Path) {
    let out = pecd()
        .args([
            "log",
            "verify",
            "--config",
            &dir.join("pecd.toml").to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pecd log verify: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
