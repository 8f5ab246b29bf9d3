//! What IMAP does to folders and messages beyond delivery: folders created, renamed and
//! deleted by the user, subscriptions, flag changes with MODSEQ (RFC 7162), expunge,
//! copy and move (RFC 6851). Every change bumps the folder's HIGHESTMODSEQ, so one read
//! of the counters tells a session whether anything changed since it last looked.

use jiff::Timestamp;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
use crate::store::kv::OrderedKey;
use crate::store::kv::Table;
use crate::store::mailbox::Appended;
use crate::store::mailbox::BY_MESSAGE_ID;
use crate::store::mailbox::FOLDERS;
use crate::store::mailbox::Folder;
use crate::store::mailbox::MAILBOXES;
use crate::store::mailbox::MESSAGES;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MessageMeta;
use crate::store::mailbox::put_record;
use crate::store::mailbox::uidvalidity_at;
use crate::store::signal::MailboxTable;

/// The last UIDVALIDITY each mailbox gave a folder it created, so the next is above it
/// even within the same second (RFC 3501 §2.3.1.1: a folder deleted and created again
/// must not reuse the value its UIDs were valid under).
const LAST_UIDVALIDITY: MailboxTable<&str, u32> = MailboxTable::new("last_uidvalidity");

/// How STORE changes flags (RFC 3501 §6.4.6).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FlagChange {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// The result of a STORE on one message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Stored {
    /// Changed (or unchanged because already so); the message as it is now.
    Done(MessageMeta),
    /// `UNCHANGEDSINCE` failed: the message changed after the client's MODSEQ.
    Modified(MessageMeta),
    /// The message is gone.
    Missing,
}

/// The result of a COPY or MOVE.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Copied {
    /// Copied: `(source UID, new UID)` pairs and the target's UIDVALIDITY.
    Done {
        /// The target folder's UIDVALIDITY (COPYUID, RFC 4315).
        uidvalidity: u32,
        /// Source → target UIDs.
        uids: Vec<(u32, u32)>,
    },
    /// The target folder does not exist.
    NoFolder,
    /// The mailbox quota would be exceeded.
    OverQuota,
}

/// Folders and their messages: `Folders<&mut Tx>` changes them, `Folders<&ReadTx>`
/// reads a snapshot.
pub struct Folders<T>(pub(super) T);

impl Folders<&ReadTx<'_>> {
    /// The folders of a mailbox, by name.
    pub fn list(&self, address: &str) -> Result<Vec<(String, Folder)>, StoreError> {
        folders_in(&FOLDERS.read(self.0)?, &AddressKey::new(address))
    }

    /// One folder's counters.
    pub fn get(&self, address: &str, name: &str) -> Result<Option<Folder>, StoreError> {
        let key = AddressKey::new(address).folder(name);
        get_decoded(&FOLDERS.read(self.0)?, key.as_str())
    }

    /// One message.
    pub fn message(
        &self,
        address: &str,
        folder: &str,
        uid: u32,
    ) -> Result<Option<MessageMeta>, StoreError> {
        let key = AddressKey::new(address).folder(folder);
        let table = MESSAGES.read(self.0)?;
        table
            .get((key.as_str(), uid))?
            .map(|bytes| MessageMeta::from_record(bytes.value()))
            .transpose()
    }
}

impl Folders<&mut Tx<'_>> {
    /// One message, as this transaction sees it.
    pub fn message(
        &self,
        address: &str,
        folder: &str,
        uid: u32,
    ) -> Result<Option<MessageMeta>, StoreError> {
        ReadTxOf(self.0).message(&AddressKey::new(address), folder, uid)
    }

    /// Creates a folder; `false` when it already exists.
    pub fn create(
        &mut self,
        address: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = AddressKey::new(address).folder(name);
        let folders = FOLDERS.peek(self.0)?;
        if folders.get(key.as_str())?.is_some() {
            return Ok(false);
        }
        drop(folders);
        let mut folder = Folder::new(self.fresh_uidvalidity(address, now)?);
        // Subscribing is the client's choice (RFC 3501 §6.3.6).
        folder.subscribed = false;
        FOLDERS
            .write(self.0, address)?
            .insert(key.as_str(), encode(&folder)?.as_slice())?;
        Ok(true)
    }

    /// A UIDVALIDITY for a folder made now: the clock's second, or one above the last
    /// this mailbox gave when that is not below it.
    fn fresh_uidvalidity(&mut self, address: &str, now: Timestamp) -> Result<u32, StoreError> {
        let key = AddressKey::new(address);
        let mut table = LAST_UIDVALIDITY.write(self.0, key.as_str())?;
        let last = table.get(key.as_str())?.map_or(0, |value| value.value());
        let fresh = uidvalidity_at(now).max(last.checked_add(1).unwrap_or(1));
        table.insert(key.as_str(), fresh)?;
        Ok(fresh)
    }

    /// Deletes a folder and its messages (their bytes leave the quota); `false` when
    /// there is no such folder.
    pub fn delete(&mut self, address: &str, name: &str) -> Result<bool, StoreError> {
        let address = AddressKey::new(address);
        let key = address.folder(name);
        let removed: Option<Folder> = match FOLDERS
            .write(self.0, address.as_str())?
            .remove(key.as_str())?
        {
            Some(bytes) => Some(decode(bytes.value())?),
            None => None,
        };
        let Some(removed) = removed else {
            return Ok(false);
        };
        self.keep_subscription(&address, &key, &removed)?;
        let metas = self.take_messages(&address, &key, None)?;
        self.release(&address, &metas)?;
        Ok(true)
    }

    /// Renames a folder and the folders below it (`/` hierarchy), keeping UIDs and
    /// UIDVALIDITY. Renaming INBOX moves its messages and leaves INBOX empty
    /// (RFC 3501 §6.3.5). `false` when the source is missing or the target exists.
    pub fn rename(
        &mut self,
        address: &str,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let address = AddressKey::new(address);
        let existing = ReadTxOf(self.0).folders(&address)?;
        if !existing.iter().any(|(n, _)| n == from) || existing.iter().any(|(n, _)| n == to) {
            return Ok(false);
        }
        let child_prefix = format!("{from}/");
        let moves: Vec<(String, String, Folder)> = existing
            .into_iter()
            .filter(|(n, _)| n == from || (from != "INBOX" && n.starts_with(&child_prefix)))
            .map(|(n, f)| {
                let target = format!("{to}{}", &n[from.len()..]);
                (n, target, f)
            })
            .collect();
        for (old, new, folder) in moves {
            let old_key = address.folder(&old);
            let new_key = address.folder(&new);
            let metas = self.take_messages(&address, &old_key, None)?;
            let fresh = match old.as_str() {
                "INBOX" => self.fresh_uidvalidity(address.as_str(), now)?,
                _ => folder.uidvalidity,
            };
            let mut folders = FOLDERS.write(self.0, address.as_str())?;
            if old == "INBOX" {
                // INBOX stays, empty, with its counters; the target is a new folder.
                let mut target = Folder::new(fresh);
                target.uidnext = folder.uidnext;
                target.highest_modseq = folder.highest_modseq;
                let mut inbox = folder.clone();
                inbox.highest_modseq += 1;
                folders.insert(old_key.as_str(), encode(&inbox)?.as_slice())?;
                folders.insert(new_key.as_str(), encode(&target)?.as_slice())?;
            } else {
                folders.remove(old_key.as_str())?;
                folders.insert(new_key.as_str(), encode(&folder)?.as_slice())?;
            }
            drop(folders);
            self.move_subscription(&address, &old_key, &new_key)?;
            let mut messages = MESSAGES.write(self.0, address.as_str())?;
            let mut index = BY_MESSAGE_ID.write(self.0, address.as_str())?;
            for meta in &metas {
                messages.insert((new_key.as_str(), meta.uid), meta.to_record()?.as_slice())?;
                if let Some(id) = &meta.message_id {
                    index.remove(format!("{old_key}\0{id}").as_str(), meta.uid)?;
                    index.insert(format!("{new_key}\0{id}").as_str(), meta.uid)?;
                }
            }
        }
        Ok(true)
    }

    /// Claims the `\Recent` messages for one session (RFC 3501 §2.3.2: a message is
    /// recent to one session only): those from the folder's mark up to `end` (at most
    /// `uidnext`; all of them when `None`), after which the mark stands at `end`.
    /// Returns the UIDs claimed, an empty range when another session claimed them first,
    /// or `None` when there is no such folder.
    pub fn claim_recent(
        &mut self,
        address: &str,
        name: &str,
        end: Option<u32>,
    ) -> Result<Option<std::ops::Range<u32>>, StoreError> {
        let mut claimed = None;
        self.change_folder(address, name, |f| {
            let first = f.first_recent_uid.max(1);
            let end = end.map_or(f.uidnext, |end| end.min(f.uidnext));
            claimed = Some(first..end.max(first));
            f.first_recent_uid = end.max(first);
        })?;
        Ok(claimed)
    }

    /// Changes one message's flags; see [`Folders::store_flags_many`].
    pub fn store_flags(
        &mut self,
        address: &str,
        folder: &str,
        uid: u32,
        change: FlagChange,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<Stored, StoreError> {
        let (mut results, _) =
            self.store_flags_many(address, folder, &[uid], change, flags, unchanged_since)?;
        Ok(results.pop().unwrap_or(Stored::Missing))
    }

    /// Changes the flags of several messages of a folder. Those that change all get one
    /// new MODSEQ, above every earlier one (RFC 7162 §3.1.3); `UNCHANGEDSINCE` refuses
    /// messages changed after it. Also returns the folder's HIGHESTMODSEQ before and
    /// after, so a session can tell whether anyone else changed the folder meanwhile.
    pub fn store_flags_many(
        &mut self,
        address: &str,
        folder: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<Stored>, (u64, u64)), StoreError> {
        let address = AddressKey::new(address);
        let key = address.folder(folder);
        let before = ReadTxOf(self.0)
            .folder(&address, folder)?
            .map_or(0, |f| f.highest_modseq);
        let messages = MESSAGES.peek(self.0)?;
        let mut results = Vec::with_capacity(uids.len());
        let mut changed = Vec::new();
        for &uid in uids {
            let meta: MessageMeta = match messages.get((key.as_str(), uid))? {
                Some(bytes) => MessageMeta::from_record(bytes.value())?,
                None => {
                    results.push(Stored::Missing);
                    continue;
                }
            };
            if unchanged_since.is_some_and(|since| meta.modseq > since) {
                results.push(Stored::Modified(meta));
                continue;
            }
            let updated = apply(&meta.flags, change, flags);
            if same_set(&updated, &meta.flags) {
                results.push(Stored::Done(meta));
            } else {
                changed.push(results.len());
                let mut meta = meta;
                meta.flags = updated;
                results.push(Stored::Done(meta));
            }
        }
        if changed.is_empty() {
            return Ok((results, (before, before)));
        }
        drop(messages);
        let modseq = self.bump_modseq(&address, &key)?;
        let mut messages = MESSAGES.write(self.0, address.as_str())?;
        for index in changed {
            if let Some(Stored::Done(meta)) = results.get_mut(index) {
                meta.modseq = modseq;
                messages.insert((key.as_str(), meta.uid), meta.to_record()?.as_slice())?;
            }
        }
        Ok((results, (before, modseq)))
    }

    /// Removes messages for good; their bytes leave the quota. Returns the UIDs that
    /// were there.
    pub fn expunge(
        &mut self,
        address: &str,
        folder: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>, StoreError> {
        let address = AddressKey::new(address);
        let key = address.folder(folder);
        let metas = self.take_messages(&address, &key, Some(uids))?;
        if !metas.is_empty() {
            self.bump_modseq(&address, &key)?;
        }
        self.release(&address, &metas)?;
        Ok(metas.iter().map(|m| m.uid).collect())
    }

    /// Copies messages to another folder of the same mailbox, flags and internal date
    /// kept, each under a new UID, within the quota.
    pub fn copy(
        &mut self,
        address: &str,
        from: &str,
        to: &str,
        uids: &[u32],
    ) -> Result<Copied, StoreError> {
        let key = AddressKey::new(address);
        let Some(target) = ReadTxOf(self.0).folder(&key, to)? else {
            return Ok(Copied::NoFolder);
        };
        let mut pairs = Vec::with_capacity(uids.len());
        for &uid in uids {
            let Some(meta) = ReadTxOf(self.0).message(&key, from, uid)? else {
                continue;
            };
            let flags: Vec<String> = meta
                .flags
                .iter()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .cloned()
                .collect();
            match self.0.mailboxes().append(
                address,
                to,
                &meta.blob,
                meta.size,
                &flags,
                meta.internal_date,
                meta.message_id.as_deref(),
            )? {
                Appended::Stored { uid: new } => pairs.push((uid, new)),
                Appended::OverQuota => return Ok(Copied::OverQuota),
                Appended::NoMailbox | Appended::Suspended => {
                    return Err(StoreError::NoSuchMailbox(address.to_string()));
                }
            }
        }
        Ok(Copied::Done {
            uidvalidity: target.uidvalidity,
            uids: pairs,
        })
    }

    /// Removes the messages of a folder key (all, or those in `only`), with their
    /// Message-ID index entries, and returns them.
    fn take_messages(
        &mut self,
        address: &AddressKey,
        key: &str,
        only: Option<&[u32]>,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        let mut messages = MESSAGES.write(self.0, address.as_str())?;
        let uids: Vec<u32> = match only {
            Some(uids) => uids.to_vec(),
            None => messages
                .range((key, 0)..=(key, u32::MAX))?
                .map(|entry| Ok(entry?.0.value().1))
                .collect::<Result<_, StoreError>>()?,
        };
        let mut taken = Vec::with_capacity(uids.len());
        for uid in uids {
            if let Some(bytes) = messages.remove((key, uid))? {
                taken.push(MessageMeta::from_record(bytes.value())?);
            }
        }
        drop(messages);
        let mut index = BY_MESSAGE_ID.write(self.0, address.as_str())?;
        for meta in &taken {
            if let Some(id) = &meta.message_id {
                index.remove(format!("{key}\0{id}").as_str(), meta.uid)?;
            }
        }
        Ok(taken)
    }

    /// Gives the bytes of removed messages back to the mailbox quota.
    fn release(&mut self, address: &AddressKey, metas: &[MessageMeta]) -> Result<(), StoreError> {
        let freed: u64 = metas.iter().map(|m| m.size).sum();
        if freed == 0 {
            return Ok(());
        }
        let mailboxes = MAILBOXES.peek(self.0)?;
        let old: Mailbox = match mailboxes.get(address.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(()),
        };
        drop(mailboxes);
        let mut mailbox = old.clone();
        mailbox.used_bytes = mailbox.used_bytes.saturating_sub(freed);
        put_record(self.0, Some(&old), &mailbox)
    }

    fn bump_modseq(&mut self, address: &AddressKey, key: &str) -> Result<u64, StoreError> {
        let mut folders = FOLDERS.write(self.0, address.as_str())?;
        let mut folder: Folder = match folders.get(key)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Err(StoreError::Corrupt(format!("folder {key:?} missing"))),
        };
        folder.highest_modseq += 1;
        folders.insert(key, encode(&folder)?.as_slice())?;
        Ok(folder.highest_modseq)
    }

    fn change_folder(
        &mut self,
        address: &str,
        name: &str,
        change: impl FnOnce(&mut Folder),
    ) -> Result<Option<Folder>, StoreError> {
        let key = AddressKey::new(address).folder(name);
        let mut folders = FOLDERS.write(self.0, address)?;
        let mut folder: Folder = match folders.get(key.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(None),
        };
        change(&mut folder);
        folders.insert(key.as_str(), encode(&folder)?.as_slice())?;
        Ok(Some(folder))
    }
}

/// Reads through a write transaction (it sees its own writes), with the same code as
/// [`ReadTx`].
struct ReadTxOf<'t, 'a>(&'t Tx<'a>);

impl ReadTxOf<'_, '_> {
    fn folders(&self, address: &AddressKey) -> Result<Vec<(String, Folder)>, StoreError> {
        folders_in(&FOLDERS.peek(self.0)?, address)
    }

    fn folder(&self, address: &AddressKey, name: &str) -> Result<Option<Folder>, StoreError> {
        let key = address.folder(name);
        get_decoded(&FOLDERS.peek(self.0)?, key.as_str())
    }

    fn message(
        &self,
        address: &AddressKey,
        folder: &str,
        uid: u32,
    ) -> Result<Option<MessageMeta>, StoreError> {
        let key = address.folder(folder);
        MESSAGES
            .peek(self.0)?
            .get((key.as_str(), uid))?
            .map(|bytes| MessageMeta::from_record(bytes.value()))
            .transpose()
    }
}

fn folders_in(
    table: &Table<'_, &'static str, &'static [u8]>,
    address: &AddressKey,
) -> Result<Vec<(String, Folder)>, StoreError> {
    let (start, end) = (format!("{address}\0"), format!("{address}\u{1}"));
    table
        .range(start.as_str()..end.as_str())?
        .map(|entry| {
            let (key, value) = entry?;
            Ok((
                key.value()[start.len()..].to_string(),
                decode(value.value())?,
            ))
        })
        .collect()
}

/// One record of a table, decoded.
pub(super) fn get_decoded<'k, K: OrderedKey, T: serde::de::DeserializeOwned>(
    table: &Table<'_, K, &'static [u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
) -> Result<Option<T>, StoreError> {
    table
        .get(key)?
        .map(|bytes| decode(bytes.value()))
        .transpose()
}

fn apply(current: &[String], change: FlagChange, flags: &[String]) -> Vec<String> {
    let has = |set: &[String], flag: &str| set.iter().any(|f| f.eq_ignore_ascii_case(flag));
    match change {
        FlagChange::Replace => apply(&[], FlagChange::Add, flags),
        FlagChange::Add => {
            let mut out = current.to_vec();
            for flag in flags {
                if !has(&out, flag) {
                    out.push(flag.clone());
                }
            }
            out
        }
        FlagChange::Remove => current.iter().filter(|f| !has(flags, f)).cloned().collect(),
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| x.eq_ignore_ascii_case(y)))
}
