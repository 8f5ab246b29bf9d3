//! What the provider still owes a message: the 12 h / 24 h timers, the outbound queue
//! and the ledger of what was sent and what arrived.

use super::*;

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
            .read(|tx| tx.queue().due("", now(), 10, |_| false))
            .unwrap()
            .len(),
        1
    );
    let in_flight = |job: u64| job == id;
    assert!(
        store
            .read(|tx| tx.queue().due("", now(), 10, in_flight))
            .unwrap()
            .is_empty()
    );
    let later = now() + jiff::SignedDuration::from_mins(5);
    store
        .write(|tx| tx.queue().reschedule(id, later, 1, "421 busy"))
        .unwrap();
    assert!(
        store
            .read(|tx| tx.queue().due("", now(), 10, |_| false))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .read(|tx| tx.queue().due("", later, 10, |_| false))
            .unwrap()[0]
            .attempts,
        1
    );
    store.write(|tx| tx.queue().complete(id)).unwrap();
    assert!(store.read(|tx| tx.queue().all()).unwrap().is_empty());
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
            tx.table(timers)?
                .insert(
                    "id0\0bob@pec-b.test",
                    crate::store::encode(&old)?.as_slice(),
                )
                .map_err(crate::store::db)?;
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
