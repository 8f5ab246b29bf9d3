//! Two providers A and B from `pecd init` on loopback, each loading an index with both
//! entries, exchanging certified mail with real clients: Python's `smtplib` submits,
//! the real `openssl` and `xmllint` check every message that lands in a mailbox. The
//! harness is here (other test files start daemons with it); the tests are in
//! `daemon/`.

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

mod anomalies;
mod burst;
mod cluster;
mod cluster_objects;
mod flow;
mod restarts;

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
    if let Some(server) = std::env::var_os("PECD_TEST_POSTGRES") {
        on_the_cluster(&a, &server.to_string_lossy());
    }
    (a, b, base_a, base_b)
}

/// Moves provider A's store onto a new database of the PostgreSQL at `server`: the
/// cluster pass of `.ci/run` runs every two-provider test so (`tools/postgres.sh`).
fn on_the_cluster(dir: &Path, server: &str) {
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::Ordering;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "a_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let mut config = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
    // A database named before (the cluster pass names one for every test) gives way.
    if let Some(at) = config.find("\n[store]\n") {
        config.truncate(at);
    }
    config.push_str(&format!(
        "\n[store]\nbackend = \"cluster\"\npostgres = \"{url}\"\n"
    ));
    if let Some(garage) = std::env::var_os("PECD_TEST_GARAGE") {
        // A bucket of its own: package names are unique within a provider only.
        let bucket = new_bucket(Path::new(&garage), &name.replace('_', "-"));
        config.push_str(&s3_setting(&bucket));
    }
    std::fs::write(dir.join("pecd.toml"), config).unwrap();
}

/// A new bucket `name` of the Garage `tools/garage.sh start` runs in `garage`, as
/// the script prints it.
pub fn new_bucket(garage: &Path, name: &str) -> String {
    let script = support::root().join("tools/garage.sh");
    let args = [
        &script.to_string_lossy(),
        "bucket",
        &garage.to_string_lossy(),
        name,
    ];
    support::stdout_of("bash", &args, "bash").trim().to_string()
}

/// `[store] s3` for a bucket as `tools/garage.sh` prints it
/// (`ENDPOINT BUCKET REGION ACCESS_KEY SECRET_KEY`).
pub fn s3_setting(printed: &str) -> String {
    let [endpoint, bucket, region, access, secret] =
        printed.split_whitespace().collect::<Vec<_>>()[..]
    else {
        panic!("not what tools/garage.sh prints: {printed:?}");
    };
    format!(
        "s3 = {{ endpoint = \"{endpoint}\", bucket = \"{bucket}\", region = \"{region}\", \
         access_key = \"{access}\", secret_key = \"{secret}\" }}\n"
    )
}

pub fn add_mailbox(dir: &Path, address: &str) {
    mailbox_with_password(dir, "add", address, PASSWORD);
}

/// `pecd mailbox add|set ADDRESS --password-stdin` (while the daemon runs or not).
pub fn mailbox_with_password(dir: &Path, verb: &str, address: &str, password: &str) {
    let mut command = pecd();
    command.args([
        "mailbox",
        verb,
        address,
        "--config",
        &dir.join("pecd.toml").to_string_lossy(),
        "--password-stdin",
    ]);
    let out = support::with_stdin(command, &format!("{password}\n"));
    assert!(
        out.status.success(),
        "mailbox {verb} {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn start(dir: &Path, port_base: u16) -> Daemon {
    // The daemon binds its listeners one after another, the MX among the first, and
    // the control socket after them all: a test may use any of them once both answer.
    let control = dir.join("data/control/pecd.sock");
    let _ = std::fs::remove_file(&control);
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
    while std::net::TcpStream::connect(("127.0.0.1", port_base + 2)).is_err() || !control.exists() {
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
