//! Mailboxes, their folders and messages, ready for IMAP: UIDVALIDITY, strictly
//! increasing UIDs per folder, flags and keywords, MODSEQ, and a quota per mailbox.
//! Passwords are argon2id hashes; checking one costs the same for unknown users.

mod password;
mod profile;
mod read;
mod record;
mod write;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::encode;
pub use crate::store::mailbox::profile::MailboxState;
pub use crate::store::mailbox::profile::MailboxType;
pub use crate::store::mailbox::profile::Profile;
pub use crate::store::mailbox::profile::Request;
pub use crate::store::mailbox::profile::SendingLimit;
pub use crate::store::mailbox::profile::SendingLimits;
pub use crate::store::mailbox::profile::Traffic;
use crate::store::management::retally;
use crate::store::signal::MailboxMultimap;
use crate::store::signal::MailboxTable;

pub use password::Credential;
pub(crate) use password::DUMMY_HASH;
#[cfg(test)]
pub(crate) use password::DUMMY_HASH_FOR_TESTS;
pub(crate) use password::hash_password;
pub use password::release_argon2_memory;
pub(crate) use password::verify_argon2;

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

// The tables of a mailbox's data, keyed by its address first: written only through
// `MailboxTable::write`, which marks whose data the commit changed.
pub(crate) const MAILBOXES: MailboxTable<&str, &[u8]> = MailboxTable::new("mailboxes");
pub(crate) const FOLDERS: MailboxTable<&str, &[u8]> = MailboxTable::new("folders");
pub(crate) const MESSAGES: MailboxTable<(&str, u32), &[u8]> = MailboxTable::new("messages");
pub(crate) const BY_MESSAGE_ID: MailboxMultimap<&str, u32> = MailboxMultimap::new("messages_by_id");

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
    tx: &Tx<'_>,
    old: Option<&Mailbox>,
    new: &Mailbox,
) -> Result<(), StoreError> {
    MAILBOXES
        .write(tx, &new.address)?
        .insert(new.address.as_str(), encode(new)?.as_slice())?;
    retally(tx, old, Some(new))
}

/// Mailboxes and the messages filed in them: `Mailboxes<&mut Tx>` changes them (and
/// reads what the same transaction relies on), `Mailboxes<&ReadTx>` reads a snapshot.
pub struct Mailboxes<T>(pub(super) T);

/// A UIDVALIDITY from the clock: new folders never reuse an old value.
pub(crate) fn uidvalidity_at(now: Timestamp) -> u32 {
    u32::try_from(now.as_second().rem_euclid(i64::from(u32::MAX)))
        .unwrap_or(1)
        .max(1)
}
