//! Store tests: atomicity, durability across reopen, mailbox semantics, timers, and the
//! tamper-evident log.

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

/// Bytes too large to be kept in the database: stored as a file.
fn large(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(INLINE_MAX + 1, b'.');
    bytes
}

#[test]
fn a_body_damaged_on_disk_is_reported_corrupt() {
    let (_dir, store) = store();
    let id = store.blobs().put(&large("busta certificata")).unwrap();
    let path = store.blobs().path(&id);
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    std::fs::write(&path, large("busta alterata!!!")).unwrap();
    assert!(matches!(
        store.blobs().get(&id),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_body_torn_by_a_crash_is_rewritten_and_old_layout_bodies_still_read() {
    let (dir, store) = store();
    // A crash between rename and flush can leave the name with wrong bytes.
    let body = large("busta ripetuta");
    let id = BlobId::of(&body);
    let path = store.blobs().path(&id);
    std::fs::write(&path, b"").unwrap();
    assert_eq!(store.blobs().put(&body).unwrap(), id);
    assert_eq!(store.blobs().get(&id).unwrap(), body);
    store.blobs().sync().unwrap();

    // Stores written before the one-level layout keep `ab/cd/abcd…`; before bodies
    // were kept in the database, small ones were files too.
    let old = BlobId::of(b"busta del 2025");
    let hex = old.as_str();
    let legacy = dir.path().join("blobs").join(&hex[..2]).join(&hex[2..4]);
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join(hex), b"busta del 2025").unwrap();
    assert_eq!(store.blobs().get(&old).unwrap(), b"busta del 2025");
    assert_eq!(store.blobs().path(&old), legacy.join(hex));
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
fn a_small_body_is_committed_with_the_records_and_has_no_file() {
    let (dir, store) = store();
    let blob = store.blobs().put(b"ricevuta di consegna").unwrap();
    // Readable at once by this process, before any commit.
    assert_eq!(store.blobs().get(&blob).unwrap(), b"ricevuta di consegna");

    store
        .write(|tx| {
            tx.mailboxes()
                .append("alice@pec-a.test", INBOX, &blob, 20, &[], now(), None)
                .map(|_| ())
        })
        .unwrap();
    assert!(!store.blobs().path(&blob).exists());
    drop(store);

    let reopened = Store::open(dir.path()).unwrap();
    let inbox = reopened
        .read(|tx| tx.mailboxes().messages("alice@pec-a.test", INBOX))
        .unwrap();
    assert_eq!(
        reopened.blobs().get(&inbox[0].blob).unwrap(),
        b"ricevuta di consegna"
    );
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
fn quota_suspension_and_unknown_mailboxes_are_outcomes() {
    let (_dir, store) = store();
    let blob = store.blobs().put(b"x").unwrap();
    let append = |size| {
        store
            .write(|tx| {
                tx.mailboxes()
                    .append("alice@pec-a.test", INBOX, &blob, size, &[], now(), None)
            })
            .unwrap()
    };
    assert_eq!(append(u64::MAX / 2), Appended::OverQuota);
    store
        .write(|tx| {
            tx.mailboxes()
                .update("alice@pec-a.test", |m| m.state = MailboxState::Suspended)
                .map(|_| ())
        })
        .unwrap();
    assert_eq!(append(1), Appended::Suspended);
    assert_eq!(
        store
            .write(|tx| tx.mailboxes().append(
                "nobody@pec-a.test",
                INBOX,
                &blob,
                1,
                &[],
                now(),
                None
            ))
            .unwrap(),
        Appended::NoMailbox
    );
    assert!(matches!(
        store.write(|tx| tx.mailboxes().create(
            "alice@pec-a.test",
            "x",
            &NewMailbox::default(),
            now()
        )),
        Err(StoreError::MailboxExists(_))
    ));
}

#[test]
fn passwords_verify_and_unknown_users_look_like_wrong_passwords() {
    let (_dir, store) = store();
    let check = |user: &str, password: &str| {
        store
            .read(|tx| tx.mailboxes().verify_password(user, password))
            .unwrap()
    };
    assert!(check("ALICE@pec-a.test", "segreta"));
    assert!(!check("alice@pec-a.test", "sbagliata"));
    assert!(!check("nobody@pec-a.test", "segreta"));
    let mailbox = store
        .read(|tx| tx.mailboxes().get("alice@pec-a.test"))
        .unwrap()
        .unwrap();
    assert!(
        !format!("{mailbox:?}").contains("argon2"),
        "the hash never reaches Debug"
    );
}

#[test]
fn timers_follow_the_12_and_24_hour_rules() {
    let (_dir, store) = store();
    let (twelve, day) = (
        Duration::from_secs(12 * 3600),
        Duration::from_secs(24 * 3600),
    );
    store
        .write(|tx| {
            tx.timers().arm(Timer::new(
                "id1",
                "bob@pec-b.test",
                "alice@pec-a.test",
                now(),
                twelve,
                day,
            ))?;
            tx.timers().arm(Timer::new(
                "id2",
                "bob@pec-b.test",
                "alice@pec-a.test",
                now(),
                twelve,
                day,
            ))?;
            tx.timers().arm(Timer::new(
                "id3",
                "bob@pec-b.test",
                "alice@pec-a.test",
                now(),
                twelve,
                day,
            ))?;
            tx.timers().taken_in_charge("id2", "BOB@pec-b.test")?;
            tx.timers().delivered("id3", "bob@pec-b.test")
        })
        .unwrap();
    let at = |hours: i64| now() + jiff::SignedDuration::from_hours(hours);
    let due = store.read(|tx| tx.timers().due(at(13))).unwrap();
    assert_eq!(
        due.iter()
            .map(|(t, d)| (t.pec_id.as_str(), *d))
            .collect::<Vec<_>>(),
        [("id1", Due::Warning12h)]
    );
    store
        .write(|tx| tx.timers().mark_warned("id1", "bob@pec-b.test"))
        .unwrap();
    assert!(store.read(|tx| tx.timers().due(at(13))).unwrap().is_empty());
    let due = store.read(|tx| tx.timers().due(at(24))).unwrap();
    assert_eq!(
        due.iter()
            .map(|(t, d)| (t.pec_id.as_str(), *d))
            .collect::<Vec<_>>(),
        [("id1", Due::Final24h), ("id2", Due::Final24h)]
    );
}

#[test]
fn queue_jobs_are_rescheduled_and_completed() {
    let (_dir, store) = store();
    let blob = store.blobs().put(b"busta").unwrap();
    let id = store
        .write(|tx| {
            tx.queue().enqueue(Job::new(
                "pec-b.test",
                "alice@pec-a.test",
                vec!["bob@pec-b.test".into()],
                blob.clone(),
                now(),
                JobKind::Transport,
            ))
        })
        .unwrap();
    assert_eq!(
        store
            .read(|tx| tx.queue().due(now(), 10, |_| false))
            .unwrap()
            .len(),
        1
    );
    let in_flight = |job: u64| job == id;
    assert!(
        store
            .read(|tx| tx.queue().due(now(), 10, in_flight))
            .unwrap()
            .is_empty()
    );
    let later = now() + jiff::SignedDuration::from_mins(5);
    store
        .write(|tx| tx.queue().reschedule(id, later, 1, "421 busy"))
        .unwrap();
    assert!(
        store
            .read(|tx| tx.queue().due(now(), 10, |_| false))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .read(|tx| tx.queue().due(later, 10, |_| false))
            .unwrap()[0]
            .attempts,
        1
    );
    store.write(|tx| tx.queue().complete(id)).unwrap();
    assert!(store.read(|tx| tx.queue().all()).unwrap().is_empty());
}

fn logged(store: &Store, n: usize) {
    for i in 0..n {
        let mut event = Event::new(
            EventKind::Accepted,
            now() + jiff::SignedDuration::from_secs(i as i64),
        );
        event.pec_id = Some(format!("id{i}@pec-a.test"));
        event.mailbox = Some("alice@pec-a.test".into());
        store.write(|tx| tx.events().log(event.clone())).unwrap();
    }
}

#[test]
fn the_log_chain_verifies_and_queries_filter() {
    let (_dir, store) = store();
    logged(&store, 5);
    assert_eq!(store.read(|tx| tx.events().verify_chain()).unwrap(), Ok(5));
    let query = LogQuery {
        msgid: Some("<id3@pec-a.test>".into()),
        ..LogQuery::default()
    };
    assert_eq!(store.read(|tx| tx.events().query(&query)).unwrap().len(), 1);
    let query = LogQuery {
        since: Some(now() + jiff::SignedDuration::from_secs(2)),
        mailbox: Some("ALICE@pec-a.test".into()),
        ..LogQuery::default()
    };
    assert_eq!(store.read(|tx| tx.events().query(&query)).unwrap().len(), 3);
    store
        .write(|tx| {
            tx.events()
                .prune_before(now() + jiff::SignedDuration::from_secs(2))
                .map(|_| ())
        })
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.events().verify_chain()).unwrap(),
        Ok(3),
        "pruning keeps the chain verifiable"
    );
}

/// Edits the raw log table the way an attacker with file access would.
fn tamper(store: &Store, edit: impl FnOnce(&mut redb::Table<'_, u64, &[u8]>)) {
    const LOG: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("log");
    let txn = store.writer.as_ref().unwrap().begin_write().unwrap();
    {
        let mut table = txn.open_table(LOG).unwrap();
        edit(&mut table);
    }
    txn.commit().unwrap();
}

#[test]
fn edits_deletions_and_cuts_of_the_log_are_detected() {
    let (_dir, store) = store();
    logged(&store, 4);
    tamper(&store, |table| {
        let text = String::from_utf8(table.get(2).unwrap().unwrap().value().to_vec()).unwrap();
        table
            .insert(2, text.replace("id1@", "idX@").as_bytes())
            .unwrap();
    });
    assert_eq!(
        store
            .read(|tx| tx.events().verify_chain())
            .unwrap()
            .unwrap_err()
            .seq,
        2
    );

    let (_dir, store) = self::store();
    logged(&store, 4);
    tamper(&store, |table| {
        table.remove(3).unwrap();
    });
    assert_eq!(
        store
            .read(|tx| tx.events().verify_chain())
            .unwrap()
            .unwrap_err()
            .seq,
        3
    );

    let (_dir, store) = self::store();
    logged(&store, 4);
    tamper(&store, |table| {
        table.remove(4).unwrap();
    });
    assert_eq!(
        store
            .read(|tx| tx.events().verify_chain())
            .unwrap()
            .unwrap_err()
            .seq,
        4
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
fn passwords_check_with_the_kept_argon2_memory() {
    let (_dir, store) = store();
    let check = |user: &str, password: &str| {
        store
            .read(|tx| tx.mailboxes().verify_password(user, password))
            .unwrap()
    };
    assert!(check("alice@pec-a.test", "segreta"));
    assert!(check("ALICE@pec-a.test", "segreta"));
    assert!(!check("alice@pec-a.test", "Segreta"));
    assert!(!check("nobody@pec-a.test", "segreta"));
    // The throwaway hash unknown users are checked against is a real one, so they
    // cost a full argon2 run like everybody else.
    assert!(argon2::PasswordHash::new(super::mailbox::DUMMY_HASH_FOR_TESTS).is_ok());
}

#[test]
fn the_ledger_knows_what_was_sent_and_what_arrived() {
    let (_dir, store) = store();
    let day = Duration::from_secs(24 * 3600);
    store
        .write(|tx| {
            tx.timers().arm(Timer::new(
                "id1",
                "Bob@pec-b.test",
                "alice@pec-a.test",
                now(),
                day,
                day,
            ))?;
            tx.timers().delivered("id1", "bob@pec-b.test")
        })
        .unwrap();
    let sent = store
        .read(|tx| {
            Ok([
                tx.ledger().sent_by("id1", "BOB@pec-b.test")?,
                tx.ledger().sent_by("id1", "carol@pec-b.test")?,
                tx.ledger().sent_by("id2", "bob@pec-b.test")?,
            ])
        })
        .unwrap();
    assert_eq!(sent, [Some("alice@pec-a.test".to_string()), None, None]);

    // A timer armed before the ledger existed still names its sender.
    let old = Timer::new("id0", "bob@pec-b.test", "dave@pec-a.test", now(), day, day);
    store
        .write(|tx| {
            let timers = redb::TableDefinition::<&str, &[u8]>::new("timers");
            tx.inner
                .open_table(timers)
                .map_err(super::db)?
                .insert("id0\0bob@pec-b.test", super::encode(&old)?.as_slice())
                .map_err(super::db)?;
            Ok(())
        })
        .unwrap();
    let sender = store
        .read(|tx| tx.ledger().sent_by("id0", "bob@pec-b.test"))
        .unwrap();
    assert_eq!(sender.as_deref(), Some("dave@pec-a.test"));

    let arrival = Arrival {
        tipo: "posta-certificata",
        pec_id: "x1",
        about: "",
        mailbox: "Alice@pec-a.test",
    };
    let again = Arrival {
        mailbox: "alice@pec-a.test",
        ..arrival.clone()
    };
    assert!(!store.read(|tx| tx.ledger().arrived(&arrival)).unwrap());
    assert!(
        store
            .write(|tx| tx.ledger().record_arrival(&arrival))
            .unwrap()
    );
    assert!(
        !store
            .write(|tx| tx.ledger().record_arrival(&again))
            .unwrap()
    );
    assert!(store.read(|tx| tx.ledger().arrived(&again)).unwrap());
}

/// Message records in the JSON form of an older pecd are read, flagged and expunged
/// like the compact ones.
#[test]
fn a_store_with_json_records_still_opens_reads_and_rewrites_them() {
    use super::encode;
    use super::folders::FlagChange;
    use super::key::AddressKey;
    use super::mailbox::MESSAGES;
    use super::mailbox::MessageMeta;

    let now: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
    let user = "alice@pec-a.test";
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blob = store
        .blobs()
        .put(b"Subject: vecchio\r\n\r\ncorpo\r\n")
        .unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .create(user, "segreta", &NewMailbox::default(), now)?;
            tx.mailboxes()
                .append(user, INBOX, &blob, 25, &[], now, Some("<m1@x>"))?;
            tx.mailboxes()
                .append(user, INBOX, &blob, 25, &[], now, None)
        })
        .unwrap();
    // Rewrite both records as an older pecd stored them.
    let old: Vec<MessageMeta> = store
        .read(|tx| tx.mailboxes().messages(user, INBOX))
        .unwrap();
    store
        .write(|tx| {
            let mut table = tx.inner.open_table(MESSAGES).map_err(super::db)?;
            let key = AddressKey::new(user).folder(INBOX);
            for meta in &old {
                table
                    .insert((key.as_str(), meta.uid), encode(meta)?.as_slice())
                    .map_err(super::db)?;
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store
            .read(|tx| tx.mailboxes().messages(user, INBOX))
            .unwrap(),
        old
    );
    assert_eq!(
        store
            .read(|tx| tx.folders().message(user, INBOX, 1))
            .unwrap()
            .as_ref(),
        old.first()
    );
    let seen = vec!["\\Seen".to_string()];
    store
        .write(|tx| {
            tx.folders()
                .store_flags(user, INBOX, 1, FlagChange::Add, &seen, None)
        })
        .unwrap();
    let now_stored = store
        .read(|tx| tx.mailboxes().messages(user, INBOX))
        .unwrap();
    assert_eq!(now_stored.len(), 2);
    assert_eq!(now_stored[0].flags, seen);
    assert_eq!(now_stored[1], old[1]);
    let removed = store
        .write(|tx| tx.folders().expunge(user, INBOX, &[1, 2]))
        .unwrap();
    assert_eq!(removed.len(), 2);
    assert!(
        store
            .read(|tx| tx.mailboxes().messages(user, INBOX))
            .unwrap()
            .is_empty()
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
