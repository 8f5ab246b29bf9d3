//! Mailboxes, their folders and messages, ready for IMAP: UIDVALIDITY, strictly
//! increasing UIDs per folder, flags and keywords, MODSEQ, and a quota per mailbox.
//! Passwords are argon2id hashes; checking one costs the same for unknown users.

mod profile;
mod record;

use std::ops::RangeInclusive;

use argon2::Argon2;
use argon2::PasswordHasher;
use jiff::Timestamp;
use redb::MultimapTableDefinition;
use redb::ReadableTable;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::db;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
pub use crate::store::mailbox::profile::MailboxState;
pub use crate::store::mailbox::profile::MailboxType;
pub use crate::store::mailbox::profile::Profile;
pub use crate::store::mailbox::profile::Request;
pub use crate::store::mailbox::profile::SendingLimit;
pub use crate::store::mailbox::profile::SendingLimits;
pub use crate::store::mailbox::profile::Traffic;
use crate::store::management::ENTE_MAILBOXES;
use crate::store::management::retally;

/// The inbox.
pub const INBOX: &str = "INBOX";
/// Where clients keep what they sent.
pub const SENT: &str = "Sent";
/// The manual conservation folder: what a client files here is conserved.
pub const ARCHIVE: &str = "--ARCHIVIA--";
/// The folders every mailbox has.
pub const DEFAULT_FOLDERS: [&str; 3] = [INBOX, SENT, ARCHIVE];
/// The default quota: 1 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 1024 * 1024 * 1024;

pub(crate) const MAILBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("mailboxes");
pub(crate) const FOLDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("folders");
pub(crate) const MESSAGES: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("messages");
pub(crate) const BY_MESSAGE_ID: MultimapTableDefinition<&str, u32> =
    MultimapTableDefinition::new("messages_by_id");

/// A mailbox record.
#[derive(Clone, Deserialize, Eq, PartialEq, Serialize)]
pub struct Mailbox {
    /// The address, lower-cased.
    pub address: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Active or suspended.
    pub state: MailboxState,
    /// The quota.
    pub quota_bytes: u64,
    /// Bytes stored.
    pub used_bytes: u64,
    /// The receipt type asked for when a message has no `X-TipoRicevuta`.
    pub receipt_type: String,
    /// The conservation rule (`all-inbound`, `envelopes`, `receipts`, `off`).
    pub conservation: String,
    /// When it was created.
    pub created: Timestamp,
    /// Holder, ente, type, contract.
    #[serde(default)]
    pub profile: Profile,
    /// Messages in and out.
    #[serde(default)]
    pub traffic: Traffic,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("address", &self.address)
            .field("state", &self.state)
            .field("quota_bytes", &self.quota_bytes)
            .field("used_bytes", &self.used_bytes)
            .field("receipt_type", &self.receipt_type)
            .field("conservation", &self.conservation)
            .finish_non_exhaustive()
    }
}

/// A folder's IMAP counters.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Folder {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The next UID.
    pub uidnext: u32,
    /// The highest MODSEQ given out.
    pub highest_modseq: u64,
    /// Messages from this UID on are `\Recent` to the next session that selects the
    /// folder (RFC 3501 §2.3.2); that session moves the mark to `uidnext`.
    #[serde(default)]
    pub first_recent_uid: u32,
    /// Whether the user subscribed to it (LSUB, LIST (SUBSCRIBED)).
    #[serde(default = "subscribed_by_default")]
    pub subscribed: bool,
}

fn subscribed_by_default() -> bool {
    true
}

impl Folder {
    /// A new, empty folder.
    pub fn new(uidvalidity: u32) -> Folder {
        Folder {
            uidvalidity,
            uidnext: 1,
            highest_modseq: 0,
            first_recent_uid: 1,
            subscribed: true,
        }
    }
}

/// One stored message.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct MessageMeta {
    /// Its UID in the folder.
    pub uid: u32,
    /// The body.
    pub blob: BlobId,
    /// Its size in bytes.
    pub size: u64,
    /// Flags and keywords (`\Seen`, `$PecRicevuta`, …).
    pub flags: Vec<String>,
    /// When it arrived.
    pub internal_date: Timestamp,
    /// Its MODSEQ.
    pub modseq: u64,
    /// Its Message-ID, as indexed (so the index entry goes when the message does).
    #[serde(default)]
    pub message_id: Option<String>,
}

/// The outcome of an append: stored, or why not.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Appended {
    /// Stored with this UID.
    Stored {
        /// The new UID.
        uid: u32,
    },
    /// No such mailbox.
    NoMailbox,
    /// The mailbox is suspended.
    Suspended,
    /// The quota would be exceeded.
    OverQuota,
}

/// Settings of a new mailbox.
#[derive(Clone, Debug)]
pub struct NewMailbox {
    /// The quota.
    pub quota_bytes: u64,
    /// Default receipt type.
    pub receipt_type: String,
    /// Conservation rule.
    pub conservation: String,
    /// Active at once, or waiting for activation.
    pub state: MailboxState,
    /// Holder, ente, type.
    pub profile: Profile,
}

impl Default for NewMailbox {
    fn default() -> Self {
        NewMailbox {
            quota_bytes: DEFAULT_QUOTA_BYTES,
            receipt_type: "completa".into(),
            conservation: "off".into(),
            state: MailboxState::Active,
            profile: Profile::default(),
        }
    }
}

/// Writes a mailbox record and moves the report counters with it.
pub(crate) fn put_record(
    tx: &redb::WriteTransaction,
    old: Option<&Mailbox>,
    new: &Mailbox,
) -> Result<(), StoreError> {
    tx.open_table(MAILBOXES)
        .map_err(db)?
        .insert(new.address.as_str(), encode(new)?.as_slice())
        .map_err(db)?;
    retally(tx, old, Some(new))
}

/// Mailboxes and the messages filed in them: `Mailboxes<&mut Tx>` changes them (and
/// reads what the same transaction relies on), `Mailboxes<&ReadTx>` reads a snapshot.
pub struct Mailboxes<T>(pub(super) T);

impl Mailboxes<&mut Tx<'_>> {
    /// Creates a mailbox with its default folders.
    pub fn create(
        &mut self,
        address: &str,
        password: &str,
        settings: &NewMailbox,
        now: Timestamp,
    ) -> Result<Mailbox, StoreError> {
        let hash = hash_password(password)?;
        self.create_with_hash(address, hash, settings, now)
    }

    /// Creates a mailbox no password opens until one is set ([`Mailboxes::set_password`]):
    /// one waiting for its holder to choose it through a one-time link.
    pub fn create_without_password(
        &mut self,
        address: &str,
        settings: &NewMailbox,
        now: Timestamp,
    ) -> Result<Mailbox, StoreError> {
        // Not a PHC string: no password verifies against it.
        self.create_with_hash(address, String::new(), settings, now)
    }

    fn create_with_hash(
        &mut self,
        address: &str,
        password_hash: String,
        settings: &NewMailbox,
        now: Timestamp,
    ) -> Result<Mailbox, StoreError> {
        let address = AddressKey::new(address);
        let table = self.0.inner.open_table(MAILBOXES).map_err(db)?;
        if table.get(address.as_str()).map_err(db)?.is_some() {
            return Err(StoreError::MailboxExists(address.to_string()));
        }
        drop(table);
        let mailbox = Mailbox {
            address: address.to_string(),
            password_hash,
            state: settings.state,
            quota_bytes: settings.quota_bytes,
            used_bytes: 0,
            receipt_type: settings.receipt_type.clone(),
            conservation: settings.conservation.clone(),
            created: now,
            profile: settings.profile.clone(),
            traffic: Traffic::default(),
        };
        put_record(self.0.inner, None, &mailbox)?;
        self.0
            .inner
            .open_multimap_table(ENTE_MAILBOXES)
            .map_err(db)?
            .insert(mailbox.profile.ente.as_str(), address.as_str())
            .map_err(db)?;
        let uidvalidity = uidvalidity_at(now);
        let mut folders = self.0.inner.open_table(FOLDERS).map_err(db)?;
        for name in DEFAULT_FOLDERS {
            let folder = Folder::new(uidvalidity);
            folders
                .insert(address.folder(name).as_str(), encode(&folder)?.as_slice())
                .map_err(db)?;
        }
        Ok(mailbox)
    }

    /// Changes a mailbox record.
    pub fn update(
        &mut self,
        address: &str,
        change: impl FnOnce(&mut Mailbox),
    ) -> Result<Mailbox, StoreError> {
        let address = AddressKey::new(address);
        let table = self.0.inner.open_table(MAILBOXES).map_err(db)?;
        let old: Mailbox = match table.get(address.as_str()).map_err(db)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::NoSuchMailbox(address.to_string())),
        };
        drop(table);
        let mut mailbox = old.clone();
        change(&mut mailbox);
        put_record(self.0.inner, Some(&old), &mailbox)?;
        Ok(mailbox)
    }

    /// Counts one certified message delivered to the mailbox.
    pub fn count_received(&mut self, address: &str) -> Result<(), StoreError> {
        self.update(address, |m| {
            m.traffic.received = m.traffic.received.saturating_add(1)
        })
        .map(|_| ())
    }

    /// Counts one message the mailbox sends to `recipients` recipients on `day`, unless
    /// it would pass one of `limits`: then nothing is counted and the limit is returned.
    pub fn count_sent(
        &mut self,
        address: &str,
        recipients: usize,
        day: jiff::civil::Date,
        limits: SendingLimits,
    ) -> Result<Result<(), SendingLimit>, StoreError> {
        let SendingLimits {
            max_recipients,
            max_per_day,
        } = limits;
        if recipients > max_recipients {
            return Ok(Err(SendingLimit::Recipients {
                limit: max_recipients,
            }));
        }
        let Some(mailbox) = self.get(address)? else {
            return Err(StoreError::NoSuchMailbox(address.to_string()));
        };
        let today = match mailbox.traffic.day {
            Some(counted) if counted == day => mailbox.traffic.sent_that_day,
            _ => 0,
        };
        if today >= max_per_day {
            return Ok(Err(SendingLimit::Daily { limit: max_per_day }));
        }
        self.update(address, |m| {
            m.traffic.day = Some(day);
            m.traffic.sent_that_day = today + 1;
            m.traffic.sent = m.traffic.sent.saturating_add(1);
        })?;
        Ok(Ok(()))
    }

    /// Sets a new password.
    pub fn set_password(&mut self, address: &str, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password)?;
        self.update(address, |m| m.password_hash = hash).map(|_| ())
    }

    /// Deletes a mailbox and its message index (bodies stay until collected).
    pub fn delete(&mut self, address: &str) -> Result<(), StoreError> {
        let address = AddressKey::new(address);
        let mut table = self.0.inner.open_table(MAILBOXES).map_err(db)?;
        let old: Mailbox = match table.remove(address.as_str()).map_err(db)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::NoSuchMailbox(address.to_string())),
        };
        drop(table);
        retally(self.0.inner, Some(&old), None)?;
        self.0
            .inner
            .open_multimap_table(ENTE_MAILBOXES)
            .map_err(db)?
            .remove(old.profile.ente.as_str(), address.as_str())
            .map_err(db)?;
        let mut folders = self.0.inner.open_table(FOLDERS).map_err(db)?;
        let mut messages = self.0.inner.open_table(MESSAGES).map_err(db)?;
        let prefix = format!("{address}\0");
        let keys: Vec<String> = folders
            .iter()
            .map_err(db)?
            .filter_map(Result::ok)
            .map(|(k, _)| k.value().to_string())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for key in keys {
            folders.remove(key.as_str()).map_err(db)?;
            let uids: Vec<u32> = messages
                .range((key.as_str(), 0)..=(key.as_str(), u32::MAX))
                .map_err(db)?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value().1)
                .collect();
            for uid in uids {
                messages.remove((key.as_str(), uid)).map_err(db)?;
            }
        }
        Ok(())
    }

    /// Appends a message to a folder, checking state and quota.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        address: &str,
        folder: &str,
        blob: &BlobId,
        size: u64,
        flags: &[String],
        internal_date: Timestamp,
        message_id: Option<&str>,
    ) -> Result<Appended, StoreError> {
        let address = AddressKey::new(address);
        let mailboxes = self.0.inner.open_table(MAILBOXES).map_err(db)?;
        let old: Mailbox = match mailboxes.get(address.as_str()).map_err(db)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(Appended::NoMailbox),
        };
        drop(mailboxes);
        match old.state {
            MailboxState::Active => {}
            MailboxState::Suspended | MailboxState::Pending => return Ok(Appended::Suspended),
            MailboxState::Deleted => return Ok(Appended::NoMailbox),
        }
        if old.used_bytes.saturating_add(size) > old.quota_bytes {
            return Ok(Appended::OverQuota);
        }
        let mut mailbox = old.clone();
        mailbox.used_bytes = mailbox.used_bytes.saturating_add(size);
        put_record(self.0.inner, Some(&old), &mailbox)?;

        let key = address.folder(folder);
        let mut folders = self.0.inner.open_table(FOLDERS).map_err(db)?;
        let mut counters: Folder = match folders.get(key.as_str()).map_err(db)? {
            Some(bytes) => decode(bytes.value())?,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "folder {folder} of {address} missing"
                )));
            }
        };
        let uid = counters.uidnext;
        counters.uidnext = counters.uidnext.saturating_add(1);
        counters.highest_modseq += 1;
        folders
            .insert(key.as_str(), encode(&counters)?.as_slice())
            .map_err(db)?;
        drop(folders);

        let meta = MessageMeta {
            uid,
            blob: blob.clone(),
            size,
            flags: flags.to_vec(),
            internal_date,
            modseq: counters.highest_modseq,
            message_id: message_id.map(|id| id.trim().to_string()),
        };
        self.0
            .inner
            .open_table(MESSAGES)
            .map_err(db)?
            .insert((key.as_str(), uid), meta.to_record()?.as_slice())
            .map_err(db)?;
        if let Some(message_id) = message_id {
            let index_key = format!("{key}\0{}", message_id.trim());
            self.0
                .inner
                .open_multimap_table(BY_MESSAGE_ID)
                .map_err(db)?
                .insert(index_key.as_str(), uid)
                .map_err(db)?;
        }
        Ok(Appended::Stored { uid })
    }
}

impl Mailboxes<&ReadTx<'_>> {
    /// One mailbox.
    pub fn get(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        let table = match self.0.inner.open_table(MAILBOXES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(db(error)),
        };
        let address = AddressKey::new(address);
        table
            .get(address.as_str())
            .map_err(db)?
            .map(|bytes| decode(bytes.value()))
            .transpose()
    }

    /// Every mailbox, by address.
    pub fn list(&self) -> Result<Vec<Mailbox>, StoreError> {
        self.0.values(MAILBOXES)
    }

    /// Whether the password is right. Unknown users take the same time (a dummy hash is
    /// verified), so the two cannot be told apart from outside.
    pub fn verify_password(&self, address: &str, password: &str) -> Result<bool, StoreError> {
        let mailbox = self.get(address)?;
        let hash = mailbox
            .as_ref()
            .map_or(DUMMY_HASH, |m| m.password_hash.as_str());
        let ok = verify_argon2(password, hash);
        Ok(ok && mailbox.is_some_and(|m| m.state == MailboxState::Active))
    }

    /// A folder's messages, by UID.
    pub fn messages(&self, address: &str, folder: &str) -> Result<Vec<MessageMeta>, StoreError> {
        self.messages_in(address, folder, 0..=u32::MAX)
    }

    /// A folder's messages whose UIDs are in `uids`, by UID.
    pub fn messages_in(
        &self,
        address: &str,
        folder: &str,
        uids: RangeInclusive<u32>,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        let table = match self.0.inner.open_table(MESSAGES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(db(error)),
        };
        let key = AddressKey::new(address).folder(folder);
        table
            .range((key.as_str(), *uids.start())..=(key.as_str(), *uids.end()))
            .map_err(db)?
            .map(|entry| MessageMeta::from_record(entry.map_err(db)?.1.value()))
            .collect()
    }

    /// The bytes of a mailbox's messages flagged `keyword`, in every folder: how much of
    /// its quota a kind of message (the buste di anomalia) fills. Counted afresh, so
    /// expunges, moves and flag changes need no bookkeeping of their own.
    pub fn keyword_bytes(&self, address: &str, keyword: &str) -> Result<u64, StoreError> {
        match self.0.inner.open_table(MESSAGES) {
            Ok(table) => keyword_bytes_in(&table, address, keyword),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(error) => Err(db(error)),
        }
    }

    /// The UIDs of a folder's messages with this Message-ID.
    pub fn by_message_id(
        &self,
        address: &str,
        folder: &str,
        message_id: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let table = match self.0.inner.open_multimap_table(BY_MESSAGE_ID) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(db(error)),
        };
        let key = format!(
            "{}\0{}",
            AddressKey::new(address).folder(folder),
            message_id.trim()
        );
        table
            .get(key.as_str())
            .map_err(db)?
            .map(|v| Ok(v.map_err(db)?.value()))
            .collect()
    }
}

/// The room taken for argon2's working memory: more than glibc's largest dynamic mmap
/// threshold (32 MiB on 64-bit), so malloc always maps it apart and unmaps it when it
/// is freed, without raising the threshold (which would keep every mid-size allocation
/// of the process in its arenas, docs/performance.md). Only the blocks a check uses are
/// ever touched.
const ARGON2_ROOM_BLOCKS: usize = 33 * 1024;

thread_local! {
    /// argon2's working memory, kept by a password checker thread between checks and
    /// given back by [`release_argon2_memory`] once checks stop coming: taking it anew
    /// for every check costs the page faults of 19 MiB each time.
    static ARGON2_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Gives this thread's argon2 working memory back to the system (the password
/// checkers call it when they have been idle for a moment).
pub fn release_argon2_memory() {
    ARGON2_BLOCKS.with(|memory| *memory.borrow_mut() = Vec::new());
}

/// Checks a password against a PHC string, with this thread's kept working memory;
/// the comparison is constant-time.
pub(crate) fn verify_argon2(password: &str, hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        argon2::Params::try_from(&parsed),
        argon2::Algorithm::try_from(parsed.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| argon2::Version::try_from(v).ok())
        .unwrap_or_default();
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.as_bytes().len()];
    let hashed = ARGON2_BLOCKS.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            let mut room = Vec::with_capacity(blocks.max(ARGON2_ROOM_BLOCKS));
            room.resize(blocks, argon2::Block::default());
            *memory = room;
        }
        argon2.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        )
    });
    hashed.is_ok() && openssl::memcmp::eq(&out, expected.as_bytes())
}

#[cfg(test)]
pub(crate) const DUMMY_HASH_FOR_TESTS: &str = DUMMY_HASH;

/// An argon2id hash of a throwaway password, verified for unknown users.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Zd6ZGm6mYnMeAnc1JGT1ZcgfWn9X8rMGeY2AS6cwHaE";

pub(crate) fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt).map_err(|_| StoreError::Password)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| StoreError::Password)
}

/// [`Mailboxes::keyword_bytes`] over either kind of transaction's `messages` table. The
/// keys of one mailbox's folders all start with `address\0`, so they are one range.
fn keyword_bytes_in(
    table: &impl ReadableTable<(&'static str, u32), &'static [u8]>,
    address: &str,
    keyword: &str,
) -> Result<u64, StoreError> {
    let address = AddressKey::new(address);
    let (first, past) = (format!("{address}\0"), format!("{address}\u{1}"));
    let mut total = 0u64;
    for entry in table
        .range((first.as_str(), 0)..(past.as_str(), 0))
        .map_err(db)?
    {
        let (_, record) = entry.map_err(db)?;
        if let Some(size) = MessageMeta::size_if_flagged(record.value(), keyword)? {
            total = total.saturating_add(size);
        }
    }
    Ok(total)
}

impl Mailboxes<&mut Tx<'_>> {
    /// One mailbox, read inside a write transaction (the conservation hook reads the
    /// mailbox's rule in the same transaction as the append).
    pub fn get(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        let table = self.0.inner.open_table(MAILBOXES).map_err(db)?;
        let address = AddressKey::new(address);
        table
            .get(address.as_str())
            .map_err(db)?
            .map(|bytes| decode(bytes.value()))
            .transpose()
    }

    /// [`Mailboxes::keyword_bytes`] inside a write transaction, so a check and the append
    /// that relies on it see the same mailbox.
    pub fn keyword_bytes(&self, address: &str, keyword: &str) -> Result<u64, StoreError> {
        let table = self.0.inner.open_table(MESSAGES).map_err(db)?;
        keyword_bytes_in(&table, address, keyword)
    }
}

/// A UIDVALIDITY from the clock: new folders never reuse an old value.
pub(crate) fn uidvalidity_at(now: Timestamp) -> u32 {
    u32::try_from(now.as_second().rem_euclid(i64::from(u32::MAX)))
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_bytes_of_a_keyword_are_counted_over_every_folder_of_one_mailbox() {
        let now: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = store.blobs().put(b"Subject: x\r\n\r\nx\r\n").unwrap();
        let anomaly = ["$PecAnomalia".to_string()];
        let (bob, neighbour) = ("bob@pec-b.test", "bob@pec-b.test.evil");
        store
            .write(|tx| {
                for user in [bob, neighbour] {
                    tx.mailboxes()
                        .create(user, "segreta", &NewMailbox::default(), now)?;
                }
                tx.mailboxes()
                    .append(bob, INBOX, &blob, 100, &anomaly, now, None)?;
                tx.mailboxes()
                    .append(bob, INBOX, &blob, 7, &["$PecBusta".into()], now, None)?;
                tx.mailboxes().append(
                    bob,
                    ARCHIVE,
                    &blob,
                    20,
                    &["$pecanomalia".into()],
                    now,
                    None,
                )?;
                tx.mailboxes()
                    .append(neighbour, INBOX, &blob, 1_000, &anomaly, now, None)?;
                assert_eq!(
                    tx.mailboxes()
                        .keyword_bytes("BOB@pec-b.test", "$PecAnomalia")?,
                    120
                );
                Ok(())
            })
            .unwrap();
        let count = |user| {
            store
                .read(|tx| tx.mailboxes().keyword_bytes(user, "$PecAnomalia"))
                .unwrap()
        };
        assert_eq!(count(bob), 120);
        assert_eq!(count(neighbour), 1_000);
        assert_eq!(count("nobody@pec-b.test"), 0);
        // Expunged, it no longer counts: nothing to keep in step.
        store
            .write(|tx| tx.folders().expunge(bob, INBOX, &[1]))
            .unwrap();
        assert_eq!(count(bob), 20);
    }
}
