//! The committer thread: every owned write durable, a failing or panicking closure
//! loses only its own writes, the others of its batch still commit, and both write
//! paths share the store.

use std::sync::mpsc;

use super::super::Store;
use super::super::StoreError;
use super::super::Tx;
use super::super::commit::tests::all;
use super::super::commit::tests::put;
use super::Job;
use super::Value;
use super::commit;

#[test]
fn owned_writes_from_many_threads_beside_group_writes_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let commits = store.commits();
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let key = thread * 1000 + i;
                    let fails = thread == 3 && i % 5 == 0;
                    let body = store.blobs().put(format!("body {key}").as_bytes()).unwrap();
                    let work = move |tx: &mut Tx<'_>| {
                        put(tx, key, i)?;
                        if fails {
                            return Err(StoreError::Conflict(format!("{key} refused")));
                        }
                        Ok(body.clone())
                    };
                    // Odd threads take the group-commit path: both share the database.
                    let result = if thread % 2 == 0 {
                        store.write_owned(work)
                    } else {
                        store.write(work)
                    };
                    assert_eq!(result.is_err(), fails, "key {key}: {result:?}");
                    if let Ok(body) = result {
                        assert_eq!(
                            store.blobs().get(&body).unwrap(),
                            format!("body {key}").as_bytes()
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let expected: Vec<(u64, u64)> = (0..8u64)
        .flat_map(|t| (0..50u64).map(move |i| (t * 1000 + i, i)))
        .filter(|(key, i)| !(key / 1000 == 3 && i % 5 == 0))
        .collect();
    assert_eq!(all(&store), expected);
    // IMAP's IDLE wakes on the committer's commits too.
    assert!(commits.has_changed().unwrap());
    // Dropping the store stops the thread and releases the database: it reopens, and
    // what was acknowledged is there.
    drop(store);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(all(&reopened), expected);
}

/// A job for `commit`, and where its outcome arrives.
fn job(
    work: impl Fn(&mut Tx<'_>) -> Result<u64, StoreError> + Send + 'static,
) -> (Job, mpsc::Receiver<Result<Value, StoreError>>) {
    let (done, outcome) = mpsc::sync_channel(1);
    let job = Job {
        work: Box::new(move |tx: &mut Tx<'_>| work(tx).map(|v| Box::new(v) as Value)),
        done,
    };
    (job, outcome)
}

fn value(outcome: &mpsc::Receiver<Result<Value, StoreError>>) -> Result<u64, StoreError> {
    outcome
        .recv()
        .unwrap()
        .map(|value| *value.downcast::<u64>().unwrap())
}

#[test]
fn in_one_batch_a_failing_and_a_panicking_closure_lose_only_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let writer = store.writer.clone().unwrap();
    let (first, first_out) = job(|tx| {
        tx.touch("first@pec-a.test");
        put(tx, 1, 1).map(|()| 1)
    });
    let (failing, failing_out) = job(|tx| {
        tx.touch("failing@pec-a.test");
        put(tx, 2, 2)?;
        Err(StoreError::Conflict("no".into()))
    });
    let (panicking, panicking_out) = job(|tx| {
        tx.touch("panicking@pec-a.test");
        put(tx, 3, 3)?;
        panic!("bug in a closure");
    });
    let (last, last_out) = job(|tx| {
        tx.touch("last@pec-a.test");
        put(tx, 4, 4).map(|()| 4)
    });
    let commits = std::sync::atomic::AtomicUsize::new(0);
    let touched = std::sync::Mutex::new(Vec::new());
    commit(
        &writer,
        store.blobs(),
        vec![first, failing, panicking, last],
        &|_, _, changed| {
            commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            touched.lock().unwrap().extend(changed.iter().cloned());
        },
    );
    assert_eq!(value(&first_out).unwrap(), 1);
    assert!(matches!(value(&failing_out), Err(StoreError::Conflict(_))));
    assert!(matches!(
        value(&panicking_out),
        Err(StoreError::Internal(_))
    ));
    assert_eq!(value(&last_out).unwrap(), 4);
    assert_eq!(all(&store), vec![(1, 1), (4, 4)]);
    // One durable commit for the two that succeeded, and it tells of their mailboxes
    // alone: the attempts the failures aborted tell nothing.
    assert_eq!(commits.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(
        touched.into_inner().unwrap(),
        ["first@pec-a.test", "last@pec-a.test"]
    );
}

#[test]
fn a_read_only_store_refuses_owned_writes() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        reader.write_owned(|_| Ok(())),
        Err(StoreError::ReadOnly)
    ));
}

#[test]
fn a_panic_after_a_durable_commit_neither_fails_its_writers_nor_stops_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = std::sync::atomic::AtomicBool::new(true);
    let committer = super::Committer::start(
        store.writer.clone().unwrap(),
        store.blobs().clone(),
        move |_, _, _| {
            if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                panic!("bug after the commit");
            }
        },
    )
    .unwrap();
    // The commit was durable before the panic: the writer is told so.
    committer.write(|tx| put(tx, 1, 1)).unwrap();
    // And the thread goes on.
    committer.write(|tx| put(tx, 2, 2)).unwrap();
    assert_eq!(all(&store), vec![(1, 1), (2, 2)]);
}
