//! Message bodies: inline in the database or files, damage and torn writes.

use super::*;

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
    let path = store.blobs().path(&id).unwrap();
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
    let path = store.blobs().path(&id).unwrap();
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
    assert_eq!(store.blobs().path(&old), Some(legacy.join(hex)));
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
    assert!(!store.blobs().path(&blob).unwrap().exists());
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
