//! Store tests: atomicity, durability across reopen, savepoints; mailbox semantics,
//! bodies, timers and the tamper-evident log in the files below.

mod bodies;
mod cluster;
mod delivery;
mod log;
mod mailboxes;
mod objects;
mod signals;

use std::time::Duration;

use jiff::Timestamp;
use redb::ReadableTable;

use super::Store;
use super::StoreError;
use super::blobs::BlobId;
use super::blobs::INLINE_MAX;
use super::ledger::Arrival;
use super::log::Event;
use super::log::EventKind;
use super::log::LogQuery;
use super::mailbox::Appended;
use super::mailbox::INBOX;
use super::mailbox::MailboxState;
use super::mailbox::NewMailbox;
use super::queue::Job;
use super::queue::JobKind;
use super::timers::Due;
use super::timers::Timer;

fn now() -> Timestamp {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .create("Alice@pec-a.test", "segreta", &NewMailbox::default(), now())
                .map(|_| ())
        })
        .unwrap();
    (dir, store)
}

#[test]
fn one_process_holds_the_store_and_readers_share_it_without_a_writer() {
    let (dir, store) = store();
    assert!(matches!(Store::open(dir.path()), Err(StoreError::InUse)));
    assert!(matches!(
        Store::open_read_only(dir.path()),
        Err(StoreError::InUse)
    ));
    store.write(|tx| tx.next("n")).unwrap();
    drop(store);
    let reader = Store::open_read_only(dir.path()).unwrap();
    let other = Store::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        reader.write(|tx| tx.next("n")),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(Store::open(dir.path()), Err(StoreError::InUse)));
    drop((reader, other));
    let writer = Store::open(dir.path()).unwrap();
    assert_eq!(writer.write(|tx| tx.next("n")).unwrap(), 2);
}

#[test]
fn a_failed_transaction_leaves_nothing() {
    let (_dir, store) = store();
    let blob = store.blobs().put(b"message").unwrap();
    let result: Result<(), StoreError> = store.write(|tx| {
        tx.mailboxes()
            .append("alice@pec-a.test", INBOX, &blob, 7, &[], now(), None)?;
        tx.events().log(Event::new(EventKind::Accepted, now()))?;
        Err(StoreError::Conflict("abort".into()))
    });
    assert!(result.is_err());
    assert!(
        store
            .read(|tx| tx.mailboxes().messages("alice@pec-a.test", INBOX))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read(|tx| tx.events().query(&LogQuery::default()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn commits_survive_reopening_and_uids_only_grow() {
    let (dir, store) = store();
    let blob = store.blobs().put(b"one").unwrap();
    for _ in 0..2 {
        store
            .write(|tx| {
                tx.mailboxes().append(
                    "alice@pec-a.test",
                    INBOX,
                    &blob,
                    3,
                    &["$PecRicevuta".into()],
                    now(),
                    Some("<a@b>"),
                )
            })
            .unwrap();
    }
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let appended = store
        .write(|tx| {
            tx.mailboxes()
                .append("alice@pec-a.test", INBOX, &blob, 3, &[], now(), None)
        })
        .unwrap();
    assert_eq!(appended, Appended::Stored { uid: 3 });
    let messages = store
        .read(|tx| tx.mailboxes().messages("alice@pec-a.test", INBOX))
        .unwrap();
    assert_eq!(
        messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(store.blobs().get(&messages[0].blob).unwrap(), b"one");
    assert_eq!(
        store
            .read(|tx| tx
                .mailboxes()
                .by_message_id("alice@pec-a.test", INBOX, "<a@b>"))
            .unwrap(),
        [1, 2]
    );
    assert_eq!(
        store
            .read(|tx| tx.mailboxes().get("alice@pec-a.test"))
            .unwrap()
            .unwrap()
            .used_bytes,
        9
    );
}

#[test]
#[ignore = "measurement: cargo test --release --lib store::tests::durable_commit_rate -- --ignored --nocapture"]
fn durable_commit_rate() {
    let (_dir, store) = store();
    let blob = store.blobs().put(b"receipt").unwrap();
    let start = std::time::Instant::now();
    let n = 300;
    for _ in 0..n {
        store
            .write(|tx| {
                tx.events().log(Event::new(EventKind::Delivered, now()))?;
                tx.mailboxes()
                    .append("alice@pec-a.test", INBOX, &blob, 7, &[], now(), None)
                    .map(|_| ())
            })
            .unwrap();
    }
    println!(
        "durable commits/s (log + append): {:.0}",
        f64::from(n) / start.elapsed().as_secs_f64()
    );
}

#[test]
fn a_restored_savepoint_undoes_every_write_since_and_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::in_memory(dir.path()).unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .create("alice@pec-a.test", "segreta", &NewMailbox::default(), now())
                .map(|_| ())
        })
        .unwrap();
    let savepoint = store.savepoint().unwrap();
    let blob = store.blobs().put(b"busta di trasporto").unwrap();
    for _ in 0..3 {
        let appended = store
            .write(|tx| {
                tx.mailboxes().create(
                    "bob@pec-a.test",
                    "segreta",
                    &NewMailbox::default(),
                    now(),
                )?;
                tx.mailboxes()
                    .append("alice@pec-a.test", INBOX, &blob, 18, &[], now(), None)
            })
            .unwrap();
        // The same UID every round: the folder's counters went back too.
        assert!(
            matches!(appended, Appended::Stored { uid: 1 }),
            "{appended:?}"
        );
        store.restore(&savepoint).unwrap();
        let (bob, inbox) = store
            .read(|tx| {
                let bob = tx.mailboxes().get("bob@pec-a.test")?;
                Ok((bob, tx.mailboxes().messages("alice@pec-a.test", INBOX)?))
            })
            .unwrap();
        assert!(bob.is_none());
        assert!(inbox.is_empty());
    }
}
