//! Which mailboxes a commit changed, and who is told.
//!
//! An IMAP session in IDLE or NOTIFY re-reads its mailbox's folders when woken; woken
//! by every commit, ten thousand idle sessions would each rescan their folders for one
//! delivery to somebody else, and any holder could load everyone's sessions by moving
//! their own mail. So the store records, inside the write transaction, the mailboxes
//! whose records it writes, and after the commit is durable wakes only the sessions
//! of those mailboxes.
//!
//! The recording has one choke point per table: the tables of a mailbox's data
//! (its record, folders, messages, their Message-ID index, UIDVALIDITY history,
//! subscriptions) are [`MailboxTable`]s, which open for writing only when told whose
//! records are written, and mark that mailbox in the transaction ([`Tx`]). A new writer
//! cannot forget: there is no other way to write them.
//!
//! A batch signals the union of what its committed closures marked: a closure that
//! fails, and every attempt aborted or run again, marks nothing (the group commit and
//! the committer keep the marks of a closure only once it succeeded, and drop them
//! with the transaction).

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;

use redb::MultimapTableDefinition;
use redb::TableDefinition;
use tokio::sync::watch;

use super::ReadTx;
use super::StoreError;
use super::Tx;
use super::key::AddressKey;
use super::kv::Multimap;
use super::kv::OrderedKey;
use super::kv::Table;

/// The mailboxes (their table keys) whose records a transaction wrote.
pub type Touched = BTreeSet<String>;

/// A table of mailbox data: every key starts with the address the record belongs to.
pub(crate) struct MailboxTable<K: OrderedKey, V: redb::Value + 'static>(
    TableDefinition<'static, K, V>,
);

impl<K: OrderedKey, V: redb::Value + 'static> MailboxTable<K, V> {
    pub(crate) const fn new(name: &'static str) -> Self {
        MailboxTable(TableDefinition::new(name))
    }

    /// The table in a snapshot.
    pub(crate) fn read<'t>(&self, tx: &'t ReadTx<'_>) -> Result<Table<'t, K, V>, StoreError> {
        tx.table(self.0)
    }

    /// The table seen from a write transaction, for reading only (marks nothing).
    pub(crate) fn peek<'t>(&self, tx: &'t Tx<'_>) -> Result<Table<'t, K, V>, StoreError> {
        tx.table(self.0)
    }

    /// The table, to write `address`'s records: the commit will wake its sessions.
    pub(crate) fn write<'t>(
        &self,
        tx: &'t Tx<'_>,
        address: &str,
    ) -> Result<Table<'t, K, V>, StoreError> {
        tx.touch(address);
        tx.table(self.0)
    }
}

/// [`MailboxTable`] for a multimap table.
pub(crate) struct MailboxMultimap<K: OrderedKey, V: OrderedKey>(
    MultimapTableDefinition<'static, K, V>,
);

impl<K: OrderedKey, V: OrderedKey> MailboxMultimap<K, V> {
    pub(crate) const fn new(name: &'static str) -> Self {
        MailboxMultimap(MultimapTableDefinition::new(name))
    }

    /// The table in a snapshot.
    pub(crate) fn read<'t>(&self, tx: &'t ReadTx<'_>) -> Result<Multimap<'t, K, V>, StoreError> {
        tx.multimap(self.0)
    }

    /// The table seen from a write transaction, for reading only (marks nothing).
    pub(crate) fn peek<'t>(&self, tx: &'t Tx<'_>) -> Result<Multimap<'t, K, V>, StoreError> {
        tx.multimap(self.0)
    }

    /// The table, to write `address`'s records: the commit will wake its sessions.
    pub(crate) fn write<'t>(
        &self,
        tx: &'t Tx<'_>,
        address: &str,
    ) -> Result<Multimap<'t, K, V>, StoreError> {
        tx.touch(address);
        tx.multimap(self.0)
    }
}

/// The mailboxes some session listens to, each with the counter that wakes them.
/// An entry lives exactly as long as a [`MailboxCommits`] of it: the registry holds
/// no more entries than there are listening sessions.
#[derive(Default)]
pub(crate) struct Signals {
    listened: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Signals {
    /// Wakes the sessions of the mailboxes a durable commit changed.
    pub(crate) fn committed(&self, touched: &Touched) {
        if touched.is_empty() {
            return;
        }
        let listened = self.lock();
        for address in touched {
            if let Some(sender) = listened.get(address) {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wakes every listening session (the whole store was put back).
    pub(crate) fn all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Listens to the commits that change `address`'s mailbox.
    pub(crate) fn listen(self: &Arc<Self>, address: &str) -> MailboxCommits {
        let address = AddressKey::new(address).as_str().to_string();
        let receiver = self
            .lock()
            .entry(address.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        MailboxCommits {
            receiver,
            address,
            signals: Arc::clone(self),
        }
    }

    /// How many mailboxes are listened to.
    pub(crate) fn listened(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        // Only senders are kept under the lock: a panicked holder left them usable.
        self.listened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A session's subscription to the commits that change one mailbox
/// ([`Store::mailbox_commits`](super::Store::mailbox_commits)).
pub struct MailboxCommits {
    receiver: watch::Receiver<u64>,
    address: String,
    signals: Arc<Signals>,
}

impl MailboxCommits {
    /// Resolves at the next commit that changed the mailbox (at once if one happened
    /// since the last call, or after [`MailboxCommits::mark_changed`]).
    pub async fn changed(&mut self) {
        // The sender lives in the registry as long as this receiver does.
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Counts as woken: the next [`MailboxCommits::changed`] resolves at once.
    pub fn mark_changed(&mut self) {
        self.receiver.mark_changed();
    }

    /// Whether a commit changed the mailbox since the last look (this one or
    /// [`MailboxCommits::changed`]), and now it is seen.
    pub fn take_changed(&mut self) -> bool {
        let changed = self.receiver.has_changed().unwrap_or(false);
        self.receiver.borrow_and_update();
        changed
    }
}

impl Drop for MailboxCommits {
    fn drop(&mut self) {
        let mut listened = self.signals.lock();
        // This receiver is still alive: the last one counts one.
        if listened
            .get(&self.address)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            listened.remove(&self.address);
        }
    }
}

impl std::fmt::Debug for MailboxCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxCommits")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
