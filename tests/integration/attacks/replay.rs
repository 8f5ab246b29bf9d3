//! Replay and retouching of genuine messages: whoever holds a real busta or receipt
//! (a recipient, anyone it was forwarded to) hands it to an MX again, to another
//! mailbox, or with its unsigned outer headers changed. None of it may yield a second
//! delivery, a receipt, or a state change; what reaches a mailbox is an anomaly.

use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;

use super::mx_send;
use crate::daemon;
use crate::daemon::Daemon;

const BUSTA: Kind = Kind::Transport;
const CONSEGNA: Kind = Kind::Receipt(ReceiptKind::Delivered);

fn count(daemon: &Daemon, user: &str, kind: Kind) -> usize {
    daemon
        .inbox(user)
        .iter()
        .filter(|m| reader::read(m).unwrap().kind == kind)
        .count()
}

fn first_of(daemon: &Daemon, user: &str, kind: Kind) -> Vec<u8> {
    daemon
        .inbox(user)
        .into_iter()
        .find(|m| reader::read(m).unwrap().kind == kind)
        .unwrap()
}

/// `message` with the value of its top-level header `name` (one line) replaced.
fn with_header(message: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut replaced = false;
    let lines: Vec<String> = head
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((field, _)) if !replaced && field.eq_ignore_ascii_case(name) => {
                replaced = true;
                format!("{field}: {value}")
            }
            _ => line.to_string(),
        })
        .collect();
    assert!(replaced, "no {name} header");
    format!("{}\r\n\r\n{body}", lines.join("\r\n")).into_bytes()
}

fn send(daemon: &Daemon, n: u32) {
    let message = format!(
        "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: atto {n}\r\nMessage-ID: <replay-{n}@mua.test>\r\n\r\ntesto\r\n"
    );
    let reply = daemon::smtplib_send(daemon, "alice@pec-a.test", &["bob@pec-b.test"], &message);
    assert_eq!(reply, "250");
}

#[test]
fn replayed_or_retouched_envelopes_and_receipts_certify_nothing_new() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, base_a, base_b) = daemon::pair(tmp.path(), "");
    for (dir, user) in [
        (&a, "alice@pec-a.test"),
        (&a, "dave@pec-a.test"),
        (&b, "bob@pec-b.test"),
        (&b, "carol@pec-b.test"),
    ] {
        daemon::add_mailbox(dir, user);
    }
    let (a_daemon, b_daemon) = (daemon::start(&a, base_a), daemon::start(&b, base_b));
    send(&a_daemon, 1);
    daemon::wait_for(&b_daemon, "bob@pec-b.test", &[BUSTA]);
    daemon::wait_for(&a_daemon, "alice@pec-a.test", &[CONSEGNA]);
    let busta = first_of(&b_daemon, "bob@pec-b.test", BUSTA);
    let consegna = first_of(&a_daemon, "alice@pec-a.test", CONSEGNA);
    let (mx_a, mx_b) = (base_a + 2, base_b + 2);
    let from = "alice@pec-a.test";

    // The same busta again, as a relay that lost our 250 would send it.
    assert!(mx_send(mx_b, from, &["bob@pec-b.test"], &busta).starts_with("250"));
    // To a mailbox its daticert does not name.
    assert!(mx_send(mx_b, from, &["carol@pec-b.test"], &busta).starts_with("250"));
    // With the unsigned outer headers changed: a new Message-ID (to dodge
    // de-duplication), another Subject, another To, another sender in From's name.
    let retouched = [
        (
            "bob@pec-b.test",
            with_header(&busta, "Message-ID", "<new-1@attacker.test>"),
        ),
        (
            "bob@pec-b.test",
            with_header(&busta, "Subject", "POSTA CERTIFICATA: Sfratto esecutivo"),
        ),
        (
            "carol@pec-b.test",
            with_header(&busta, "To", "carol@pec-b.test"),
        ),
        (
            "bob@pec-b.test",
            with_header(
                &busta,
                "From",
                "\"Per conto di: sindaco@pec-a.test\" <posta-certificata@pec-a.test>",
            ),
        ),
    ];
    for (rcpt, message) in &retouched {
        assert!(mx_send(mx_b, from, &[rcpt], message).starts_with("250"));
    }
    // A genuine consegna, to another of A's mailboxes and to alice again.
    let service_b = "posta-certificata@pec-b.test";
    assert!(mx_send(mx_a, service_b, &["dave@pec-a.test"], &consegna).starts_with("250"));
    assert!(mx_send(mx_a, service_b, &["alice@pec-a.test"], &consegna).starts_with("250"));

    // A second genuine message goes the same way after everything above: once its
    // consegna is back, any receipt the replays caused has arrived too.
    send(&a_daemon, 2);
    daemon::wait_for(&a_daemon, "alice@pec-a.test", &[CONSEGNA, CONSEGNA]);
    assert_eq!(
        count(&b_daemon, "bob@pec-b.test", BUSTA),
        2,
        "one busta per message"
    );
    assert_eq!(
        count(&b_daemon, "bob@pec-b.test", Kind::Anomaly),
        3,
        "Message-ID, Subject and From retouched"
    );
    assert_eq!(count(&b_daemon, "carol@pec-b.test", BUSTA), 0);
    assert_eq!(
        count(&b_daemon, "carol@pec-b.test", Kind::Anomaly),
        2,
        "not addressed, To retouched"
    );
    assert_eq!(
        count(&a_daemon, "alice@pec-a.test", CONSEGNA),
        2,
        "one consegna per message"
    );
    assert_eq!(count(&a_daemon, "dave@pec-a.test", CONSEGNA), 0);
    assert_eq!(count(&a_daemon, "dave@pec-a.test", Kind::Anomaly), 1);
}
