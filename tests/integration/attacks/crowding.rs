//! Crowding out certified mail, and slipping past the access point: a
//! stranger fills a mailbox with ordinary mail at the MX; messages are acknowledged and
//! then not filed; a message nested deeper than the receiving provider reads; a
//! `Sender` or a From display name showing someone else. Each attack is performed
//! against two live providers and asserted to fail.

use std::path::Path;

use pecd::mail::message::ACCEPTED_NESTING_DEPTH;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;

use crate::daemon::Daemon;
use crate::daemon::add_mailbox;
use crate::daemon::pair;
use crate::daemon::smtplib_send;
use crate::daemon::start;
use crate::daemon::wait_for;

/// Ordinary messages of at most 8 000 bytes, and anomalies in at most 10 % of a mailbox.
const MX_LIMITS: &str = "[mx]\nanomaly_max_message_bytes = 8000\nanomaly_quota_percent = 10\n";

/// Sets a mailbox's quota (the daemon is not running yet: the command opens the store).
fn set_quota(dir: &Path, address: &str, quota_bytes: u64) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args([
            "mailbox",
            "set",
            address,
            "--quota-bytes",
            &quota_bytes.to_string(),
            "--config",
            &dir.join("pecd.toml").to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends each message to `rcpt` at an MX in clear, as a stranger on the Internet
/// would, one connection for all, and returns each DATA reply as "code text". Stops
/// after the first reply that is not 250.
fn stranger_sends(mx_port: u16, rcpt: &str, messages: &[Vec<u8>]) -> Vec<String> {
    super::mx_send_each(mx_port, "stranger@example.com", &[rcpt], messages)
}

/// An ordinary message of about `size` bytes.
fn ordinary(n: usize, size: usize) -> Vec<u8> {
    let head = format!(
        "From: stranger@example.com\r\nTo: bob@pec-b.test\r\nSubject: offerta {n}\r\nMessage-ID: <offerta-{n}@example.com>\r\n\r\n"
    );
    let line = "Compra ora, offerta imperdibile, solo per oggi!!\r\n";
    let mut body = String::new();
    while head.len() + body.len() < size {
        body.push_str(line);
    }
    format!("{head}{body}").into_bytes()
}

/// The anomalies a mailbox holds and their total size.
fn anomalies(daemon: &Daemon, user: &str) -> (usize, u64) {
    let inbox = daemon.inbox(user);
    let anomalies: Vec<&Vec<u8>> = inbox
        .iter()
        .filter(|m| reader::read(m).unwrap().kind == Kind::Anomaly)
        .collect();
    (
        anomalies.len(),
        anomalies.iter().map(|m| m.len() as u64).sum(),
    )
}

fn certified(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n{body}",
        subject.replace(' ', "-")
    )
}

#[test]
fn a_stranger_cannot_crowd_certified_mail_out_of_a_mailbox() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), MX_LIMITS);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let quota: u64 = 400_000;
    let share = quota / 10;
    set_quota(&b_dir, "bob@pec-b.test", quota);
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    // Far more than the share: the stranger keeps sending until the MX refuses.
    let flood: Vec<Vec<u8>> = (0..40).map(|n| ordinary(n, 4_000)).collect();
    let replies = stranger_sends(base_b + 2, "bob@pec-b.test", &flood);
    let (last, taken) = replies.split_last().unwrap();
    assert!(taken.iter().all(|r| r.starts_with("250 ")), "{replies:#?}");
    assert!(
        !taken.is_empty(),
        "some ordinary mail is taken: {replies:#?}"
    );
    assert!(
        last.starts_with("552 5.2.2"),
        "the share is refused permanently, before any 250: {last}"
    );
    let (count, bytes) = anomalies(&b, "bob@pec-b.test");
    assert_eq!(count, taken.len(), "every 250 is filed, nothing else is");
    assert!(
        bytes <= share,
        "{bytes} bytes of anomalies in a share of {share}"
    );

    // The certified mail the mailbox is for still arrives, with its receipt.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &certified(
            "alice@pec-a.test",
            "bob@pec-b.test",
            "Atto certificato",
            "\r\nTesto dell'atto.\r\n",
        ),
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
}

#[test]
fn no_message_is_acknowledged_and_then_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), MX_LIMITS);
    add_mailbox(&b_dir, "bob@pec-b.test");
    add_mailbox(&b_dir, "carol@pec-b.test");
    set_quota(&b_dir, "carol@pec-b.test", 5_000);
    let b = start(&b_dir, base_b);

    // Bigger than the size limit of ordinary mail: refused, not taken and lost.
    let replies = stranger_sends(base_b + 2, "bob@pec-b.test", &[ordinary(1, 9_000)]);
    assert!(replies[0].starts_with("552 5.3.4"), "{replies:?}");
    // Within that limit, but bigger than what is left of Carol's quota.
    let replies = stranger_sends(base_b + 2, "carol@pec-b.test", &[ordinary(2, 6_000)]);
    assert!(replies[0].starts_with("552 5.2.2"), "{replies:?}");
    // No such mailbox: refused at SMTP, so nothing is acknowledged and then dropped.
    let replies = stranger_sends(base_b + 2, "nobody@pec-b.test", &[ordinary(3, 1_000)]);
    assert!(replies[0].starts_with("550 5.1.1"), "{replies:?}");
    // What is acknowledged is in the INBOX.
    let replies = stranger_sends(base_b + 2, "bob@pec-b.test", &[ordinary(4, 1_000)]);
    assert!(replies[0].starts_with("250 "), "{replies:?}");
    assert_eq!(anomalies(&b, "bob@pec-b.test").0, 1);
    assert_eq!(anomalies(&b, "carol@pec-b.test").0, 0);
}

/// A message from Alice to Bob carrying `depth` messages nested in each other, each a
/// forward with a text part and the next message attached.
fn nested(depth: usize) -> String {
    let mut inner = "From: x@example.com\r\nSubject: fondo\r\n\r\nfondo\r\n".to_string();
    for level in (1..depth).rev() {
        inner = forward(
            &format!("From: x@example.com\r\nSubject: livello {level}\r\n"),
            level,
            &inner,
        );
    }
    let top = "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: annidato\r\nMessage-ID: <annidato@client.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n";
    forward(top, 0, &inner)
}

fn forward(headers: &str, level: usize, inner: &str) -> String {
    format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\nContent-Type: text/plain\r\n\r\nlivello {level}\r\n--b{level}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--b{level}--\r\n"
    )
}

#[test]
fn what_the_receiver_cannot_read_is_refused_at_submission() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &nested(200));
    assert!(
        reply.starts_with("550 5.7.1") && reply.contains("annidati"),
        "{reply}"
    );
    wait_for(
        &a,
        "alice@pec-a.test",
        &[Kind::Receipt(ReceiptKind::NonAcceptance)],
    );

    // At the limit it travels end to end: a busta at B, not an anomaly, and a receipt.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &nested(ACCEPTED_NESTING_DEPTH),
    );
    assert_eq!(reply, "250");
    let at_bob = wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    assert!(
        at_bob
            .iter()
            .all(|m| reader::read(m).unwrap().kind == Kind::Transport),
        "no anomaly at B"
    );
    wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
}

#[test]
fn a_sender_or_display_name_naming_someone_else_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    let a = start(&a_dir, base_a);

    let sender = certified(
        "alice@pec-a.test",
        "bob@pec-b.test",
        "Per conto del capo",
        "Sender: boss@pec-a.test\r\n\r\nTesto.\r\n",
    );
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &sender);
    assert!(
        reply.starts_with("550 5.7.1") && reply.contains("Sender"),
        "{reply}"
    );
    let named = certified(
        "\"boss@pec-a.test\" <alice@pec-a.test>",
        "bob@pec-b.test",
        "Firmato dal capo",
        "\r\nTesto.\r\n",
    );
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &named);
    assert!(
        reply.starts_with("550 5.7.1") && reply.contains("boss@pec-a.test"),
        "{reply}"
    );
    let inbox = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
        ],
    );
    assert!(
        inbox
            .iter()
            .all(|m| reader::read(m).unwrap().kind != Kind::Receipt(ReceiptKind::Acceptance)),
        "nothing was accepted"
    );
}

/// A nesting bomb (tens of thousands of levels, of attached messages or of
/// multiparts) given to every entry that parses untrusted bytes: each returns, none
/// overflows the stack (which would abort the whole daemon).
#[test]
fn a_nesting_bomb_is_refused_by_every_parser_without_a_crash() {
    const LEVELS: usize = 50_000;
    let messages = "From: a@b.test\r\nContent-Type: message/rfc822\r\n\r\n".repeat(LEVELS)
        + "From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n";
    let multiparts = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        .to_string()
        + &"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".repeat(LEVELS)
        + "x\r\n";
    // The same, base64-encoded inside an attached message: mail-parser decodes and
    // parses such a part by recursion.
    use base64::Engine;
    let encoded = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
                   Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_string()
        + &base64::engine::general_purpose::STANDARD.encode(messages.as_bytes())
        + "\r\n--z--\r\n";
    assert!(pecd::pec::reader::read(encoded.as_bytes()).is_err());
    for bomb in [messages, multiparts, encoded] {
        let data = bomb.as_bytes();
        pecd::fuzzing::imap_message(data);
        pecd::fuzzing::smime_verify(data);
        pecd::fuzzing::message_reader(data);
        assert!(pecd::crypto::smime::split_signed(data).is_err());
    }
    let messages = "From: a@b.test\r\nContent-Type: message/rfc822\r\n\r\n".repeat(LEVELS);
    assert!(pecd::pec::reader::read(messages.as_bytes()).is_err());
}
