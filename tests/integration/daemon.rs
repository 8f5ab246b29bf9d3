//! Two providers A and B from `pecd init` on loopback, each loading an index with both
//! entries, exchanging certified mail with real clients: Python's `smtplib` submits,
//! the real `openssl` and `xmllint` check every message that lands in a mailbox.

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;

use crate::support;

pub const PASSWORD: &str = "Segreta-123";

/// One running `pecd serve`, stopped (SIGTERM) on drop.
pub struct Daemon {
    pub dir: PathBuf,
    pub port_base: u16,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// `user`'s INBOX, read over IMAPS by Python's imaplib (the daemon holds the store).
    pub fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/imap_inbox.py");
        let port = (self.port_base + 4).to_string();
        let ca = self.ca();
        let args = [
            &*script.to_string_lossy(),
            &port,
            &*ca.to_string_lossy(),
            user,
            PASSWORD,
        ];
        support::stdout_of("python3", &args, "python3")
            .lines()
            .map(|line| STANDARD.decode(line).unwrap())
            .collect()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("certs/ca.pem")
    }

    /// The daemon's process id (for reading its memory use in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn pecd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pecd"))
}

/// A free block of six ports, different per test process and call.
///
/// The blocks lie in 20000–32759, below Linux's ephemeral range (32768–60999):
/// a port there can be taken as the local end of any outgoing connection on the
/// machine while a daemon is down, and its restart would then fail to listen.
pub fn port_base() -> u16 {
    use std::sync::atomic::AtomicU16;
    use std::sync::atomic::Ordering;
    const BLOCKS: u16 = 1276;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let first = (std::process::id() % u32::from(BLOCKS)) as u16;
    loop {
        let slot = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(slot < BLOCKS, "no free block of ports left");
        let base = 20000 + (first + slot * 7) % BLOCKS * 10;
        let free =
            (base..base + 6).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        if free {
            return base;
        }
    }
}

/// Two initialized providers sharing one index, with routes to each other.
pub fn pair(tmp: &Path, tweak: &str) -> (PathBuf, PathBuf, u16, u16) {
    let (base_a, base_b) = (port_base(), port_base());
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    for (dir, domain, name, base) in [
        (&a, "pec-a.test", "Gestore A S.p.A.", base_a),
        (&b, "pec-b.test", "Gestore B S.p.A.", base_b),
    ] {
        let out = pecd()
            .args([
                "init",
                &dir.to_string_lossy(),
                "--domain",
                domain,
                "--name",
                name,
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
    }
    let index = format!(
        "{}\n{}",
        std::fs::read_to_string(a.join("index.ldif")).unwrap(),
        std::fs::read_to_string(b.join("index.ldif")).unwrap()
    );
    for (dir, peer_domain, peer_dir, peer_base) in [
        (&a, "pec-b.test", &b, base_b),
        (&b, "pec-a.test", &a, base_a),
    ] {
        std::fs::write(dir.join("index.ldif"), &index).unwrap();
        let config = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
        let config = config
            .replace("[routes]\n", &format!("[routes]\n\"{peer_domain}\" = \"127.0.0.1:{}\"\n", peer_base + 2))
            .replace("[listen]", &format!(
                "[relay]\nretry_base_secs = 1\ntls_roots = [\"{}\"]\n\n[timers]\ntick_secs = 1\n{tweak}\n[listen]",
                peer_dir.join("certs/ca.pem").display()
            ));
        std::fs::write(dir.join("pecd.toml"), config).unwrap();
    }
    (a, b, base_a, base_b)
}

pub fn add_mailbox(dir: &Path, address: &str) {
    let mut command = pecd();
    command.args([
        "mailbox",
        "add",
        address,
        "--config",
        &dir.join("pecd.toml").to_string_lossy(),
        "--password-stdin",
    ]);
    let out = support::with_stdin(command, &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "mailbox add {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn start(dir: &Path, port_base: u16) -> Daemon {
    let log = std::fs::File::create(dir.join("pecd.log")).unwrap();
    let child = pecd()
        .args([
            "serve",
            "--config",
            &dir.join("pecd.toml").to_string_lossy(),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port_base + 2)).is_err() {
        assert!(
            Instant::now() < deadline,
            "pecd at {} did not start: {}",
            dir.display(),
            std::fs::read_to_string(dir.join("pecd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Daemon {
        dir: dir.to_path_buf(),
        port_base,
        child,
    }
}

/// Sends with Python's smtplib: STARTTLS on the submission port, then AUTH LOGIN.
pub fn smtplib_send(daemon: &Daemon, user: &str, rcpts: &[&str], message: &str) -> String {
    let script = r#"
import smtplib, ssl, sys, json
port, cafile, user, password, rcpts, path = sys.argv[1:7]
message = open(path, "rb").read()
context = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.ehlo("client.test")
    s.starttls(context=context)
    s.ehlo("client.test")
    s.login(user, password)
    try:
        s.sendmail(user, json.loads(rcpts), message)
        print("250")
    except smtplib.SMTPResponseException as e:
        print(e.smtp_code, e.smtp_error.decode())
    except smtplib.SMTPRecipientsRefused as e:
        print("refused", e.recipients)
"#;
    let rcpts = serde_json::to_string(rcpts).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), message).unwrap();
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &daemon.port_base.to_string(),
            &daemon.ca().to_string_lossy(),
            user,
            PASSWORD,
            &rcpts,
            &file.path().to_string_lossy(),
        ],
        "python3",
    );
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until a mailbox holds messages of the given kinds (in any order).
pub fn wait_for(daemon: &Daemon, user: &str, kinds: &[Kind]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let messages = daemon.inbox(user);
        let found: Vec<Kind> = messages
            .iter()
            .map(|m| reader::read(m).unwrap().kind)
            .collect();
        if kinds.iter().all(|k| {
            found.iter().filter(|f| *f == k).count() >= kinds.iter().filter(|x| *x == k).count()
        }) {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "{user} holds {found:?}, expected {kinds:?}; log:\n{}",
            std::fs::read_to_string(daemon.dir.join("pecd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// openssl smime -verify and xmllint --dtdvalid on one stored message.
pub fn check_signed(message: &[u8], ca: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.eml");
    std::fs::write(&path, message).unwrap();
    support::openssl_smime_verify(&path, ca);
    if let Some(xml) = support::daticert_bytes(message) {
        let xml_path = dir.path().join("daticert.xml");
        std::fs::write(&xml_path, xml).unwrap();
        support::xmllint_daticert(&xml_path);
    }
}

fn message(from: &str, to: &str, cc: Option<&str>, subject: &str) -> String {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {subject}\r\nMessage-ID: <{}@client.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nTesto del messaggio.\r\n",
        subject.replace(' ', "-")
    )
}

#[test]
fn a_certified_message_travels_from_a_to_b_with_all_its_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    add_mailbox(&b_dir, "carol@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test", "carol@pec-b.test"],
        &message(
            "alice@pec-a.test",
            "bob@pec-b.test",
            Some("carol@pec-b.test"),
            "Prova A verso B",
        ),
    );
    assert_eq!(reply, "250");

    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let at_bob = wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    let at_carol = wait_for(&b, "carol@pec-b.test", &[Kind::Transport]);
    for m in &at_a {
        let read = reader::read(m).unwrap();
        let ca = if read.kind == Kind::Receipt(ReceiptKind::Acceptance) {
            a.ca()
        } else {
            b.ca()
        };
        check_signed(m, &ca);
    }
    for m in at_bob.iter().chain(&at_carol) {
        check_signed(m, &a.ca());
    }
    // Bob (To) gets a ricevuta completa carrying the original; Carol (Cc) a sintetica.
    let deliveries: Vec<_> = at_a
        .iter()
        .map(|m| reader::read(m).unwrap())
        .filter(|r| r.kind == Kind::Receipt(ReceiptKind::Delivered))
        .collect();
    let for_bob = deliveries
        .iter()
        .find(|r| r.daticert.as_ref().unwrap().data.delivery.as_deref() == Some("bob@pec-b.test"))
        .unwrap();
    assert!(for_bob.original.is_some());
    let for_carol = deliveries
        .iter()
        .find(|r| r.daticert.as_ref().unwrap().data.delivery.as_deref() == Some("carol@pec-b.test"))
        .unwrap();
    assert!(for_carol.original.is_none());
    let subject = reader::read(&at_bob[0]).unwrap().subject.unwrap();
    assert_eq!(subject, "POSTA CERTIFICATA: Prova A verso B");

    // The log of each side holds the facts, and its chain verifies.
    for daemon in [&a, &b] {
        let out = pecd()
            .args([
                "log",
                "verify",
                "--config",
                &daemon.dir.join("pecd.toml").to_string_lossy(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = pecd()
        .args([
            "log",
            "query",
            "--config",
            &a.dir.join("pecd.toml").to_string_lossy(),
            "--mailbox",
            "alice@pec-a.test",
            "--json",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("\"accepted\""), "{log}");
}

#[test]
fn refusals_and_failures_become_signed_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let _b = start(&b_dir, base_b);

    // Bcc: refused at the access point, with an avviso di non accettazione.
    let with_bcc = message("alice@pec-a.test", "bob@pec-b.test", None, "Con Bcc")
        .replace("Subject:", "Bcc: eve@pec-b.test\r\nSubject:");
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &with_bcc);
    assert!(reply.starts_with("550"), "{reply}");
    // From differs from the authenticated user.
    let forged = message(
        "mallory@pec-a.test",
        "bob@pec-b.test",
        None,
        "Falso mittente",
    );
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &forged);
    assert!(reply.starts_with("550"), "{reply}");
    // Unknown mailbox at B: avviso di mancata consegna back at A.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["nessuno@pec-b.test"],
        &message("alice@pec-a.test", "nessuno@pec-b.test", None, "A nessuno"),
    );
    assert_eq!(reply, "250");

    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryError),
        ],
    );
    let error = at_a
        .iter()
        .map(|m| reader::read(m).unwrap())
        .find(|r| r.kind == Kind::Receipt(ReceiptKind::DeliveryError))
        .unwrap();
    let daticert = error.daticert.unwrap();
    assert_eq!(
        daticert.data.extended_error.as_deref(),
        Some("5.1.1 - Gestore B S.p.A. - indirizzo non valido")
    );
    assert_eq!(daticert.error, pecd::pec::kind::ErrorCode::NoDest);
    for m in &at_a {
        let read = reader::read(m).unwrap();
        let ca = if read.kind == Kind::Receipt(ReceiptKind::DeliveryError) {
            _b.ca()
        } else {
            a.ca()
        };
        check_signed(m, &ca);
    }
}

#[test]
fn ordinary_mail_to_the_mx_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    let script = r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("someone@example.com", ["bob@pec-b.test"], b"From: someone@example.com\r\nTo: bob@pec-b.test\r\nSubject: ciao\r\n\r\nposta ordinaria\r\n")
"#;
    let out = support::run(
        "python3",
        &["-c", script, &(base_b + 2).to_string()],
        "python3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    let read = reader::read(&inbox[0]).unwrap();
    assert_eq!(read.subject.as_deref(), Some("ANOMALIA MESSAGGIO: ciao"));
    check_signed(&inbox[0], &b.ca());
}

#[test]
fn a_provider_that_never_answers_yields_the_12_and_24_hour_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _base_b) = pair(tmp.path(), "warning_secs = 2\nfinal_secs = 4\n");
    add_mailbox(&a_dir, "alice@pec-a.test");
    let a = start(&a_dir, base_a); // B is down.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &message("alice@pec-a.test", "bob@pec-b.test", None, "B spento"),
    );
    assert_eq!(reply, "250");
    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
        ],
    );
    let codes: Vec<String> = at_a
        .iter()
        .filter_map(|m| reader::read(m).unwrap().daticert)
        .filter_map(|d| d.data.extended_error)
        .collect();
    assert!(codes.iter().any(|c| c.starts_with("4.4.7")), "{codes:?}");
    assert!(codes.iter().any(|c| c.starts_with("5.4.1")), "{codes:?}");
    for m in &at_a {
        check_signed(m, &a.ca());
    }
}

#[test]
fn limits_give_non_acceptance_and_same_domain_mail_runs_the_full_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = "[limits]\nmax_recipients = 50\nmax_total_bytes = 30000000\n";
    let (a_dir, _b_dir, base_a, _base_b) = pair(tmp.path(), limits);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&a_dir, "dario@pec-a.test");
    let a = start(&a_dir, base_a);

    // 51 recipients: over the limit (at least the DM art. 12 minimum of 50).
    let many: Vec<String> = (0..51).map(|i| format!("r{i}@pec-b.test")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &refs,
        &message(
            "alice@pec-a.test",
            &many.join(", "),
            None,
            "Troppi destinatari",
        ),
    );
    assert!(reply.starts_with("550"), "{reply}");
    // 16 MB to two recipients: 32 MB over the 30 MB of size × recipients.
    let big = message(
        "alice@pec-a.test",
        "bob@pec-b.test, carol@pec-b.test",
        None,
        "Troppo grande",
    )
    .replace(
        "Testo del messaggio.",
        &"x".repeat(76)
            .repeat(16 * 1024 * 1024 / 78)
            .replace(&"x".repeat(76), &format!("{}\r\n", "x".repeat(76))),
    );
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test", "carol@pec-b.test"],
        &big,
    );
    assert!(reply.starts_with("550"), "{reply}");
    // Same domain: the full flow, receipts included.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["dario@pec-a.test"],
        &message(
            "alice@pec-a.test",
            "dario@pec-a.test",
            None,
            "Stesso dominio",
        ),
    );
    assert_eq!(reply, "250");

    let at_alice = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let at_dario = wait_for(&a, "dario@pec-a.test", &[Kind::Transport]);
    for m in at_alice.iter().chain(&at_dario) {
        check_signed(m, &a.ca());
    }
    let reasons: Vec<String> = at_alice
        .iter()
        .filter_map(|m| reader::read(m).unwrap().daticert)
        .filter_map(|d| d.data.extended_error)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("numero di destinatari")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("dimensione complessiva")),
        "{reasons:?}"
    );
}

#[test]
fn an_envelope_signed_by_a_provider_not_in_the_index_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    // A transport envelope signed with the committed test key of pec-a.test, which is
    // not the key `pecd init` made for A and so is in nobody's index.
    let case = crate::builders::cases().into_iter().next().unwrap();
    let signed =
        pecd::crypto::smime::sign(&support::TestProvider::a().signer, &case.unsigned).unwrap();
    mx_send(base_b + 2, "alice@pec-a.test", "bob@pec-b.test", &signed);
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    check_signed(&inbox[0], &b.ca());
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.contains("not in the providers index") || text.contains("ANOMALIA MESSAGGIO"),
        "{text}"
    );
}

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
fn bad_input_gets_clean_errors_and_the_server_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    let script = r#"
import socket, sys
port = int(sys.argv[1])
def session(payload, wait=1.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(1000)
    s.sendall(payload)
    s.settimeout(wait)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data.decode(errors="replace")
# garbage and NUL bytes
print("GARBAGE", session(b"\x00\x01\xff\xfe garbage\r\nEHLO x\r\n").replace("\r\n", "|"))
# an overlong command line
print("LONG", session(b"EHLO " + b"a" * 5000 + b"\r\nNOOP\r\n").replace("\r\n", "|"))
# pipelining abuse: commands out of order in one write
print("PIPE", session(b"RCPT TO:<bob@pec-b.test>\r\nDATA\r\nMAIL FROM:<a@x.it>\r\nMAIL FROM:<a@x.it>\r\nQUIT\r\n").replace("\r\n", "|"))
# unterminated DATA, then the connection drops
print("CUT", session(b"EHLO x\r\nMAIL FROM:<a@x.it>\r\nRCPT TO:<bob@pec-b.test>\r\nDATA\r\nSubject: cut\r\n\r\nhalf", 0.5).replace("\r\n", "|"))
# malformed MIME: accepted as ordinary mail and wrapped, never half-stored
print("MIME", session(b"EHLO x\r\nMAIL FROM:<a@x.it>\r\nRCPT TO:<bob@pec-b.test>\r\nDATA\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n.\r\nQUIT\r\n").replace("\r\n", "|"))
"#;
    let out = support::run(
        "python3",
        &["-c", script, &(base_b + 2).to_string()],
        "python3",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |tag: &str| {
        text.lines()
            .find(|l| l.starts_with(tag))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("GARBAGE").contains("500"), "{text}");
    assert!(
        line("GARBAGE").contains("250"),
        "the session survives garbage: {text}"
    );
    assert!(line("LONG").contains("500"), "{text}");
    assert!(
        line("LONG").contains("250"),
        "NOOP after the long line: {text}"
    );
    assert!(line("PIPE").contains("503"), "{text}");
    assert!(line("PIPE").contains("221"), "{text}");
    assert!(line("MIME").contains("250 2.0.0"), "{text}");

    // The server is still up, and only the complete malformed message was stored.
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    assert_eq!(inbox.len(), 1, "the cut DATA left nothing behind");
    assert!(std::net::TcpStream::connect(("127.0.0.1", base_b + 2)).is_ok());
}

/// A tiny DNS server answering MX and A queries from a table, for the MX-lookup test.
const DNS_SERVER: &str = r#"
import socket, struct, sys
port, mx_domain, mx_host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
print("ready", flush=True)
def name(text):
    return b"".join(bytes([len(l)]) + l.encode() for l in text.strip(".").split(".")) + b"\0"
while True:
    data, peer = s.recvfrom(512)
    qid, flags = struct.unpack(">HH", data[:4])
    i = 12
    labels = []
    while data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode())
        i += 1 + data[i]
    qname = ".".join(labels).lower()
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
    question = data[12:i + 5]
    answers = []
    if qtype == 15 and qname == mx_domain:
        rdata = struct.pack(">H", 10) + name(mx_host)
        answers.append(struct.pack(">HHHIH", 0xC00C, 15, 1, 60, len(rdata)) + rdata)
    elif qtype == 1 and qname == mx_host:
        answers.append(struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1]))
    known = qname in (mx_domain, mx_host)
    rcode = 0 if known else 3
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    s.sendto(header + question + b"".join(answers), peer)
"#;

#[test]
fn without_a_route_the_relay_finds_the_provider_through_its_mx_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    let dns_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dns = Command::new("python3")
        .args([
            "-c",
            DNS_SERVER,
            &dns_port.to_string(),
            "pec-b.test",
            "localhost",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(dns.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    // A: no route to B; DNS says pec-b.test's mail host is `localhost`, on B's MX port.
    let config = std::fs::read_to_string(a_dir.join("pecd.toml")).unwrap();
    let config = config
        .lines()
        .filter(|l| !l.starts_with("\"pec-b.test\""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "[relay]\n",
            &format!(
                "[relay]\nnameservers = [\"127.0.0.1:{dns_port}\"]\nmx_port = {}\n",
                base_b + 2
            ),
        );
    std::fs::write(a_dir.join("pecd.toml"), config).unwrap();
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &message("alice@pec-a.test", "bob@pec-b.test", None, "Via MX"),
    );
    assert_eq!(reply, "250");
    wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let _ = dns.kill();
    let _ = dns.wait();
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

#[test]
fn an_envelope_signed_with_an_expired_listed_certificate_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    // A listed certificate of A's that expired yesterday.
    let ca =
        pecd::crypto::certs::load_issued(&a_dir.join("certs/ca.pem"), &a_dir.join("certs/ca.key"))
            .unwrap();
    let now = jiff::Timestamp::now();
    let expired = pecd::crypto::certs::signing_certificate_for_period(
        &ca,
        "pec-a.test",
        "Gestore A S.p.A.",
        2048,
        now - jiff::SignedDuration::from_hours(24 * 400),
        now - jiff::SignedDuration::from_hours(24),
    )
    .unwrap();
    let signer = pecd::crypto::identity::Signer::from_pem(
        &expired.certificate_pem().unwrap(),
        &expired.key_pem().unwrap(),
    )
    .unwrap();
    let der = signer.certificate_der();
    let listed = pecd::pec::index::Provider {
        name: "Gestore A S.p.A. (vecchio certificato)".into(),
        unit: None,
        certificate_hashes: vec![pecd::crypto::trust::sha1_hex(&der)],
        certificates: vec![der],
        mail_receipt: "posta-certificata@pec-a.test".into(),
        managed_domains: vec!["pec-a.test".into()],
        description: None,
        ldif_location_url: None,
    };
    let mut index = std::fs::read_to_string(b_dir.join("index.ldif")).unwrap();
    index.push('\n');
    index.push_str(&listed.to_ldif());
    std::fs::write(b_dir.join("index.ldif"), index).unwrap();
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);

    let case = crate::builders::cases().into_iter().next().unwrap();
    let signed = pecd::crypto::smime::sign(&signer, &case.unsigned).unwrap();
    mx_send(base_b + 2, "alice@pec-a.test", "bob@pec-b.test", &signed);
    wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    let out = pecd()
        .args([
            "log",
            "query",
            "--config",
            &b.dir.join("pecd.toml").to_string_lossy(),
            "--json",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        log.contains("anomaly-received") && log.contains("certificate"),
        "the log states why: {log}"
    );
    assert!(
        !log.contains("taken-in-charge"),
        "no presa in carico for it: {log}"
    );
}

/// Hands raw bytes to an MX with Python's smtplib, in clear, as another provider would.
fn mx_send(port: u16, mail_from: &str, rcpt: &str, message: &[u8]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), message).unwrap();
    let script = r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail(sys.argv[2], [sys.argv[3]], open(sys.argv[4], "rb").read())
"#;
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &port.to_string(),
            mail_from,
            rcpt,
            &file.path().to_string_lossy(),
        ],
        "python3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
