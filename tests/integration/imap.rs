//! IMAP with real clients over TLS: Python's imaplib through every command (and IDLE
//! woken by an SMTP delivery), `mbsync` syncing both ways, and the PEC receipt keywords
//! appearing on the sender's `Sent` copy as the receipts of a two-provider exchange
//! arrive.

use std::path::Path;

use crate::daemon;
use crate::support;

const PASSWORD: &str = "Segreta-123";

fn python(script: &str, args: &[&str]) {
    python_beside(script, args, None);
}

/// Runs `tests/scripts/<script>`; on failure shows its output and the log of the
/// provider in `provider`, when given.
fn python_beside(script: &str, args: &[&str], provider: Option<&Path>) {
    let path = support::root().join("tests/scripts").join(script);
    let mut all = vec![path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = support::run("python3", &all, "python3");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        provider.map(log).unwrap_or_default()
    );
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("pecd.log")).unwrap_or_default()
}

#[test]
fn imaplib_exercises_every_command_and_idle_sees_an_smtp_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "mario@pec-a.test");
    daemon::add_mailbox(&a, "luigi@pec-a.test");
    let provider = daemon::start(&a, base_a);
    let port = (base_a + 3).to_string();
    let ca = provider.ca();
    python_beside(
        "imap_session.py",
        &[
            &port,
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
            "luigi@pec-a.test",
        ],
        Some(&a),
    );
}

#[test]
fn receipts_mark_the_sent_copy_with_keywords() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, base_a, base_b) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "mario@pec-a.test");
    daemon::add_mailbox(&b, "anna@pec-b.test");
    daemon::add_mailbox(&b, "bruno@pec-b.test");
    let provider_a = daemon::start(&a, base_a);
    let _provider_b = daemon::start(&b, base_b);
    let ca = provider_a.ca();
    python(
        "imap_keywords.py",
        &[
            &base_a.to_string(),
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
        ],
    );
}

#[test]
fn mbsync_syncs_a_mailbox_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "mario@pec-a.test");
    let provider = daemon::start(&a, base_a);
    let ca = provider.ca();
    python(
        "imap_mbsync.py",
        &[
            &(base_a + 4).to_string(),
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
            tmp.path().join("maildir").to_str().unwrap(),
        ],
    );
}

#[test]
fn messages_filed_into_archivia_are_conserved_then_leave_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _) = daemon::pair(tmp.path(), crate::conservation::FAST);
    daemon::add_mailbox(&a, "mario@pec-a.test");
    daemon::add_mailbox(&a, "luigi@pec-a.test");
    // The rule is `off`: only the manual folder conserves.
    let provider = daemon::start(&a, base_a);
    let reply = daemon::smtplib_send(
        &provider,
        "luigi@pec-a.test",
        &["mario@pec-a.test"],
        "From: luigi@pec-a.test\r\nTo: mario@pec-a.test\r\nSubject: Parere\r\n\r\nIn allegato.\r\n",
    );
    assert_eq!(reply, "250");
    let ca = provider.ca();
    python(
        "imap_archive.py",
        &[
            &(base_a + 4).to_string(),
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
        ],
    );
    let packages = crate::conservation::packages(&a);
    let mut kinds: Vec<String> = packages
        .iter()
        .filter(|p| p.mailbox == "mario@pec-a.test")
        .flat_map(|p| p.messages.iter().map(|m| m.metadata.kind.clone()))
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["ordinary", "posta-certificata"], "{}", log(&a));
}

/// NOTIFY (RFC 5465) through imaplib: a second session's folder changes and an SMTP
/// delivery reach the watching session between its commands; another holder's
/// changes never do.
#[test]
fn imaplib_notify_tells_changes_between_commands_and_nothing_of_other_holders() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "mario@pec-a.test");
    daemon::add_mailbox(&a, "luigi@pec-a.test");
    let provider = daemon::start(&a, base_a);
    let ca = provider.ca();
    python_beside(
        "imap_notify.py",
        &[
            &base_a.to_string(),
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
            "luigi@pec-a.test",
        ],
        Some(&a),
    );
}

/// IDLE wakes only the sessions of the holder a commit changed: another holder's
/// session in IDLE is not woken (the daemon's wake counter does not move, nothing is
/// written to it) by a PEC delivered to `mario`, whose own IDLE still gets EXISTS.
#[test]
fn idle_wakes_only_the_holder_the_mail_is_for() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _) = daemon::pair(tmp.path(), "\n[metrics]\npublic = true\n");
    for address in ["mario@pec-a.test", "luigi@pec-a.test", "anna@pec-a.test"] {
        daemon::add_mailbox(&a, address);
    }
    let provider = daemon::start(&a, base_a);
    let ca = provider.ca();
    python_beside(
        "imap_idle_holders.py",
        &[
            &base_a.to_string(),
            ca.to_str().unwrap(),
            "mario@pec-a.test",
            PASSWORD,
            "luigi@pec-a.test",
            "anna@pec-a.test",
        ],
        Some(&a),
    );
}
