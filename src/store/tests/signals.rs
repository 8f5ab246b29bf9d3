//! Which sessions a commit wakes: each kind of write to a mailbox wakes that mailbox's
//! subscribers and no other mailbox's; a write that fails, and a batch member whose
//! batch was aborted, wake nobody; writers of two mailboxes in one batch wake both;
//! the registry keeps no mailbox nobody listens to.

use super::super::Store;
use super::super::StoreError;
use super::super::Tx;
use super::super::commit::tests::put;
use super::super::folders::FlagChange;
use super::super::mailbox::Appended;
use super::super::mailbox::INBOX;
use super::super::mailbox::MailboxState;
use super::super::mailbox::NewMailbox;
use super::super::signal::MailboxCommits;
use super::now;

const ALICE: &str = "alice@pec-a.test";
const BOB: &str = "bob@pec-a.test";

/// A store with two mailboxes, Alice's holding one message in INBOX.
fn two_mailboxes() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            for address in [ALICE, BOB] {
                tx.mailboxes()
                    .create(address, "segreta", &NewMailbox::default(), now())?;
            }
            Ok(())
        })
        .unwrap();
    deliver(&store, ALICE);
    (dir, store)
}

/// Files a message in `address`'s INBOX through the committer, as delivery does.
fn deliver(store: &Store, address: &'static str) {
    let blob = store.blobs().put(b"Subject: x\r\n\r\nbody\r\n").unwrap();
    let appended = store
        .write_owned(move |tx| {
            tx.mailboxes()
                .append(address, INBOX, &blob, 20, &[], now(), Some("<m@x>"))
        })
        .unwrap();
    assert!(matches!(appended, Appended::Stored { .. }));
    settled(store);
}

/// Returns once the committer thread has signalled its commits so far: it answers a
/// batch's writers before it signals, and takes the next job only after.
fn settled(store: &Store) {
    store.write_owned(|_| Ok(())).unwrap();
}

/// Subscribes to both mailboxes, runs `write`, and returns whom it woke.
fn woken(store: &Store, write: impl FnOnce(&Store)) -> (bool, bool) {
    let (mut alice, mut bob) = (store.mailbox_commits(ALICE), store.mailbox_commits(BOB));
    write(store);
    (alice.take_changed(), bob.take_changed())
}

/// One kind of write, named.
type Write = Box<dyn Fn(&Store)>;

fn in_alice(store: &Store, work: impl Fn(&mut Tx<'_>) -> Result<(), StoreError>) {
    store.write(work).unwrap();
}

#[test]
fn each_kind_of_write_wakes_its_mailbox_and_no_other() {
    let (_dir, store) = two_mailboxes();
    let writes: Vec<(&str, Write)> = vec![
        ("delivery", Box::new(|s| deliver(s, ALICE))),
        (
            "flag change",
            Box::new(|s| {
                in_alice(s, |tx| {
                    let seen = ["\\Seen".to_string()];
                    let stored =
                        tx.folders()
                            .store_flags(ALICE, INBOX, 1, FlagChange::Add, &seen, None)?;
                    assert!(matches!(stored, super::super::folders::Stored::Done(_)));
                    Ok(())
                })
            }),
        ),
        (
            "\\Recent claim",
            Box::new(|s| {
                in_alice(s, |tx| {
                    tx.folders().claim_recent(ALICE, INBOX, None).map(drop)
                })
            }),
        ),
        (
            "folder create",
            Box::new(|s| in_alice(s, |tx| tx.folders().create(ALICE, "Box", now()).map(drop))),
        ),
        (
            "subscribe",
            Box::new(|s| {
                in_alice(s, |tx| {
                    tx.folders().set_subscribed(ALICE, "Box", true).map(drop)
                })
            }),
        ),
        (
            "folder rename",
            Box::new(|s| {
                in_alice(s, |tx| {
                    tx.folders().rename(ALICE, "Box", "Box2", now()).map(drop)
                })
            }),
        ),
        (
            "folder delete",
            Box::new(|s| in_alice(s, |tx| tx.folders().delete(ALICE, "Box2").map(drop))),
        ),
        (
            "expunge",
            Box::new(|s| in_alice(s, |tx| tx.folders().expunge(ALICE, INBOX, &[1]).map(drop))),
        ),
        (
            "mailbox suspended",
            Box::new(|s| {
                in_alice(s, |tx| {
                    tx.mailboxes()
                        .update(ALICE, |m| m.state = MailboxState::Suspended)
                        .map(drop)
                })
            }),
        ),
        (
            "mailbox deleted",
            Box::new(|s| in_alice(s, |tx| tx.mailboxes().delete(ALICE))),
        ),
    ];
    for (what, write) in writes {
        assert_eq!(woken(&store, write), (true, false), "{what}");
    }
    // And the other way round: Bob's mail wakes Bob alone.
    assert_eq!(woken(&store, |s| deliver(s, BOB)), (false, true));
}

#[test]
fn a_write_that_fails_wakes_nobody_and_one_that_writes_no_mailbox_wakes_no_session() {
    let (_dir, store) = two_mailboxes();
    let failed = |s: &Store| {
        let result = s.write(|tx| {
            tx.folders().create(ALICE, "Never", now())?;
            Err::<(), _>(StoreError::Conflict("refused".into()))
        });
        assert!(result.is_err());
        let result = s.write_owned(|tx| {
            tx.folders().create(BOB, "Never", now())?;
            Err::<(), _>(StoreError::Conflict("refused".into()))
        });
        assert!(result.is_err());
        settled(s);
    };
    assert_eq!(woken(&store, failed), (false, false));
    let elsewhere = |s: &Store| s.write(|tx| put(tx, 1, 1)).unwrap();
    assert_eq!(woken(&store, elsewhere), (false, false));
}

#[test]
fn an_aborted_batch_member_wakes_nobody_until_its_rerun_commits() {
    let (_dir, store) = two_mailboxes();
    let (mut alice, mut bob) = (store.mailbox_commits(ALICE), store.mailbox_commits(BOB));
    let writer = store.writer.as_ref().unwrap();
    let member = |tx: &mut Tx<'_>| tx.folders().create(ALICE, "Box", now());
    let (_, batch) = store.group.run(writer, &member).unwrap();
    let failed = store.group.run(writer, &|tx| {
        tx.folders().create(BOB, "Box", now())?;
        Err::<(), _>(StoreError::Conflict("no".into()))
    });
    assert!(failed.is_err());
    let outcome = store.group.finish(batch, store.blobs(), &|_, _, touched| {
        panic!("an aborted batch committed, touching {touched:?}")
    });
    assert!(matches!(
        outcome,
        Ok(super::super::commit::Outcome::Aborted)
    ));
    assert!(!alice.take_changed() && !bob.take_changed());
    // Run again, as `write` does: now Alice's sessions hear of it, Bob's still not.
    assert!(store.write(member).unwrap());
    assert!(alice.take_changed() && !bob.take_changed());
}

#[test]
fn writers_of_two_mailboxes_in_one_batch_wake_both() {
    let (_dir, store) = two_mailboxes();
    let (mut alice, mut bob) = (store.mailbox_commits(ALICE), store.mailbox_commits(BOB));
    let writer = store.writer.as_ref().unwrap();
    let (_, batch) = store
        .group
        .run(writer, &|tx| tx.folders().create(ALICE, "Box", now()))
        .unwrap();
    let (_, joined) = store
        .group
        .run(writer, &|tx| tx.folders().create(BOB, "Box", now()))
        .unwrap();
    assert_eq!(batch, joined, "both in one transaction");
    let signalled = |_, writes, touched: &super::super::signal::Touched| {
        assert_eq!(writes, 2);
        store.signals.committed(touched);
    };
    let outcome = store
        .group
        .finish(batch, store.blobs(), &signalled)
        .unwrap();
    assert!(matches!(outcome, super::super::commit::Outcome::Committed));
    assert!(alice.take_changed() && bob.take_changed());
}

#[test]
fn the_registry_keeps_only_mailboxes_someone_listens_to() {
    let (_dir, store) = two_mailboxes();
    // A stranger's worth of names: each entry goes with its last subscription.
    let many: Vec<MailboxCommits> = (0..1000)
        .map(|n| store.mailbox_commits(&format!("user{n}@pec-a.test")))
        .collect();
    let first = store.mailbox_commits(ALICE);
    let second = store.mailbox_commits("Alice@PEC-A.test");
    assert_eq!(store.listened_mailboxes(), 1001);
    drop(many);
    assert_eq!(store.listened_mailboxes(), 1);
    drop(first);
    // The second session, the same mailbox spelt otherwise, still hears Alice's mail.
    let mut second = second;
    deliver(&store, ALICE);
    assert!(second.take_changed());
    drop(second);
    assert_eq!(store.listened_mailboxes(), 0);
    // Commits to nobody's listened mailbox keep nothing.
    deliver(&store, ALICE);
    assert_eq!(store.listened_mailboxes(), 0);
}
