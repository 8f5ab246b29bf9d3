//! Subscriptions (RFC 3501 §6.3.6–7): folder names a user subscribed to, kept apart
//! from the folders themselves, because a subscription outlives the folder it names
//! (a deleted folder stays subscribed, RFC 3501 §6.3.4; LIST-EXTENDED reports it as
//! `\NonExistent`, RFC 5258 §3.1).
//!
//! Folders made before this table existed carry their subscription in
//! [`Folder::subscribed`]; a name is subscribed when either says so, and a change
//! writes both, so no migration is needed.

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::folders::Folders;
use crate::store::key::AddressKey;
use crate::store::kv::Table;
use crate::store::mailbox::FOLDERS;
use crate::store::mailbox::Folder;
use crate::store::signal::MailboxTable;

/// `address\0folder` → nothing: the subscribed names.
const SUBSCRIPTIONS: MailboxTable<&str, ()> = MailboxTable::new("subscriptions");

/// The most names one mailbox may be subscribed to: deleted folders stay subscribed, so
/// without a cap a user could grow the table (and LIST's work) without end.
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// What a SUBSCRIBE or UNSUBSCRIBE did.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Subscribed {
    /// Done.
    Done,
    /// SUBSCRIBE of a name that is no folder.
    NoSuchName,
    /// SUBSCRIBE beyond [`MAX_SUBSCRIPTIONS`].
    TooMany,
}

impl Folders<&ReadTx<'_>> {
    /// Every subscribed name of a mailbox, existing folders or not, in name order.
    pub fn subscriptions(&self, address: &str) -> Result<Vec<String>, StoreError> {
        let address = AddressKey::new(address);
        let mut names = names_in(&SUBSCRIPTIONS.read(self.0)?, &address)?;
        names.extend(
            self.list(address.as_str())?
                .into_iter()
                .filter(|(_, folder)| folder.subscribed)
                .map(|(name, _)| name),
        );
        names.sort();
        names.dedup();
        Ok(names)
    }
}

impl Folders<&mut Tx<'_>> {
    /// SUBSCRIBE (only existing folders) or UNSUBSCRIBE (any name: one not subscribed
    /// stays so, as Dovecot answers).
    pub fn set_subscribed(
        &mut self,
        address: &str,
        name: &str,
        subscribed: bool,
    ) -> Result<Subscribed, StoreError> {
        let address = AddressKey::new(address);
        let key = address.folder(name);
        let mut folders = FOLDERS.write(self.0, address.as_str())?;
        let folder: Option<Folder> = match folders.get(key.as_str())? {
            Some(bytes) => Some(decode(bytes.value())?),
            None => None,
        };
        let mut table = SUBSCRIPTIONS.write(self.0, address.as_str())?;
        let listed = table.get(key.as_str())?.is_some();
        if subscribed {
            if folder.is_none() {
                return Ok(Subscribed::NoSuchName);
            }
            if !listed && names_in(&table, &address)?.len() >= MAX_SUBSCRIPTIONS {
                return Ok(Subscribed::TooMany);
            }
            table.insert(key.as_str(), ())?;
        } else if listed {
            table.remove(key.as_str())?;
        }
        if let Some(mut folder) = folder
            && folder.subscribed != subscribed
        {
            folder.subscribed = subscribed;
            folders.insert(key.as_str(), encode(&folder)?.as_slice())?;
        }
        Ok(Subscribed::Done)
    }

    /// Keeps the subscription of a folder about to be deleted, when only the folder's
    /// own record held it.
    pub(super) fn keep_subscription(
        &mut self,
        address: &AddressKey,
        key: &str,
        folder: &Folder,
    ) -> Result<(), StoreError> {
        if folder.subscribed {
            let mut table = SUBSCRIPTIONS.write(self.0, address.as_str())?;
            table.insert(key, ())?;
        }
        Ok(())
    }

    /// Moves the subscription of a renamed folder to its new name.
    pub(super) fn move_subscription(
        &mut self,
        address: &AddressKey,
        old_key: &str,
        new_key: &str,
    ) -> Result<(), StoreError> {
        let mut table = SUBSCRIPTIONS.write(self.0, address.as_str())?;
        if table.remove(old_key)?.is_some() {
            table.insert(new_key, ())?;
        }
        Ok(())
    }
}

fn names_in(
    table: &Table<'_, &'static str, ()>,
    address: &AddressKey,
) -> Result<Vec<String>, StoreError> {
    let (start, end) = (format!("{address}\0"), format!("{address}\u{1}"));
    table
        .range(start.as_str()..end.as_str())?
        .map(|entry| {
            let (key, _) = entry?;
            Ok(key.value()[start.len()..].to_string())
        })
        .collect()
}
