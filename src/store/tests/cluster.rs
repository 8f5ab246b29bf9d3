//! The cluster engine against a real PostgreSQL started for the test
//! ([`Server`]): the same work gives the same store on both engines, and two nodes
//! writing one folder at once neither lose nor repeat a UID.

use std::sync::Arc;

use super::*;
use crate::store::folders::FlagChange;
use crate::store::kv::pg::server::Server;
use crate::store::nodes;

const ALICE: &str = "alice@pec-a.test";

/// A node of the cluster on `server`, its bodies under a folder of its own.
fn node(server: &Server) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::cluster(&server.url(), None, dir.path()).unwrap();
    (dir, store)
}

fn create_alice(store: &Store) {
    store
        .write(|tx| {
            tx.mailboxes()
                .create(ALICE, "segreta", &NewMailbox::default(), now())
                .map(|_| ())
        })
        .unwrap();
}

/// A provider's work on the store and all it reads back, as text to compare: more
/// messages than a page of a range, both kinds of body, flags, expunges, the queue,
/// the timers, the event log and its chain, the tallies.
pub(super) fn exercise(store: &Store) -> Vec<String> {
    let mut seen = Vec::new();
    create_alice(store);
    let small = store.blobs().put(b"a small body").unwrap();
    let large = store.blobs().put(&vec![b'x'; INLINE_MAX + 1]).unwrap();
    for i in 0..300u64 {
        let blob = if i % 2 == 0 { &small } else { &large };
        let id = format!("<m{}@pec-a.test>", i % 7);
        let appended = store
            .write(|tx| {
                tx.events().log(Event::new(EventKind::Delivered, now()))?;
                tx.mailboxes()
                    .append(ALICE, INBOX, blob, 10 + i, &[], now(), Some(&id))
            })
            .unwrap();
        seen.push(format!("{appended:?}"));
    }
    let seen_flag = ["\\Seen".to_string()];
    let stored = store
        .write(|tx| {
            tx.folders()
                .store_flags(ALICE, INBOX, 5, FlagChange::Add, &seen_flag, None)
        })
        .unwrap();
    seen.push(format!("{stored:?}"));
    let expunged = store
        .write(|tx| tx.folders().expunge(ALICE, INBOX, &[1, 2, 3, 299]))
        .unwrap();
    seen.push(format!("{expunged:?}"));
    let job = store
        .write(|tx| {
            tx.queue().enqueue(Job::new(
                "pec-b.test",
                ALICE,
                vec!["bob@pec-b.test".into()],
                small.clone(),
                now(),
                JobKind::Transport,
            ))
        })
        .unwrap();
    store
        .write(|tx| {
            tx.timers().arm(Timer::new(
                "id1",
                "bob@pec-b.test",
                ALICE,
                now(),
                Duration::from_secs(12 * 3600),
                Duration::from_secs(24 * 3600),
            ))
        })
        .unwrap();
    let later = now() + jiff::SignedDuration::from_hours(13);
    store
        .read(|tx| {
            seen.push(format!("{:?}", tx.mailboxes().messages(ALICE, INBOX)?));
            seen.push(format!(
                "{:?}",
                tx.mailboxes()
                    .by_message_id(ALICE, INBOX, "<m3@pec-a.test>")?
            ));
            seen.push(format!("{:?}", tx.folders().list(ALICE)?));
            seen.push(format!("{:?}", tx.mailboxes().get(ALICE)?));
            seen.push(format!("{:?}", tx.queue().due("", now(), 10, |_| false)?));
            seen.push(format!("{:?}", tx.timers().due(later)?));
            seen.push(format!("{:?}", tx.events().verify_chain()?));
            seen.push(format!("{:?}", tx.management().ente_mailboxes("")?));
            seen.push(format!("{:?}", tx.management().counts(None)?));
            Ok(())
        })
        .unwrap();
    store.write(|tx| tx.queue().complete(job)).unwrap();
    let purged = store.write(|tx| tx.links().purge(later)).unwrap();
    seen.push(format!("{purged} links purged"));
    seen.push(format!("{:?}", store.read(|tx| tx.queue().all()).unwrap()));
    seen.push(format!("{}", store.blobs().get(&small).unwrap().len()));
    seen.push(format!("{}", store.blobs().get(&large).unwrap().len()));
    seen
}

#[test]
fn the_same_work_gives_the_same_store_on_both_engines() {
    let Some(server) = Server::start() else {
        return;
    };
    let (_dir, embedded) = tempfile::tempdir()
        .map(|dir| {
            let store = Store::open(dir.path()).unwrap();
            (dir, store)
        })
        .unwrap();
    let (_node_dir, cluster) = node(&server);
    let expected = exercise(&embedded);
    let got = exercise(&cluster);
    for (line, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(want, have, "line {line} differs");
    }
    assert_eq!(expected.len(), got.len());
}

#[test]
fn a_failed_write_leaves_nothing_on_the_cluster() {
    let Some(server) = Server::start() else {
        return;
    };
    let (_dir, store) = node(&server);
    create_alice(&store);
    let blob = store.blobs().put(b"message").unwrap();
    let result: Result<(), StoreError> = store.write(|tx| {
        tx.mailboxes()
            .append(ALICE, INBOX, &blob, 7, &[], now(), None)?;
        tx.events().log(Event::new(EventKind::Accepted, now()))?;
        Err(StoreError::Conflict("abort".into()))
    });
    assert!(result.is_err());
    let (messages, chain) = store
        .read(|tx| {
            Ok((
                tx.mailboxes().messages(ALICE, INBOX)?,
                tx.events().verify_chain()?,
            ))
        })
        .unwrap();
    assert!(messages.is_empty());
    assert_eq!(chain, Ok(0));
}

/// Two nodes, two writers each, append to one folder and log at once: every commit
/// that conflicts with another node's runs again, so the UIDs are exactly 1..=n in
/// commit order and the event log is one chain.
#[test]
fn two_nodes_appending_to_one_folder_neither_lose_nor_repeat_a_uid() {
    let Some(server) = Server::start() else {
        return;
    };
    let [(_dir1, first), (_dir2, second)] = [node(&server), node(&server)];
    create_alice(&first);
    let blob = first.blobs().put(b"a certified message").unwrap();
    let (nodes, writers, each) = (2, 2, 25u32);
    let stores = Arc::new([first, second]);
    let threads: Vec<_> = (0..nodes * writers)
        .map(|n| {
            let (stores, blob) = (Arc::clone(&stores), blob.clone());
            std::thread::spawn(move || {
                let store = &stores[n % nodes];
                (0..each)
                    .map(|_| {
                        store
                            .write(|tx| {
                                tx.events().log(Event::new(EventKind::Delivered, now()))?;
                                tx.mailboxes()
                                    .append(ALICE, INBOX, &blob, 20, &[], now(), None)
                            })
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uids: Vec<u32> = Vec::new();
    for thread in threads {
        for appended in thread.join().unwrap() {
            match appended {
                Appended::Stored { uid } => uids.push(uid),
                other => panic!("{other:?}"),
            }
        }
    }
    let total = (nodes * writers) as u32 * each;
    uids.sort_unstable();
    assert_eq!(uids, (1..=total).collect::<Vec<_>>(), "{}", server.log());
    for store in stores.iter() {
        let (messages, chain, mailbox) = store
            .read(|tx| {
                Ok((
                    tx.mailboxes().messages(ALICE, INBOX)?,
                    tx.events().verify_chain()?,
                    tx.mailboxes().get(ALICE)?,
                ))
            })
            .unwrap();
        assert_eq!(messages.len() as u32, total);
        assert_eq!(chain, Ok(u64::from(total)));
        assert_eq!(mailbox.unwrap().used_bytes, u64::from(total) * 20);
    }
}

/// Whether `commits` is woken within a few seconds.
fn woken(commits: &mut crate::store::signal::MailboxCommits) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if commits.take_changed() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// IDLE on one node wakes when another node delivers, and only the sessions of the
/// mailbox delivered to.
#[test]
fn a_session_on_one_node_wakes_when_another_node_delivers_to_its_mailbox() {
    let Some(server) = Server::start() else {
        return;
    };
    let [(_dir1, first), (_dir2, second)] = [node(&server), node(&server)];
    create_alice(&first);
    let blob = first.blobs().put(b"a certified message").unwrap();
    let deliver = || {
        first
            .write(|tx| {
                tx.mailboxes()
                    .append(ALICE, INBOX, &blob, 20, &[], now(), None)
            })
            .unwrap()
    };
    let mut alice = second.mailbox_commits(ALICE);
    alice.take_changed();
    deliver();
    assert!(woken(&mut alice), "the other node's delivery woke nobody");
    // The listener is connected now: what wakes from here on is the delivery alone.
    let mut bob = second.mailbox_commits("bob@pec-a.test");
    bob.take_changed();
    deliver();
    assert!(woken(&mut alice));
    assert!(
        !bob.take_changed(),
        "a delivery to alice woke bob's sessions"
    );
}

fn transport_job(blob: BlobId, at: Timestamp) -> Job {
    Job::new(
        "pec-b.test",
        ALICE,
        vec!["bob@pec-b.test".into()],
        blob,
        at,
        JobKind::Transport,
    )
}

/// Starts `store`'s heartbeat; when its first beat is recorded.
fn beating(store: &Store) -> Timestamp {
    store.start_heartbeat();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let beat = store.read(|tx| tx.nodes().last_beat(&store.node)).unwrap();
        if let Some(beat) = beat {
            return beat;
        }
        assert!(std::time::Instant::now() < deadline, "no heartbeat");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A relay job one node took is left alone by the other while the node beats, and
/// taken over once the node has been silent for the window ([`nodes::SILENCE`]), as
/// when it died mid-delivery; a claim older than that window holds while the node
/// beats, as for a long delivery.
#[test]
fn a_dead_nodes_relay_jobs_are_taken_over_and_a_live_nodes_are_kept() {
    let Some(server) = Server::start() else {
        return;
    };
    let [(_dir1, first), (_dir2, second)] = [node(&server), node(&server)];
    let blob = first.blobs().put(b"a certified message").unwrap();
    let started = Timestamp::now() - jiff::SignedDuration::from_mins(2);
    let id = first
        .write(|tx| tx.queue().enqueue(transport_job(blob.clone(), started)))
        .unwrap();
    let first_beat = beating(&first);
    // Claimed a minute ago, longer than the window: the delivery is still going on.
    let claimed = first
        .take_due_jobs(
            Timestamp::now() - jiff::SignedDuration::from_mins(1),
            10,
            |_| false,
        )
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
    assert!(
        second
            .take_due_jobs(Timestamp::now(), 10, |_| false)
            .unwrap()
            .is_empty()
    );
    // The heartbeat goes on by itself, and the claim with it.
    let deadline = std::time::Instant::now() + nodes::HEARTBEAT * 3;
    while second.read(|tx| tx.nodes().last_beat(&first.node)).unwrap() == Some(first_beat) {
        assert!(
            std::time::Instant::now() < deadline,
            "the heartbeat stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        second
            .take_due_jobs(Timestamp::now(), 10, |_| false)
            .unwrap()
            .is_empty()
    );

    // The first node dies: its claim holds for the window, then the second takes it.
    drop(first);
    let died = Timestamp::now();
    let within = died + jiff::SignedDuration::from_secs(1);
    assert!(
        second
            .take_due_jobs(within, 10, |_| false)
            .unwrap()
            .is_empty()
    );
    let after = died + nodes::SILENCE + jiff::SignedDuration::from_secs(1);
    let taken = second.take_due_jobs(after, 10, |_| false).unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
    assert_eq!(taken[0].lease.as_ref().unwrap().node, *second.node);
}

/// A relay job one node took is left alone by the other while the claim holds, but
/// the node itself takes it again at once when it restarts (after a crash, say);
/// the lease ends even a beating node's claim; a failed attempt releases it.
#[test]
fn a_relay_job_is_delivered_by_one_node_at_a_time() {
    let Some(server) = Server::start() else {
        return;
    };
    let [(first_dir, first), (_dir2, second)] = [node(&server), node(&server)];
    let blob = first.blobs().put(b"a certified message").unwrap();
    let id = first
        .write(|tx| tx.queue().enqueue(transport_job(blob.clone(), now())))
        .unwrap();
    // A claim made in the past, so that its lease has ended by now.
    let long_ago = Timestamp::now() - jiff::SignedDuration::from_mins(16);
    beating(&first);
    beating(&second);
    let taken = first.take_due_jobs(long_ago, 10, |_| false).unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
    let during = long_ago + jiff::SignedDuration::from_mins(1);
    assert!(
        second
            .take_due_jobs(during, 10, |_| false)
            .unwrap()
            .is_empty()
    );
    // Its own claim does not hide the job from the node that holds it.
    assert_eq!(first.take_due_jobs(during, 10, |_| false).unwrap().len(), 1);
    // The node restarts: its claims are still its own.
    drop(first);
    let first = Store::cluster(&server.url(), None, first_dir.path()).unwrap();
    beating(&first);
    let claimed = first.take_due_jobs(long_ago, 10, |_| false).unwrap();
    assert_eq!(claimed.len(), 1);
    // The first node beats, but its lease has ended.
    let taken_over = second
        .take_due_jobs(Timestamp::now(), 10, |_| false)
        .unwrap();
    assert_eq!(taken_over.len(), 1, "the lease bounds a live node's claim");
    assert!(
        first
            .take_due_jobs(Timestamp::now(), 10, |_| false)
            .unwrap()
            .is_empty()
    );
    let later = Timestamp::now();
    second
        .write(|tx| tx.queue().reschedule(id, later, 1, "421 busy"))
        .unwrap();
    assert_eq!(first.take_due_jobs(later, 10, |_| false).unwrap().len(), 1);
}

/// One node at a time has the turn of a kind of work. A node whose session the server
/// ends (it died, or the network cut it off) has it no more, and another takes it; a
/// node that lets its turn go leaves it to the next that asks. The embedded store's one
/// process always has it.
#[test]
fn one_node_at_a_time_has_the_turn_and_a_node_cut_off_loses_it() {
    let Some(server) = Server::start() else {
        return;
    };
    let [(_dir1, first), (_dir2, second)] = [node(&server), node(&server)];
    let (mut one, mut two) = (first.turn("conservation"), second.turn("conservation"));
    assert!(one.mine());
    assert!(!two.mine());
    assert!(one.mine(), "kept while its connection lives");
    assert!(second.turn("another work").mine());

    let mut admin = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let ended = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(ended, 1, "only node 1's turn is held");
    assert!(two.mine());
    assert!(!one.mine());
    drop(two);
    assert!(one.mine());

    let dir = tempfile::tempdir().unwrap();
    assert!(Store::open(dir.path()).unwrap().turn("conservation").mine());
}
