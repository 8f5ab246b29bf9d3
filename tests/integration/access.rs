//! The punto di accesso through the library API: what it queues.

use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::kind::ReceiptType;
use pecd::pec::reader;
use pecd::provider::mailboxes;
use pecd::provider::mailboxes::MailboxChanges;
use pecd::store::queue::JobKind;

use crate::timers;

fn queued_envelope(provider: &pecd::provider::Provider) -> reader::PecMessage {
    let store = provider.store();
    let jobs = store.read(|tx| tx.queue().all()).unwrap();
    let job = jobs.iter().find(|j| j.kind == JobKind::Transport).unwrap();
    reader::read(&store.blobs().get(&job.blob).unwrap()).unwrap()
}

#[test]
fn the_mailbox_default_receipt_type_applies_when_the_message_asks_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let provider = timers::provider(dir.path());
    let changes = MailboxChanges {
        receipt: Some("breve".into()),
        ..MailboxChanges::default()
    };
    mailboxes::update(provider.store(), "alice@pec-a.test", &changes).unwrap();
    let message = b"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: s\r\n\r\nx\r\n";
    provider
        .submit(
            "alice@pec-a.test",
            "alice@pec-a.test",
            &["bob@pec-b.test".into()],
            message,
            timers::start(),
        )
        .unwrap();
    let envelope = queued_envelope(&provider);
    assert_eq!(envelope.kind, Kind::Transport);
    assert_eq!(envelope.receipt_type, Some(ReceiptType::Short));
    assert_eq!(
        envelope.daticert.unwrap().data.receipt_type,
        Some(ReceiptType::Short)
    );
}

#[test]
fn the_message_header_wins_over_the_mailbox_default() {
    let dir = tempfile::tempdir().unwrap();
    let provider = timers::provider(dir.path());
    let changes = MailboxChanges {
        receipt: Some("breve".into()),
        ..MailboxChanges::default()
    };
    mailboxes::update(provider.store(), "alice@pec-a.test", &changes).unwrap();
    let message = b"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: s\r\nX-TipoRicevuta: sintetica\r\n\r\nx\r\n";
    provider
        .submit(
            "alice@pec-a.test",
            "alice@pec-a.test",
            &["bob@pec-b.test".into()],
            message,
            timers::start(),
        )
        .unwrap();
    assert_eq!(
        queued_envelope(&provider).receipt_type,
        Some(ReceiptType::Summary)
    );
}

/// The mailbox type's limits: more recipients than the type allows, and one message
/// past the day's allowance, are refused with a signed avviso di non accettazione that
/// names the limit; the next day the allowance starts again.
#[test]
fn a_mailbox_type_limits_recipients_and_messages_per_day() {
    use pecd::provider::access_point::Submission;
    use pecd::store::mailbox::MailboxType;
    use pecd::store::mailbox::SendingLimits;
    let dir = tempfile::tempdir().unwrap();
    let limits = SendingLimits {
        max_recipients: 2,
        max_per_day: 2,
    };
    let provider = timers::provider_sending(dir.path(), [(MailboxType::Standard, limits)].into());
    let send = |rcpts: &[&str], at: jiff::Timestamp| {
        let to = rcpts.join(", ");
        let message = format!("From: alice@pec-a.test\r\nTo: {to}\r\nSubject: s\r\n\r\nx\r\n");
        let rcpts: Vec<String> = rcpts.iter().map(|r| r.to_string()).collect();
        provider
            .submit(
                "alice@pec-a.test",
                "alice@pec-a.test",
                &rcpts,
                message.as_bytes(),
                at,
            )
            .unwrap()
    };
    let day = timers::start();
    let three = ["b1@pec-b.test", "b2@pec-b.test", "b3@pec-b.test"];
    let Submission::Refused(refusal) = send(&three, day) else {
        panic!("three recipients passed a limit of two");
    };
    assert!(
        refusal.reason().contains("destinatari"),
        "{}",
        refusal.reason()
    );
    assert!(matches!(send(&three[..2], day), Submission::Accepted(_)));
    assert!(matches!(send(&three[..1], day), Submission::Accepted(_)));
    let Submission::Refused(refusal) = send(&three[..1], day) else {
        panic!("a third message passed a daily limit of two");
    };
    assert!(
        refusal.reason().contains("giornalieri"),
        "{}",
        refusal.reason()
    );
    // The refusal is a signed notice in the sender's INBOX, like every non accettazione.
    let inbox = provider
        .store()
        .read(|tx| {
            tx.mailboxes()
                .messages("alice@pec-a.test", pecd::store::mailbox::INBOX)
        })
        .unwrap();
    let last = provider
        .store()
        .blobs()
        .get(&inbox.last().unwrap().blob)
        .unwrap();
    let notice = reader::read(&last).unwrap();
    assert_eq!(notice.kind, Kind::Receipt(ReceiptKind::NonAcceptance));
    assert!(String::from_utf8_lossy(&last).contains("application/pkcs7-signature"));
    let next_day = day + jiff::SignedDuration::from_hours(24);
    assert!(matches!(
        send(&three[..1], next_day),
        Submission::Accepted(_)
    ));
    let sent = provider
        .store()
        .read(|tx| tx.mailboxes().get("alice@pec-a.test"))
        .unwrap()
        .unwrap()
        .traffic
        .sent;
    assert_eq!(sent, 3, "only accepted messages count");
}

#[test]
#[ignore = "measurement: cargo test --release --test integration access::submit_rate -- --ignored --nocapture"]
fn submit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let provider = timers::provider(dir.path());
    let message = b"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: s\r\n\r\nx\r\n";
    let n = 200;
    let start = std::time::Instant::now();
    for _ in 0..n {
        provider
            .submit(
                "alice@pec-a.test",
                "alice@pec-a.test",
                &["bob@pec-b.test".into()],
                message,
                timers::start(),
            )
            .unwrap();
    }
    println!(
        "submissions/s, one thread: {:.0}",
        f64::from(n) / start.elapsed().as_secs_f64()
    );
}
