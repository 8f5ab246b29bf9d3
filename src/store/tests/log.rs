//! The tamper-evident event log: the chain, queries, and edits an attacker with file
//! access could make.

use super::*;

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
    let txn = store.writer.as_ref().unwrap().begin().unwrap();
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
