//! The changes to mailboxes: creation with the default folders, record updates and the
//! traffic counters, deletion, and the append that files a message within the quota.

use jiff::Timestamp;

use super::Appended;
use super::BY_MESSAGE_ID;
use super::DEFAULT_FOLDERS;
use super::FOLDERS;
use super::Folder;
use super::MAILBOXES;
use super::MESSAGES;
use super::Mailbox;
use super::MailboxState;
use super::Mailboxes;
use super::MessageMeta;
use super::NewMailbox;
use super::SendingLimit;
use super::SendingLimits;
use super::Traffic;
use super::hash_password;
use super::put_record;
use super::uidvalidity_at;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
use crate::store::management::ENTE_MAILBOXES;
use crate::store::management::retally;

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
        let table = MAILBOXES.peek(self.0)?;
        if table.get(address.as_str())?.is_some() {
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
        put_record(self.0, None, &mailbox)?;
        self.0
            .multimap(ENTE_MAILBOXES)?
            .insert(mailbox.profile.ente.as_str(), address.as_str())?;
        let uidvalidity = uidvalidity_at(now);
        let mut folders = FOLDERS.write(self.0, address.as_str())?;
        for name in DEFAULT_FOLDERS {
            let folder = Folder::new(uidvalidity);
            folders.insert(address.folder(name).as_str(), encode(&folder)?.as_slice())?;
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
        let table = MAILBOXES.peek(self.0)?;
        let old: Mailbox = match table.get(address.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::NoSuchMailbox(address.to_string())),
        };
        drop(table);
        let mut mailbox = old.clone();
        change(&mut mailbox);
        put_record(self.0, Some(&old), &mailbox)?;
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

    /// Takes the password away: none opens the mailbox until a new one is set.
    pub fn revoke_password(&mut self, address: &str) -> Result<(), StoreError> {
        // As for a mailbox created without one: not a PHC string.
        self.update(address, |m| m.password_hash = String::new())
            .map(|_| ())
    }

    /// Sets a new password.
    pub fn set_password(&mut self, address: &str, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password)?;
        self.update(address, |m| m.password_hash = hash).map(|_| ())
    }

    /// Deletes a mailbox and its message index (bodies stay until collected).
    pub fn delete(&mut self, address: &str) -> Result<(), StoreError> {
        let address = AddressKey::new(address);
        let mut table = MAILBOXES.write(self.0, address.as_str())?;
        let old: Mailbox = match table.remove(address.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::NoSuchMailbox(address.to_string())),
        };
        drop(table);
        retally(self.0, Some(&old), None)?;
        self.0
            .multimap(ENTE_MAILBOXES)?
            .remove(old.profile.ente.as_str(), address.as_str())?;
        let mut folders = FOLDERS.write(self.0, address.as_str())?;
        let mut messages = MESSAGES.write(self.0, address.as_str())?;
        let prefix = format!("{address}\0");
        let keys: Vec<String> = folders
            .iter()?
            .filter_map(Result::ok)
            .map(|(k, _)| k.value().to_string())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for key in keys {
            folders.remove(key.as_str())?;
            let uids: Vec<u32> = messages
                .range((key.as_str(), 0)..=(key.as_str(), u32::MAX))?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value().1)
                .collect();
            for uid in uids {
                messages.remove((key.as_str(), uid))?;
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
        if let Err(refused) = self.charge(&address, size)? {
            return Ok(refused);
        }
        let key = address.folder(folder);
        let Some((uid, modseq)) = self.next_uid(&address, &key)? else {
            return Err(StoreError::Corrupt(format!(
                "folder {folder} of {address} missing"
            )));
        };
        let meta = MessageMeta {
            uid,
            blob: blob.clone(),
            size,
            flags: flags.to_vec(),
            internal_date,
            modseq,
            message_id: message_id.map(|id| id.trim().to_string()),
        };
        MESSAGES
            .write(self.0, address.as_str())?
            .insert((key.as_str(), uid), meta.to_record()?.as_slice())?;
        if let Some(message_id) = message_id {
            let index_key = format!("{key}\0{}", message_id.trim());
            BY_MESSAGE_ID
                .write(self.0, address.as_str())?
                .insert(index_key.as_str(), uid)?;
        }
        Ok(Appended::Stored { uid })
    }

    /// Counts `size` more bytes against an active mailbox's quota; the refusal instead
    /// when the mailbox cannot take the message.
    fn charge(
        &mut self,
        address: &AddressKey,
        size: u64,
    ) -> Result<Result<(), Appended>, StoreError> {
        let mailboxes = MAILBOXES.peek(self.0)?;
        let old: Mailbox = match mailboxes.get(address.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(Err(Appended::NoMailbox)),
        };
        drop(mailboxes);
        match old.state {
            MailboxState::Active => {}
            MailboxState::Suspended | MailboxState::Pending => {
                return Ok(Err(Appended::Suspended));
            }
            MailboxState::Deleted => return Ok(Err(Appended::NoMailbox)),
        }
        if old.used_bytes.saturating_add(size) > old.quota_bytes {
            return Ok(Err(Appended::OverQuota));
        }
        let mut mailbox = old.clone();
        mailbox.used_bytes = mailbox.used_bytes.saturating_add(size);
        put_record(self.0, Some(&old), &mailbox)?;
        Ok(Ok(()))
    }

    /// Takes the next UID of the folder at `key` and a new MODSEQ: `(uid, modseq)`;
    /// none when the folder does not exist.
    fn next_uid(
        &mut self,
        address: &AddressKey,
        key: &str,
    ) -> Result<Option<(u32, u64)>, StoreError> {
        let mut folders = FOLDERS.write(self.0, address.as_str())?;
        let mut counters: Folder = match folders.get(key)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(None),
        };
        let uid = counters.uidnext;
        counters.uidnext = counters.uidnext.saturating_add(1);
        counters.highest_modseq += 1;
        folders.insert(key, encode(&counters)?.as_slice())?;
        Ok(Some((uid, counters.highest_modseq)))
    }
}
