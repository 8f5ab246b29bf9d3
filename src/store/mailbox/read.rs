//! The reads of mailboxes and their messages, from a snapshot or inside the write
//! transaction that relies on them.

use std::ops::RangeInclusive;

use super::BY_MESSAGE_ID;
use super::Credential;
use super::DUMMY_HASH;
use super::MAILBOXES;
use super::MESSAGES;
use super::Mailbox;
use super::MailboxState;
use super::Mailboxes;
use super::MessageMeta;
use super::verify_argon2;
use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::key::AddressKey;
use crate::store::kv::Table;

impl Mailboxes<&ReadTx<'_>> {
    /// One mailbox.
    pub fn get(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        get_in(&MAILBOXES.read(self.0)?, address)
    }

    /// Every mailbox, by address.
    pub fn list(&self) -> Result<Vec<Mailbox>, StoreError> {
        let table = MAILBOXES.read(self.0)?;
        table
            .iter()?
            .map(|entry| decode(entry?.1.value()))
            .collect()
    }

    /// Whether the password is right. Unknown users take the same time (a dummy hash is
    /// verified), so the two cannot be told apart from outside.
    pub fn verify_password(&self, address: &str, password: &str) -> Result<bool, StoreError> {
        Ok(self.login(address, password)?.is_some())
    }

    /// The credential a right password for an active mailbox opens, as
    /// [`Self::verify_password`] decides.
    pub fn login(&self, address: &str, password: &str) -> Result<Option<Credential>, StoreError> {
        let mailbox = self.get(address)?;
        let hash = mailbox
            .as_ref()
            .map_or(DUMMY_HASH, |m| m.password_hash.as_str());
        if !verify_argon2(password, hash) {
            return Ok(None);
        }
        Ok(mailbox
            .filter(|m| m.state == MailboxState::Active)
            .map(|m| Credential::of(&m.password_hash)))
    }

    /// Whether a login's credential still opens the mailbox: it exists, is active, and
    /// its password is the one the login checked.
    pub fn credential_stands(
        &self,
        address: &str,
        credential: &Credential,
    ) -> Result<bool, StoreError> {
        Ok(self.get(address)?.is_some_and(|m| {
            m.state == MailboxState::Active && Credential::of(&m.password_hash) == *credential
        }))
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
        let table = MESSAGES.read(self.0)?;
        let key = AddressKey::new(address).folder(folder);
        table
            .range((key.as_str(), *uids.start())..=(key.as_str(), *uids.end()))?
            .map(|entry| MessageMeta::from_record(entry?.1.value()))
            .collect()
    }

    /// The bytes of a mailbox's messages flagged `keyword`, in every folder: how much of
    /// its quota a kind of message (the buste di anomalia) fills. Counted afresh, so
    /// expunges, moves and flag changes need no bookkeeping of their own.
    pub fn keyword_bytes(&self, address: &str, keyword: &str) -> Result<u64, StoreError> {
        keyword_bytes_in(&MESSAGES.read(self.0)?, address, keyword)
    }

    /// The UIDs of a folder's messages with this Message-ID.
    pub fn by_message_id(
        &self,
        address: &str,
        folder: &str,
        message_id: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let table = BY_MESSAGE_ID.read(self.0)?;
        let key = format!(
            "{}\0{}",
            AddressKey::new(address).folder(folder),
            message_id.trim()
        );
        let uids = table.get(key.as_str())?;
        Ok(uids.iter().map(|v| v.value()).collect())
    }
}

/// [`Mailboxes::get`] over either kind of transaction's `mailboxes` table.
fn get_in(
    table: &Table<'_, &'static str, &'static [u8]>,
    address: &str,
) -> Result<Option<Mailbox>, StoreError> {
    let address = AddressKey::new(address);
    table
        .get(address.as_str())?
        .map(|bytes| decode(bytes.value()))
        .transpose()
}

/// [`Mailboxes::keyword_bytes`] over either kind of transaction's `messages` table. The
/// keys of one mailbox's folders all start with `address\0`, so they are one range.
fn keyword_bytes_in(
    table: &Table<'_, (&'static str, u32), &'static [u8]>,
    address: &str,
    keyword: &str,
) -> Result<u64, StoreError> {
    let address = AddressKey::new(address);
    let (first, past) = (format!("{address}\0"), format!("{address}\u{1}"));
    let mut total = 0u64;
    for entry in table.range((first.as_str(), 0)..(past.as_str(), 0))? {
        let (_, record) = entry?;
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
        let table = MAILBOXES.peek(self.0)?;
        get_in(&table, address)
    }

    /// [`Mailboxes::keyword_bytes`] inside a write transaction, so a check and the append
    /// that relies on it see the same mailbox.
    pub fn keyword_bytes(&self, address: &str, keyword: &str) -> Result<u64, StoreError> {
        let table = MESSAGES.peek(self.0)?;
        keyword_bytes_in(&table, address, keyword)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use crate::store::Store;
    use crate::store::mailbox::ARCHIVE;
    use crate::store::mailbox::INBOX;
    use crate::store::mailbox::NewMailbox;

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
