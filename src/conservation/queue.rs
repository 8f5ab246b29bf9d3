//! What enters the ingest queue: the mailbox's rule applied to each message filed into
//! its INBOX (called by the provider inside the append's transaction), and the manual
//! `--ARCHIVIA--` folder (called by the IMAP side). Delivery never waits on conservation:
//! queuing is one small record in the transaction that is committed anyway.

use jiff::Timestamp;

use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::conservation::IngestJob;

/// What kind of message is filed, as the provider knows it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Filed {
    /// A transport envelope or an anomaly envelope.
    Envelope,
    /// A receipt or notice.
    Receipt,
    /// Anything else (e.g. a provider alert).
    Other,
}

impl Filed {
    /// From the IMAP keywords the provider tags INBOX messages with.
    pub fn from_keywords(keywords: &[String]) -> Filed {
        let has = |k: &str| keywords.iter().any(|x| x.eq_ignore_ascii_case(k));
        if has("$PecBusta") || has("$PecAnomalia") {
            Filed::Envelope
        } else if has("$PecRicevuta") {
            Filed::Receipt
        } else {
            Filed::Other
        }
    }
}

/// Whether a mailbox rule selects a filed message.
pub fn selects(rule: &str, filed: Filed) -> bool {
    match rule {
        "all-inbound" => true,
        "envelopes" => filed == Filed::Envelope,
        "receipts" => filed == Filed::Receipt,
        _ => false,
    }
}

/// Called in the transaction that appends a message to `address`'s INBOX: queues it
/// when the mailbox's conservation rule selects it. Returns whether it was queued.
pub fn on_inbox(
    tx: &mut Tx<'_>,
    address: &str,
    blob: &BlobId,
    size: u64,
    keywords: &[String],
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(mailbox) = tx.mailboxes().get(address)? else {
        return Ok(false);
    };
    if !selects(&mailbox.conservation, Filed::from_keywords(keywords)) {
        return Ok(false);
    }
    tx.conservation().enqueue(IngestJob {
        id: 0,
        mailbox: mailbox.address.clone(),
        blob: blob.clone(),
        size,
        received: now,
        origin: mailbox.conservation.clone(),
        archive_uid: None,
    })?;
    Ok(true)
}

/// Queues a message the user put into `--ARCHIVIA--` (any rule, even `off`), in the
/// transaction that filed it there under `uid`; the worker removes it from the folder
/// in the transaction that records its package. Without a UID nothing is removed.
pub fn enqueue_manual(
    tx: &mut Tx<'_>,
    address: &str,
    blob: &BlobId,
    size: u64,
    uid: Option<u32>,
    now: Timestamp,
) -> Result<u64, StoreError> {
    tx.conservation().enqueue(IngestJob {
        id: 0,
        mailbox: address.to_ascii_lowercase(),
        blob: blob.clone(),
        size,
        received: now,
        origin: "manual".into(),
        archive_uid: uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_select_by_kind() {
        let envelope = Filed::from_keywords(&["$PecBusta".into()]);
        let anomaly = Filed::from_keywords(&["$PecAnomalia".into()]);
        let receipt = Filed::from_keywords(&["$PecRicevuta".into()]);
        assert!(selects("all-inbound", envelope) && selects("all-inbound", receipt));
        assert!(selects("envelopes", envelope) && selects("envelopes", anomaly));
        assert!(!selects("envelopes", receipt));
        assert!(selects("receipts", receipt) && !selects("receipts", envelope));
        assert!(!selects("off", envelope) && !selects("off", receipt));
    }
}
