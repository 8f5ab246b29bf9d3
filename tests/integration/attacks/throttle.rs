//! Password guessing against a live daemon, with real clients (Python's imaplib and
//! smtplib): a victim's lock that the attacker's own logins try to reset, forty
//! wrong passwords sent at once, and one account guessed from several addresses.

use std::path::Path;
use std::process::Command;

use crate::daemon;
use crate::daemon::Daemon;
use crate::daemon::PASSWORD;
use crate::support;

const VICTIM: &str = "victim@pec-a.test";
const ATTACKER: &str = "attacker@pec-a.test";

/// A provider from `pecd init` with the `[login]` keys `login` (when not empty), the
/// victim's and the attacker's mailboxes, running.
fn provider(tmp: &Path, login: &str) -> Daemon {
    let base = daemon::port_base();
    let dir = tmp.join("a");
    let out = Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args(["init", &dir.to_string_lossy(), "--domain", "pec-a.test"])
        .args(["--name", "Gestore A", "--port-base", &base.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !login.is_empty() {
        let config = dir.join("pecd.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}\n[login]\n{login}\n")).unwrap();
    }
    daemon::add_mailbox(&dir, VICTIM);
    daemon::add_mailbox(&dir, ATTACKER);
    daemon::start(&dir, base)
}

/// Runs a Python client script with the port and CA file first; its output lines.
fn python(script: &str, port: u16, daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let (port, ca) = (port.to_string(), daemon.ca());
    let mut all = vec!["-c", script, &port, &*ca.to_string_lossy()]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    all.extend(args.iter().map(|arg| arg.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    support::stdout_of("python3", &all, "python3")
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|line| *line == what).count()
}

/// IMAP LOGIN over implicit TLS; each attempt prints `ok`, `failed` (checked and
/// wrong: `NO [AUTHENTICATIONFAILED]`) or `unavailable` (refused unchecked).
const IMAP_CLIENT: &str = r#"
import imaplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=cafile)
context.check_hostname = False

def connect():
    return imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=60)

def login(connection, user, password):
    try:
        connection.login(user, password)
        connection.logout()
        return "ok"
    except imaplib.IMAP4.error as error:
        text = str(error)
        if "AUTHENTICATIONFAILED" in text:
            return "failed"
        if "UNAVAILABLE" in text:
            return "unavailable"
        return "other " + text
"#;

#[test]
fn the_attackers_own_logins_do_not_reset_the_victims_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = provider(tmp.path(), "");
    let script = format!(
        "{IMAP_CLIENT}
victim, attacker, password = sys.argv[3:6]
for _ in range(12):
    print('victim', login(connect(), victim, 'wrong-guess'))
    print('attacker', login(connect(), attacker, password))
print('victim-right', login(connect(), victim, password))
"
    );
    let lines = python(
        &script,
        daemon.port_base + 4,
        &daemon,
        &[VICTIM, ATTACKER, PASSWORD],
    );
    // Five checks for the (address, account) pair, however many successes between.
    assert_eq!(count(&lines, "victim failed"), 5, "{lines:#?}");
    assert_eq!(count(&lines, "victim unavailable"), 7, "{lines:#?}");
    assert_eq!(count(&lines, "attacker ok"), 12, "{lines:#?}");
    assert_eq!(lines.last().unwrap(), "victim-right unavailable");
}

#[test]
fn forty_parallel_wrong_passwords_get_no_more_checks_than_the_lock_allows() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = provider(tmp.path(), "");
    let script = format!(
        "{IMAP_CLIENT}
import threading
victim, password = sys.argv[3:5]
connections = [connect() for _ in range(40)]
start = threading.Barrier(40)
results = []
def attempt(connection):
    start.wait()
    results.append(login(connection, victim, 'wrong-guess'))
threads = [threading.Thread(target=attempt, args=(c,)) for c in connections]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for result in results:
    print(result)
print('right', login(connect(), victim, password))
"
    );
    let lines = python(&script, daemon.port_base + 4, &daemon, &[VICTIM, PASSWORD]);
    assert_eq!(lines.len(), 41, "{lines:#?}");
    let checked = count(&lines, "failed");
    let refused = count(&lines, "unavailable");
    assert_eq!(checked + refused, 40, "{lines:#?}");
    assert!((1..=5).contains(&checked), "{checked} checked: {lines:#?}");
    assert_eq!(lines.last().unwrap(), "right unavailable");
    let log = std::fs::read_to_string(daemon.dir.join("pecd.log")).unwrap();
    assert_eq!(
        log.matches("IMAP login failed").count(),
        checked,
        "every checked attempt is logged once"
    );
}

/// SMTP AUTH PLAIN over implicit TLS from a given source address; prints the reply
/// code of each attempt `source:user:password`.
const SMTP_CLIENT: &str = r#"
import base64, smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=cafile)
context.check_hostname = False
for attempt in sys.argv[3:]:
    source, user, password = attempt.split(":")
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=60,
                         source_address=(source, 0))
    s.ehlo("client.test")
    token = base64.b64encode(("\0" + user + "\0" + password).encode()).decode()
    code, _ = s.docmd("AUTH", "PLAIN " + token)
    print(source, code)
    s.close()
"#;

#[test]
fn guesses_from_several_addresses_lock_the_account_but_not_its_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = provider(tmp.path(), "failures_per_account = 6");
    let attempt = |source: &str, password: &str| format!("{source}:{VICTIM}:{password}");
    // The owner logs in from their usual address before the attack.
    let mut attempts = vec![attempt("127.0.0.1", PASSWORD)];
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        for _ in 0..2 {
            attempts.push(attempt(source, "wrong-guess"));
        }
    }
    attempts.push(attempt("127.0.0.5", "wrong-guess"));
    attempts.push(attempt("127.0.0.6", PASSWORD));
    attempts.push(attempt("127.0.0.1", PASSWORD));
    let args: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let lines = python(SMTP_CLIENT, daemon.port_base + 1, &daemon, &args);
    assert_eq!(
        lines,
        [
            "127.0.0.1 235",
            "127.0.0.2 535",
            "127.0.0.2 535",
            "127.0.0.3 535",
            "127.0.0.3 535",
            "127.0.0.4 535",
            "127.0.0.4 535",
            // Six failures from three addresses, two each: the account is locked for
            // every address, the right password included, but the owner's own.
            "127.0.0.5 421",
            "127.0.0.6 421",
            "127.0.0.1 235",
        ]
    );
}
