//! Mailboxes: quota and state outcomes, passwords, and records of older layouts.

use super::*;

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
    assert!(argon2::PasswordHash::new(crate::store::mailbox::DUMMY_HASH_FOR_TESTS).is_ok());
}

/// Message records in the JSON form of an older pecd are read, flagged and expunged
/// like the compact ones.
#[test]
fn a_store_with_json_records_still_opens_reads_and_rewrites_them() {
    use crate::store::encode;
    use crate::store::folders::FlagChange;
    use crate::store::key::AddressKey;
    use crate::store::mailbox::MESSAGES;
    use crate::store::mailbox::MessageMeta;

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
            let mut table = MESSAGES.write(tx, user)?;
            let key = AddressKey::new(user).folder(INBOX);
            for meta in &old {
                table
                    .insert((key.as_str(), meta.uid), encode(meta)?.as_slice())
                    .map_err(crate::store::db)?;
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
