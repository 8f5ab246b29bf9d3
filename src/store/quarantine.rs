//! Virus quarantine (DPR 68/2005 art. 12, RFC 6109 §2.2.4): infected messages are kept
//! 30 months, their bodies as blobs, their records here.

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::encode;

const QUARANTINE: TableDefinition<&str, &[u8]> = TableDefinition::new("quarantine");

/// One quarantined message.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Quarantined {
    /// The body.
    pub blob: BlobId,
    /// What was found.
    pub virus: String,
    /// The SMTP reverse-path it came with.
    pub mail_from: String,
    /// When it was caught.
    pub time: Timestamp,
    /// Until when it must be kept (30 months).
    pub keep_until: Timestamp,
}

/// The quarantine: `Quarantine<&mut Tx>` keeps a message, `Quarantine<&ReadTx>` reads a
/// snapshot.
pub struct Quarantine<T>(pub(super) T);

impl Quarantine<&mut Tx<'_>> {
    /// Keeps an infected message.
    pub fn keep(&mut self, record: &Quarantined) -> Result<(), StoreError> {
        let key = format!("{}/{}", record.time.as_millisecond(), record.blob.as_str());
        self.0
            .table(QUARANTINE)?
            .insert(key.as_str(), encode(record)?.as_slice())?;
        Ok(())
    }
}

impl Quarantine<&ReadTx<'_>> {
    /// Every quarantined message.
    pub fn all(&self) -> Result<Vec<Quarantined>, StoreError> {
        self.0.values(QUARANTINE)
    }
}
