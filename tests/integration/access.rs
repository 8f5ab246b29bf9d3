//! The punto di accesso through the library API: what it queues.

use pecd::pec::kind::Kind;
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
