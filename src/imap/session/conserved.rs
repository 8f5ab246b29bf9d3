//! The read-only view of conserved messages (issue: "a read-only IMAP view … grouped by
//! year and kind"): `Conservazione/<year>/<Buste|Anomalie|Ricevute|Altri>`, built from
//! the recorded packages, each message read back from its package and checked against
//! its recorded SHA-256. Nothing here can change a package: the folders are selected
//! read-only, and STORE, COPY, MOVE and EXPUNGE are refused.

use std::collections::BTreeMap;
use std::path::Path;

use crate::conservation::archive::PackageRecord;
use crate::conservation::view;
use crate::conservation::view::Entry;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::blobs::BlobId;
use crate::store::mailbox::MessageMeta;

/// The view's root folder.
pub use crate::conservation::view::ROOT;

/// UIDVALIDITY of every view folder: its UIDs are positions in a list that only grows
/// at the end (packages are write-once and sorted by filing time).
pub const UIDVALIDITY: u32 = 1;

/// Whether a folder name is inside the view.
pub fn is_view(name: &str) -> bool {
    name == ROOT || name.starts_with(&format!("{ROOT}/"))
}

/// A mailbox's conserved messages by view folder.
pub fn folders(store: &Store, user: &str) -> Result<BTreeMap<String, Vec<Entry>>, StoreError> {
    let packages: Vec<PackageRecord> = store.read(|tx| tx.conservation().packages())?;
    Ok(view::folders(&packages, user))
}

/// Every name of the view with whether it can be selected (the year and root levels
/// only hold folders).
pub fn names(folders: &BTreeMap<String, Vec<Entry>>) -> Vec<(String, bool)> {
    let mut names: BTreeMap<String, bool> = BTreeMap::new();
    for name in folders.keys() {
        let mut at = 0;
        while let Some(slash) = name[at..].find('/') {
            names.entry(name[..at + slash].to_string()).or_insert(false);
            at += slash + 1;
        }
        names.insert(name.clone(), true);
    }
    names.into_iter().collect()
}

/// The store-like records of a view folder: UID n is the n-th entry.
pub fn metas(entries: &[Entry]) -> Vec<MessageMeta> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| MessageMeta {
            uid: u32::try_from(i + 1).unwrap_or(u32::MAX),
            // The package holds the bytes; the id only names them.
            blob: BlobId::try_from(entry.sha256.clone()).unwrap_or_else(|_| BlobId::of(b"")),
            size: entry.size,
            flags: vec!["\\Seen".to_string()],
            internal_date: entry.received,
            modseq: 1,
            message_id: None,
        })
        .collect()
}

/// The conserved bytes of the n-th entry, from its package.
pub fn raw(root: &Path, entries: &[Entry], uid: u32) -> Result<Vec<u8>, StoreError> {
    let entry = entries
        .get((uid as usize).wrapping_sub(1))
        .ok_or_else(|| StoreError::Corrupt(format!("no conserved message {uid}")))?;
    view::read(root, entry).map_err(|e| StoreError::Corrupt(e.to_string()))
}
