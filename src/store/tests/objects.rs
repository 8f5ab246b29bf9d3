//! Large bodies in the cluster's object store, a real Garage started for the test
//! ([`Garage`]) beside a real PostgreSQL ([`Server`]): what one node puts another
//! reads, the same work gives the same store, and a bucket that refuses or alters
//! bytes yields errors, never a body that is not the one certified.

use super::*;
use crate::config::S3Config;
use crate::store::kv::pg::server::Server;
use crate::store::objects::Bucket;
use crate::store::objects::garage::Garage;

/// A node on `server` whose large bodies go to the bucket `s3` names.
fn node(server: &Server, s3: &S3Config) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let bucket = Bucket::connect(s3).unwrap();
    let store = Store::cluster(&server.url(), Some(bucket), dir.path()).unwrap();
    (dir, store)
}

fn engines() -> Option<(Server, Garage)> {
    Some((Server::start()?, Garage::start()?))
}

#[test]
fn a_large_body_put_on_one_node_is_read_on_another() {
    let Some((server, garage)) = engines() else {
        return;
    };
    let [(first_dir, first), (_dir, second)] = [
        node(&server, &garage.config()),
        node(&server, &garage.config()),
    ];
    let large: Vec<u8> = (0..INLINE_MAX * 3).map(|i| (i % 251) as u8).collect();
    let id = first.blobs().put(&large).unwrap();
    first.write(|_| Ok(())).unwrap();
    assert_eq!(second.blobs().get(&id).unwrap(), large);
    // Nothing of it stays with the node that wrote it.
    assert!(first.blobs().path(&id).is_none());
    assert!(!first_dir.path().join("blobs").exists());
    // The same bytes again are the same object.
    assert_eq!(second.blobs().put(&large).unwrap(), id);
}

#[test]
fn the_same_work_gives_the_same_store_with_the_bodies_in_a_bucket() {
    let Some((server, garage)) = engines() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded = Store::open(dir.path()).unwrap();
    let (_node_dir, cluster) = node(&server, &garage.config());
    let expected = super::cluster::exercise(&embedded);
    let got = super::cluster::exercise(&cluster);
    for (line, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(want, have, "line {line} differs");
    }
    assert_eq!(expected.len(), got.len());
}

/// Whoever can write the bucket cannot pass other bytes off as a stored body: they are
/// checked against the name on every read that certifies, relays or exports.
#[test]
fn a_body_altered_in_the_bucket_is_reported_not_served_as_certified() {
    let Some((server, garage)) = engines() else {
        return;
    };
    let (_dir, store) = node(&server, &garage.config());
    let genuine = vec![b'g'; INLINE_MAX + 10];
    let id = store.blobs().put(&genuine).unwrap();
    let forged = vec![b'f'; INLINE_MAX + 10];
    let bucket = Bucket::connect(&garage.config()).unwrap();
    bucket
        .put(&format!("bodies/{}", id.as_str()), &forged)
        .unwrap();
    let error = store.blobs().get(&id).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
    // A body that is nowhere is an error too, not an empty message.
    let missing = BlobId::of(&vec![b'm'; INLINE_MAX + 1]);
    let error = store.blobs().get(&missing).unwrap_err();
    assert!(error.to_string().contains("neither"), "{error}");
}

/// A bucket that refuses the node's key fails the put, so the record that would name
/// the body is never committed; the error says who refused.
#[test]
fn a_bucket_that_refuses_the_key_fails_the_put() {
    let Some((server, garage)) = engines() else {
        return;
    };
    let mut wrong = garage.config();
    wrong.secret_key = Some("0".repeat(64));
    let (_dir, store) = node(&server, &wrong);
    let error = store.blobs().put(&vec![b'x'; INLINE_MAX + 1]).unwrap_err();
    assert!(error.to_string().starts_with("object store:"), "{error}");
    // Small bodies do not need the bucket.
    store.blobs().put(b"a receipt").unwrap();
}
