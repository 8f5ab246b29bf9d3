//! The session's [`Hooks`] as the daemon wires them: receipt correlation for `Sent`
//! copies, the conservation queue for `--ARCHIVIA--`, and the conservation view read
//! from the recorded packages, each message checked against its recorded SHA-256.

use std::path::PathBuf;

use crate::conservation::archive::PackageRecord;
use crate::conservation::view::Entry;
use crate::imap::session::ConservedFolders;
use crate::imap::session::Filed;
use crate::imap::session::Hooks;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::mailbox::ARCHIVE;
use crate::store::mailbox::SENT;
use crate::store::objects::Bucket;

/// The provider behind IMAP sessions.
#[derive(Clone, Debug, Default)]
pub struct ProviderHooks {
    /// Where conservation packages live, for the read-only `Conservazione/…` view;
    /// `None` hides the view.
    pub conservation_root: Option<PathBuf>,
    /// The cluster's object store, from which a package built by another node is
    /// fetched before it is read.
    pub bucket: Option<Bucket>,
}

impl Hooks for ProviderHooks {
    fn message_id(&self, raw: &[u8]) -> Option<String> {
        crate::provider::correlation::message_id(raw)
    }

    fn filed(&self, tx: &mut Tx<'_>, filed: &Filed<'_>) -> Result<(), StoreError> {
        if let (Some(id), [uid]) = (filed.message_id, filed.uids)
            && filed.folder == SENT
        {
            crate::provider::correlation::catch_up(tx, filed.user, *uid, id)?;
        }
        if filed.folder == ARCHIVE {
            for uid in filed.uids {
                queue_archived(tx, filed, *uid)?;
            }
        }
        Ok(())
    }

    fn has_conservation_view(&self) -> bool {
        self.conservation_root.is_some()
    }

    fn conserved(&self, store: &Store, user: &str) -> Result<ConservedFolders, StoreError> {
        let packages: Vec<PackageRecord> = store.read(|tx| tx.conservation().packages())?;
        Ok(crate::conservation::view::folders(&packages, user))
    }

    fn conserved_raw(&self, entries: &[Entry], uid: u32) -> Result<Vec<u8>, StoreError> {
        let Some(root) = &self.conservation_root else {
            return Err(StoreError::Corrupt("no conservation view".into()));
        };
        let entry = entries
            .get((uid as usize).wrapping_sub(1))
            .ok_or_else(|| StoreError::Corrupt(format!("no conserved message {uid}")))?;
        if let Some(bucket) = &self.bucket {
            crate::conservation::bucket::fetch(bucket, root, &entry.package, &entry.pinned)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        crate::conservation::view::read(root, entry).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// A message just filed into `--ARCHIVIA--` is queued for conservation in the same
/// transaction; the conservation worker removes it from the folder once it is in a
/// package, so the folder empties as the work gets done.
fn queue_archived(tx: &mut Tx<'_>, filed: &Filed<'_>, uid: u32) -> Result<(), StoreError> {
    if let Some(meta) = tx.folders().message(filed.user, ARCHIVE, uid)? {
        crate::conservation::queue::enqueue_manual(
            tx,
            filed.user,
            &meta.blob,
            meta.size,
            Some(uid),
            filed.now,
        )?;
    }
    Ok(())
}
