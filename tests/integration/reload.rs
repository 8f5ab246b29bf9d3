//! `pecd check-config` on real files, and SIGHUP on a live `pecd serve`: a renewed TLS
//! certificate is served to new connections while a TLS connection opened before the
//! reload keeps working; a tunable limit changes; a bad config (broken TOML, a key that
//! does not match its certificate) is refused with the old one kept whole.

use std::io::BufRead;
use std::io::BufReader;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use crate::daemon;
use crate::metrics;
use crate::openapi;
use crate::support;

fn check_config(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args(["check-config", "--config", &config.to_string_lossy()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_config_passes_a_provider_from_init_and_lists_every_problem_of_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b, _, _) = daemon::pair(tmp.path(), "");
    let config = a_dir.join("pecd.toml");
    let (code, said) = check_config(&config);
    assert_eq!(code, 0, "{said}");

    let good = std::fs::read_to_string(&config).unwrap();
    let bad = good
        .replace("[listen]", "[listen]\ncolore = \"blu\"")
        .replace(
            "[timers]\ntick_secs = 1",
            "[timers]\ntick_secs = \"spesso\"",
        );
    std::fs::write(&config, &bad).unwrap();
    std::fs::write(a_dir.join("certs/tls.key"), "non una chiave\n").unwrap();
    let (code, said) = check_config(&config);
    assert_eq!(code, 1, "{said}");
    let line_of = |needle: &str| bad.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let path = config.display().to_string();
    for expected in [
        format!("{path}:{}:", line_of("colore")),
        format!("{path}:{}:", line_of("tick_secs")),
    ] {
        assert!(said.contains(&expected), "no {expected} in:\n{said}");
    }
    // With the keys fixed, the file's references are checked: the broken TLS key.
    std::fs::write(&config, &good).unwrap();
    let (code, said) = check_config(&config);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("TLS certificate and key"), "{said}");
    assert!(said.starts_with(&format!("{path}:")), "{said}");
}

/// A TLS connection to `port` held open: the SHA-256 of the certificate it got, and
/// (after `next`) the answer to an IMAP NOOP over it.
struct Held {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    fingerprint: String,
}

const CLIENT: &str = r#"
import hashlib, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30))
f = s.makefile("rwb")
f.readline()
print(hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest(), flush=True)
if sys.stdin.readline():
    f.write(b"a1 NOOP\r\n"); f.flush()
    print(f.readline().decode().strip(), flush=True)
    f.write(b"a2 LOGOUT\r\n"); f.flush()
"#;

impl Held {
    fn open(port: u16) -> Held {
        let mut child = Command::new("python3")
            .args(["-c", CLIENT, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let fingerprint = lines.next().unwrap().unwrap();
        Held {
            child,
            lines,
            fingerprint,
        }
    }

    fn noop(mut self) -> String {
        writeln!(self.child.stdin.as_mut().unwrap(), "go").unwrap();
        let answer = self.lines.next().unwrap().unwrap();
        let _ = self.child.wait();
        answer
    }
}

/// The certificate a new connection gets.
fn served(port: u16) -> String {
    let held = Held::open(port);
    drop(held.child.stdin);
    held.fingerprint
}

fn fingerprint_of(pem: &Path) -> String {
    let script = "import hashlib, ssl, sys; \
                  print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())";
    support::stdout_of(
        "python3",
        &["-c", script, &pem.to_string_lossy()],
        "python3",
    )
    .trim()
    .to_string()
}

/// A self-signed certificate for `pec-a.test`, valid `days`, with its key.
fn new_certificate(dir: &Path, name: &str, days: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = support::run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=pec-a.test",
            "-days",
            days,
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
        ],
        "openssl",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Sends SIGHUP and waits until the log has one more line saying how the reload went.
fn hangup(daemon: &daemon::Daemon, done_before: usize) -> String {
    let out = Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(daemon.dir.join("pecd.log")).unwrap();
        let outcomes: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("configuration reloaded") || l.contains("configuration not reloaded")
            })
            .collect();
        if outcomes.len() > done_before {
            return outcomes[done_before].to_string();
        }
        assert!(Instant::now() < deadline, "no reload in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `count` IMAP logins as alice with a wrong password, over IMAPS.
fn wrong_passwords(port: u16, count: u32) {
    let script = r#"
import imaplib, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
for _ in range(int(sys.argv[2])):
    imap = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=context)
    try:
        imap.login("alice@pec-a.test", "sbagliata-123")
    except imaplib.IMAP4.error:
        pass
    imap.logout()
"#;
    support::stdout_of(
        "python3",
        &["-c", script, &port.to_string(), &count.to_string()],
        "python3",
    );
}

/// An ordinary message to the MX: its SMTP code.
fn ordinary_mail(port: u16) -> String {
    let script = r#"
import smtplib, sys
try:
    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
        s.sendmail("mario@example.com", ["alice@pec-a.test"], b"From: mario@example.com\r\nTo: alice@pec-a.test\r\nSubject: ciao\r\n\r\nciao\r\n")
    print(250)
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
except smtplib.SMTPDataError as e:
    print(e.smtp_code)
"#;
    support::stdout_of("python3", &["-c", script, &port.to_string()], "python3")
        .trim()
        .to_string()
}

#[test]
fn sighup_reloads_certificates_and_limits_without_dropping_connections_and_refuses_a_bad_config() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _b, base, _) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&dir, "alice@pec-a.test");
    let config_path = dir.join("pecd.toml");
    let original = std::fs::read_to_string(&config_path).unwrap();
    let token = original
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let pecd = daemon::start(&dir, base);
    let imaps = base + 4;
    let first = fingerprint_of(&dir.join("certs/tls.pem"));
    assert_eq!(served(imaps), first);
    assert_eq!(ordinary_mail(base + 2), "250");

    // Renewed certificate, and ordinary mail refused from now on.
    let held = Held::open(imaps);
    let (cert, _) = new_certificate(&dir, "renewed", "20");
    let renewed = original
        .replace(
            "tls_certificate = \"certs/tls.pem\"",
            "tls_certificate = \"renewed.pem\"",
        )
        .replace("tls_key = \"certs/tls.key\"", "tls_key = \"renewed.key\"")
        .replace(
            "[listen]",
            "[mx]\naccept_ordinary_mail = false\n\n[login]\nfailures_per_address = 1\n\n[listen]",
        );
    assert_ne!(renewed, original);
    std::fs::write(&config_path, &renewed).unwrap();
    let outcome = hangup(&pecd, 0);
    assert!(outcome.contains("configuration reloaded"), "{outcome}");
    let second = fingerprint_of(&cert);
    assert_eq!(
        served(imaps),
        second,
        "new connections get the renewed certificate"
    );
    assert_eq!(held.fingerprint, first);
    let answer = held.noop();
    assert!(
        answer.starts_with("a1 OK"),
        "the connection made before the reload: {answer}"
    );
    assert_eq!(ordinary_mail(base + 2), "550");
    // The login throttle's new limit: the second wrong password is refused unchecked.
    wrong_passwords(imaps, 2);
    let scrape = openapi::get(base + 5, "/metrics", Some(&token));
    let scrape = String::from_utf8(scrape.body).unwrap();
    metrics::promtool(&scrape);
    let throttled = "pecd_logins_throttled_total{protocol=\"imap\"}";
    assert_eq!(metrics::sample(&scrape, throttled), 1.0, "{scrape}");
    let tls_left = metrics::sample(
        &scrape,
        "pecd_certificate_expiry_seconds{certificate=\"tls\"}",
    );
    assert!(tls_left > 0.0 && tls_left <= 20.0 * 86_400.0, "{tls_left}");

    // Broken TOML: refused, everything stays.
    std::fs::write(&config_path, format!("{renewed}\n[limits\n")).unwrap();
    let outcome = hangup(&pecd, 1);
    assert!(outcome.contains("not reloaded"), "{outcome}");
    // A key that does not belong to its certificate: refused as a whole, so the
    // limit in the same file is not applied either.
    let (_, other_key) = new_certificate(&dir, "other", "20");
    let mismatched = renewed
        .replace(
            "renewed.key",
            &other_key.file_name().unwrap().to_string_lossy(),
        )
        .replace(
            "accept_ordinary_mail = false",
            "accept_ordinary_mail = true",
        );
    std::fs::write(&config_path, mismatched).unwrap();
    let outcome = hangup(&pecd, 2);
    assert!(outcome.contains("not reloaded"), "{outcome}");
    assert_eq!(served(imaps), second);
    assert_eq!(ordinary_mail(base + 2), "550");
    let scrape = openapi::get(base + 5, "/metrics", Some(&token));
    let scrape = String::from_utf8(scrape.body).unwrap();
    assert_eq!(
        metrics::sample(&scrape, "pecd_config_reloads_total{result=\"ok\"}"),
        1.0
    );
    assert_eq!(
        metrics::sample(&scrape, "pecd_config_reloads_total{result=\"refused\"}"),
        2.0
    );
}
