//! The conservation tables: the durable ingest queue (fed in the same transaction as
//! the INBOX append, drained by `conservation::worker`), the records of stored
//! packages and of refused SIPs, and each mailbox's conservation account (quota tier,
//! bytes conserved, alerts sent, paused). Records are opaque JSON to the store; the
//! `conservation` module owns their meaning.

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
use crate::store::mailbox::Mailboxes;
use crate::store::management::conserved;

const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("conservation_queue");
const PACKAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("conservation_packages");
const REFUSALS: TableDefinition<u64, &[u8]> = TableDefinition::new("conservation_refusals");
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("conservation_accounts");
const AUDITS: TableDefinition<&str, &[u8]> = TableDefinition::new("conservation_audits");
const REVOCATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("conservation_revocations");

/// One message waiting to be conserved.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct IngestJob {
    /// Its id (set by [`Conservation::enqueue`]); also names the SIP.
    pub id: u64,
    /// The mailbox.
    pub mailbox: String,
    /// The message as received.
    pub blob: BlobId,
    /// Its size.
    pub size: u64,
    /// When it was filed.
    pub received: Timestamp,
    /// Why it is conserved: `all-inbound`, `envelopes`, `receipts` or `manual`.
    pub origin: String,
    /// For `manual`: its UID in `--ARCHIVIA--`, removed from there once conserved.
    #[serde(default)]
    pub archive_uid: Option<u32>,
}

/// A mailbox's conservation account.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Account {
    /// The quota tier's name (`small`, `medium`, `xlarge`, or a configured one).
    pub tier: String,
    /// Bytes conserved so far.
    pub used_bytes: u64,
    /// The 70 % alert was sent for the current quota.
    pub alerted_70: bool,
    /// The 90 % alert was sent for the current quota.
    pub alerted_90: bool,
    /// Ingest is paused: the next package would exceed the quota.
    pub paused: bool,
    /// The retention class (years kept).
    pub retention_years: Option<u32>,
}

/// The conservation tables: `Conservation<&mut Tx>` writes, `Conservation<&ReadTx>`
/// reads a snapshot.
pub struct Conservation<T>(pub(super) T);

impl Conservation<&mut Tx<'_>> {
    /// Queues a message for conservation.
    pub fn enqueue(&mut self, mut job: IngestJob) -> Result<u64, StoreError> {
        let id = self.0.next("conservation_queue")?;
        job.id = id;
        let mut table = self.0.table(QUEUE)?;
        table.insert(id, encode(&job)?.as_slice())?;
        Ok(id)
    }

    /// Removes a queued job (only together with recording its package or refusal);
    /// `None` when it was no longer queued.
    pub fn complete(&mut self, id: u64) -> Result<Option<IngestJob>, StoreError> {
        let mut table = self.0.table(QUEUE)?;
        let removed = table.remove(id)?;
        removed.map(|job| decode(job.value())).transpose()
    }

    /// Records a stored package; a package id is recorded once.
    pub fn record_package<T: Serialize>(&mut self, id: &str, record: &T) -> Result<(), StoreError> {
        let mut table = self.0.table(PACKAGES)?;
        if table.get(id)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "package {id} already recorded"
            )));
        }
        table.insert(id, encode(record)?.as_slice())?;
        Ok(())
    }

    /// Records a refused SIP.
    pub fn record_refusal<T: Serialize>(&mut self, id: u64, record: &T) -> Result<(), StoreError> {
        let mut table = self.0.table(REFUSALS)?;
        table.insert(id, encode(record)?.as_slice())?;
        Ok(())
    }

    /// Changes (creating) a mailbox's conservation account.
    pub fn update_account(
        &mut self,
        mailbox: &str,
        change: impl FnOnce(&mut Account),
    ) -> Result<Account, StoreError> {
        let mailbox = AddressKey::new(mailbox);
        let mut table = self.0.table(ACCOUNTS)?;
        let mut account: Account = match table.get(mailbox.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => Account::default(),
        };
        let before = account.used_bytes;
        change(&mut account);
        table.insert(mailbox.as_str(), encode(&account)?.as_slice())?;
        drop(table);
        if account.used_bytes != before {
            let owner = Mailboxes(&mut *self.0).get(mailbox.as_str())?;
            let delta = i128::from(account.used_bytes) - i128::from(before);
            conserved(self.0, owner.as_ref(), delta)?;
        }
        Ok(account)
    }

    /// Records a revocation export (download token → record).
    pub fn record_revocation<T: Serialize>(
        &mut self,
        token: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        let mut table = self.0.table(REVOCATIONS)?;
        table.insert(token, encode(record)?.as_slice())?;
        Ok(())
    }

    /// Records the last audit result (`last` → record).
    pub fn record_audit<T: Serialize>(&mut self, record: &T) -> Result<(), StoreError> {
        let mut table = self.0.table(AUDITS)?;
        table.insert("last", encode(record)?.as_slice())?;
        Ok(())
    }
}

impl Conservation<&ReadTx<'_>> {
    /// Every queued job, oldest first.
    pub fn jobs(&self) -> Result<Vec<IngestJob>, StoreError> {
        self.0.values(QUEUE)
    }

    /// Every package record, by id.
    pub fn packages<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.0.values(PACKAGES)
    }

    /// Every refusal record.
    pub fn refusals<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.0.values(REFUSALS)
    }

    /// A mailbox's conservation account (default when never written).
    pub fn account(&self, mailbox: &str) -> Result<Account, StoreError> {
        let table = self.0.table(ACCOUNTS)?;
        table
            .get(AddressKey::new(mailbox).as_str())?
            .map_or(Ok(Account::default()), |bytes| decode(bytes.value()))
    }

    /// The revocation export recorded under a download token.
    pub fn revocation<T: DeserializeOwned>(&self, token: &str) -> Result<Option<T>, StoreError> {
        let table = self.0.table(REVOCATIONS)?;
        let record = table.get(token)?;
        record.map(|bytes| decode(bytes.value())).transpose()
    }

    /// Every revocation export record.
    pub fn revocations<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.0.values(REVOCATIONS)
    }

    /// The last audit record.
    pub fn last_audit<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        let table = self.0.table(AUDITS)?;
        table
            .get("last")?
            .map(|bytes| decode(bytes.value()))
            .transpose()
    }
}
