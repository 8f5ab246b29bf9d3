//! The transactions the rest of the crate writes and reads in, and the handles of their
//! tables.

use redb::MultimapTableDefinition;
use redb::TableDefinition;

use crate::store::StoreError;
use crate::store::kv::Multimap;
use crate::store::kv::OrderedKey;
use crate::store::kv::Reading;
use crate::store::kv::Table;
use crate::store::kv::Writing;

use crate::store::conservation::Conservation;
use crate::store::folders::Folders;
use crate::store::headers::Headers;
use crate::store::key;
use crate::store::ledger::Ledger;
use crate::store::links::Links;
use crate::store::log::Events;
use crate::store::mailbox::Mailboxes;
use crate::store::management::Management;
use crate::store::nodes::Nodes;
use crate::store::outages::Outages;
use crate::store::outbox::Outbox;
use crate::store::quarantine::Quarantine;
use crate::store::queue::Queue;
use crate::store::signal::Touched;
use crate::store::status::Statuses;
use crate::store::timers::Timers;

/// A write transaction: everything done through it commits durably together. Its tables
/// are reached through one handle each ([`Tx::queue`], [`Tx::mailboxes`], …), a type
/// defined beside its table, so the rest of the crate names a table's operations and
/// never the database's: what a second backend would supply.
pub struct Tx<'a> {
    inner: Writing<'a>,
    /// The mailboxes whose records were written ([`signal::MailboxTable::write`]).
    touched: std::cell::RefCell<Touched>,
}

/// A consistent read-only snapshot, its tables reached through the same handles as
/// [`Tx`]'s.
pub struct ReadTx<'a> {
    inner: Reading<'a>,
}

impl<'a> ReadTx<'a> {
    pub(crate) fn new(inner: Reading<'a>) -> ReadTx<'a> {
        ReadTx { inner }
    }
}

impl<'a> Tx<'a> {
    /// One writer's view of `inner`; what it marks is its own.
    pub(crate) fn new(inner: Writing<'a>) -> Tx<'a> {
        Tx {
            inner,
            touched: std::cell::RefCell::default(),
        }
    }

    /// Marks `address`'s mailbox as changed by this writer.
    pub(crate) fn touch(&self, address: &str) {
        let key = key::AddressKey::new(address);
        let mut touched = self.touched.borrow_mut();
        if !touched.contains(key.as_str()) {
            touched.insert(key.as_str().to_string());
        }
    }

    /// The mailboxes this writer changed.
    pub(crate) fn into_touched(self) -> Touched {
        self.touched.into_inner()
    }
}

/// The tables, for the handles.
impl Tx<'_> {
    /// A table, to read and write.
    pub(crate) fn table<K: OrderedKey, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<Table<'_, K, V>, StoreError> {
        self.inner.table(definition)
    }

    /// A multimap table, to read and write.
    pub(crate) fn multimap<K: OrderedKey, V: OrderedKey>(
        &self,
        definition: MultimapTableDefinition<'static, K, V>,
    ) -> Result<Multimap<'_, K, V>, StoreError> {
        self.inner.multimap(definition)
    }
}

impl ReadTx<'_> {
    /// A table as the snapshot has it (empty if never written).
    pub(crate) fn table<K: OrderedKey, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<Table<'_, K, V>, StoreError> {
        self.inner.table(definition)
    }

    /// A multimap table as the snapshot has it (empty if never written).
    pub(crate) fn multimap<K: OrderedKey, V: OrderedKey>(
        &self,
        definition: MultimapTableDefinition<'static, K, V>,
    ) -> Result<Multimap<'_, K, V>, StoreError> {
        self.inner.multimap(definition)
    }
}

/// The handles of a write transaction's tables.
impl<'a> Tx<'a> {
    /// Mailboxes: accounts, passwords, quota, and the messages filed in them.
    pub fn mailboxes(&mut self) -> Mailboxes<&mut Tx<'a>> {
        Mailboxes(self)
    }

    /// The management plane: domains, operators, holders, mailbox history and documents.
    pub fn management(&mut self) -> Management<&mut Tx<'a>> {
        Management(self)
    }

    /// What IMAP does to folders and their messages.
    pub fn folders(&mut self) -> Folders<&mut Tx<'a>> {
        Folders(self)
    }

    /// The header cache.
    pub fn headers(&mut self) -> Headers<&mut Tx<'a>> {
        Headers(self)
    }

    /// Which certified messages were sent and received.
    pub fn ledger(&mut self) -> Ledger<&mut Tx<'a>> {
        Ledger(self)
    }

    /// The chained event log.
    pub fn events(&mut self) -> Events<&mut Tx<'a>> {
        Events(self)
    }

    /// The outbound job queue.
    pub fn queue(&mut self) -> Queue<&mut Tx<'a>> {
        Queue(self)
    }

    /// The nodes of a cluster and their heartbeats.
    pub fn nodes(&mut self) -> Nodes<&mut Tx<'a>> {
        Nodes(self)
    }

    /// The delivery timers.
    pub fn timers(&mut self) -> Timers<&mut Tx<'a>> {
        Timers(self)
    }

    /// The virus quarantine.
    pub fn quarantine(&mut self) -> Quarantine<&mut Tx<'a>> {
        Quarantine(self)
    }

    /// The delivery status of sent messages.
    pub fn statuses(&mut self) -> Statuses<&mut Tx<'a>> {
        Statuses(self)
    }

    /// The conservation queue, packages and accounts.
    pub fn conservation(&mut self) -> Conservation<&mut Tx<'a>> {
        Conservation(self)
    }

    /// The ordinary mail waiting for the smarthost.
    pub fn outbox(&mut self) -> Outbox<&mut Tx<'a>> {
        Outbox(self)
    }

    /// The one-time password links.
    pub fn links(&mut self) -> Links<&mut Tx<'a>> {
        Links(self)
    }

    /// Recorded outages and the daemon's runs (the AgID statistics).
    pub fn outages(&mut self) -> Outages<&mut Tx<'a>> {
        Outages(self)
    }
}

/// The handles of a snapshot's tables.
impl<'a> ReadTx<'a> {
    /// Mailboxes: accounts, passwords, quota, and the messages filed in them.
    pub fn mailboxes(&self) -> Mailboxes<&ReadTx<'a>> {
        Mailboxes(self)
    }

    /// The management plane: domains, operators, holders, mailbox history and documents.
    pub fn management(&self) -> Management<&ReadTx<'a>> {
        Management(self)
    }

    /// Folders and their messages.
    pub fn folders(&self) -> Folders<&ReadTx<'a>> {
        Folders(self)
    }

    /// The header cache.
    pub fn headers(&self) -> Headers<&ReadTx<'a>> {
        Headers(self)
    }

    /// Which certified messages were sent and received.
    pub fn ledger(&self) -> Ledger<&ReadTx<'a>> {
        Ledger(self)
    }

    /// The chained event log.
    pub fn events(&self) -> Events<&ReadTx<'a>> {
        Events(self)
    }

    /// The outbound job queue.
    pub fn queue(&self) -> Queue<&ReadTx<'a>> {
        Queue(self)
    }

    /// The nodes of a cluster and their heartbeats.
    pub fn nodes(&self) -> Nodes<&ReadTx<'a>> {
        Nodes(self)
    }

    /// The delivery timers.
    pub fn timers(&self) -> Timers<&ReadTx<'a>> {
        Timers(self)
    }

    /// The virus quarantine.
    pub fn quarantine(&self) -> Quarantine<&ReadTx<'a>> {
        Quarantine(self)
    }

    /// The conservation queue, packages and accounts.
    pub fn conservation(&self) -> Conservation<&ReadTx<'a>> {
        Conservation(self)
    }

    /// The ordinary mail waiting for the smarthost.
    pub fn outbox(&self) -> Outbox<&ReadTx<'a>> {
        Outbox(self)
    }

    /// The one-time password links.
    pub fn links(&self) -> Links<&ReadTx<'a>> {
        Links(self)
    }

    /// Recorded outages and the daemon's runs (the AgID statistics).
    pub fn outages(&self) -> Outages<&ReadTx<'a>> {
        Outages(self)
    }
}
