//! The delivery state of each sent message, as its receipts reported it
//! (`address NUL client Message-ID` → [`DeliveryStatus`]), kept so a copy appended to
//! `Sent` later still gets its keywords.

use redb::TableDefinition;

use crate::pec::id;
use crate::pec::status::DeliveryStatus;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;
use crate::store::mailbox::BY_MESSAGE_ID;

const DELIVERY_STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("delivery_status");

/// The delivery status of sent messages, read and written inside the transaction that
/// files a receipt or a sent copy: `Statuses<&mut Tx>`.
pub struct Statuses<T>(pub(super) T);

impl Statuses<&mut Tx<'_>> {
    /// The recorded state of `user`'s message `message_id`.
    pub fn get(&self, user: &str, message_id: &str) -> Result<Option<DeliveryStatus>, StoreError> {
        let table = self.0.table(DELIVERY_STATUS)?;
        let status = table.get(key(user, message_id).as_str())?;
        status.map(|bytes| decode(bytes.value())).transpose()
    }

    /// Records the state of `user`'s message `message_id`.
    pub fn set(
        &mut self,
        user: &str,
        message_id: &str,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError> {
        self.0
            .table(DELIVERY_STATUS)?
            .insert(key(user, message_id).as_str(), encode(status)?.as_slice())?;
        Ok(())
    }

    /// The UIDs of a folder's messages with this Message-ID, seen from inside the
    /// transaction.
    pub fn uids_by_message_id(
        &self,
        user: &str,
        folder: &str,
        message_id: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let table = BY_MESSAGE_ID.peek(self.0)?;
        let index_key = format!(
            "{}\0{}",
            AddressKey::new(user).folder(folder),
            id::bracketed(message_id)
        );
        let uids = table.get(index_key.as_str())?;
        Ok(uids.iter().map(|v| v.value()).collect())
    }
}

fn key(user: &str, message_id: &str) -> String {
    format!("{}\0{}", AddressKey::new(user), id::bracketed(message_id))
}
