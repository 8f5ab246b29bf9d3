//! What the session asks of the provider beyond the mailbox tables: the PEC work that
//! rides in the same transaction as a message filed by a client (a `Sent` copy catching
//! up with its receipts, `--ARCHIVIA--` queueing for conservation) and the read-only
//! view of conserved packages. The session is given one [`Hooks`] when it is made
//! (`imap::server`'s endpoint), so it stays free of provider and conservation code, and
//! a harness can give it another.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::conservation::view::Entry;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;

/// A mailbox's conserved messages by view folder (`Conservazione/<year>/<kind>`).
pub type ConservedFolders = BTreeMap<String, Vec<Entry>>;

/// The provider's part in IMAP commands.
pub trait Hooks: std::fmt::Debug + Send + Sync {
    /// The `Message-ID` of a message a client files (APPEND), for receipt correlation.
    fn message_id(&self, raw: &[u8]) -> Option<String>;

    /// APPEND, COPY or MOVE filed messages, inside `tx` (the command's transaction).
    fn filed(&self, tx: &mut Tx<'_>, filed: &Filed<'_>) -> Result<(), StoreError>;

    /// Whether the conservation view (`Conservazione/…`) is offered.
    fn has_conservation_view(&self) -> bool;

    /// The view's folders for `user`.
    fn conserved(&self, store: &Store, user: &str) -> Result<ConservedFolders, StoreError>;

    /// The bytes of the message at `uid` (1-based position) in a view folder.
    fn conserved_raw(&self, entries: &[Entry], uid: u32) -> Result<Vec<u8>, StoreError>;
}

/// Where a client filed messages, and when.
#[derive(Clone, Copy, Debug)]
pub struct Filed<'a> {
    /// The mailbox.
    pub user: &'a str,
    /// The folder they went to.
    pub folder: &'a str,
    /// Their UIDs there.
    pub uids: &'a [u32],
    /// The `Message-ID` of the one message APPEND filed; COPY and MOVE give none (their
    /// messages were correlated when first filed).
    pub message_id: Option<&'a str>,
    /// The command's time.
    pub now: Timestamp,
}
