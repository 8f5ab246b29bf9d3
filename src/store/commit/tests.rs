//! Group commit: concurrent writers all durable, a failing or panicking closure loses
//! only its own writes, the others run again.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use redb::TableDefinition;

use super::super::Store;
use super::super::StoreError;
use super::super::Tx;
use super::super::db;
use super::Outcome;

const COUNTS: TableDefinition<u64, u64> = TableDefinition::new("test-counts");

/// Writes one test record (also used by the committer's tests).
pub(in crate::store) fn put(tx: &mut Tx<'_>, key: u64, value: u64) -> Result<(), StoreError> {
    let mut table = tx.table(COUNTS)?;
    table.insert(key, value).map_err(db)?;
    Ok(())
}

/// Every test record, in key order.
pub(in crate::store) fn all(store: &Store) -> Vec<(u64, u64)> {
    store
        .read(|tx| {
            tx.table(COUNTS)?
                .iter()?
                .map(|entry| {
                    let (key, value) = entry?;
                    Ok((key.value(), value.value()))
                })
                .collect()
        })
        .unwrap()
}

#[test]
fn concurrent_writers_are_all_committed_and_failures_lose_only_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let store = store.clone();
            let runs = Arc::clone(&runs);
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let key = thread * 1000 + i;
                    let fails = thread == 3 && i % 5 == 0;
                    let body = store.blobs().put(format!("body {key}").as_bytes()).unwrap();
                    let result = store.write(|tx| {
                        runs.fetch_add(1, Ordering::Relaxed);
                        put(tx, key, i)?;
                        if fails {
                            return Err(StoreError::Conflict(format!("{key} refused")));
                        }
                        Ok(body.clone())
                    });
                    assert_eq!(result.is_err(), fails, "key {key}: {result:?}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stored = all(&store);
    let expected: Vec<(u64, u64)> = (0..8u64)
        .flat_map(|t| (0..50u64).map(move |i| (t * 1000 + i, i)))
        .filter(|(key, i)| !(key / 1000 == 3 && i % 5 == 0))
        .collect();
    assert_eq!(stored, expected);
    // Every closure ran at least once; re-runs after an abort are allowed.
    assert!(runs.load(Ordering::Relaxed) >= 400);
    // And it is durable: a reopened store sees the same.
    drop(store);
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(all(&reopened), expected);
}

#[test]
fn a_failing_joiner_aborts_the_batch_and_the_member_before_it_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let group = &store.group;
    // Member 1 runs in batch 1 and has not committed yet when member 2 joins and fails.
    let (_, batch) = group
        .run(store.writer.as_ref().unwrap(), &|tx| put(tx, 1, 1))
        .unwrap();
    let failed = group.run(store.writer.as_ref().unwrap(), &|tx| {
        put(tx, 2, 2)?;
        Err::<(), _>(StoreError::Conflict("no".into()))
    });
    assert!(matches!(failed, Err(StoreError::Conflict(_))));
    let outcome = group.finish(batch, store.blobs(), &|_, _, _| ()).unwrap();
    assert!(matches!(outcome, Outcome::Aborted));
    assert_eq!(all(&store), vec![]);
    // Run again (as `write` does), member 1 commits alone.
    store.write(|tx| put(tx, 1, 1)).unwrap();
    assert_eq!(all(&store), vec![(1, 1)]);
}

#[test]
fn a_panicking_closure_commits_nothing_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, batch) = store
        .group
        .run(store.writer.as_ref().unwrap(), &|tx| put(tx, 1, 1))
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.write(|tx| -> Result<(), StoreError> {
            put(tx, 2, 2)?;
            panic!("bug in a closure");
        });
    }));
    assert!(panicked.is_err());
    let outcome = store
        .group
        .finish(batch, store.blobs(), &|_, _, _| ())
        .unwrap();
    assert!(matches!(outcome, Outcome::Aborted));
    store.write(|tx| put(tx, 3, 3)).unwrap();
    assert_eq!(all(&store), vec![(3, 3)]);
}
