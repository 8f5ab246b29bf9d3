//! Receipt correlation: each receipt or notice that reaches a sender updates the
//! delivery state of the message it is about (matched by the client Message-ID in
//! `X-Riferimento-Message-ID`), and the sender's copies of that message in `Sent` get
//! the keywords of [`crate::pec::status`]. A copy appended to `Sent` after some
//! receipts arrived (clients append after SMTP) catches up at once.

use crate::pec::compose::Unsigned;
use crate::pec::daticert::Daticert;
use crate::pec::reader::PecMessage;
use crate::pec::status::DeliveryStatus;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::folders::FlagChange;
use crate::store::mailbox::SENT;

/// What a receipt or notice says about the message it refers to. Read before the
/// transaction: parsing a message never runs inside the store's single writer, and a
/// receipt the punto di ricezione already parsed is not parsed again.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Notice {
    daticert: Daticert,
    reference: String,
}

impl Notice {
    /// The notice a parsed message carries, if it is a readable receipt. The message
    /// it refers to is the one its signed daticert names (never the unsigned
    /// `X-Riferimento-Message-ID`).
    pub fn of(message: &PecMessage) -> Option<Notice> {
        let daticert = message.daticert.clone()?;
        let reference = daticert.data.msgid.clone()?;
        Some(Notice {
            daticert,
            reference,
        })
    }

    /// The notice a message of ours carries, from what it was built with: what
    /// [`Notice::of`] would read from the signed message (its `X-Riferimento-Message-ID`
    /// is the daticert's `msgid`), without parsing it back.
    pub fn issued(message: &Unsigned) -> Option<Notice> {
        let daticert = message.daticert.clone()?;
        Some(Notice {
            reference: daticert.data.msgid.clone()?,
            daticert,
        })
    }
}

/// Records a receipt or notice delivered to `user` and updates the keywords of the
/// message it refers to. Anything that is not a readable receipt (`None`) is ignored.
pub fn on_notice(tx: &mut Tx<'_>, user: &str, notice: Option<&Notice>) -> Result<(), StoreError> {
    let Some(notice) = notice else {
        return Ok(());
    };
    let reference = &notice.reference;
    let mut status = tx.statuses().get(user, reference)?.unwrap_or_default();
    status.record(&notice.daticert);
    tx.statuses().set(user, reference, &status)?;
    for uid in tx.statuses().uids_by_message_id(user, SENT, reference)? {
        apply(tx, user, uid, &status)?;
    }
    Ok(())
}

/// A message just appended to `Sent` takes the keywords its receipts already earned.
pub fn catch_up(tx: &mut Tx<'_>, user: &str, uid: u32, message_id: &str) -> Result<(), StoreError> {
    if let Some(status) = tx.statuses().get(user, message_id)? {
        apply(tx, user, uid, &status)?;
    }
    Ok(())
}

/// The Message-ID of a message, bracketed as the index keeps it.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw)?;
    parsed
        .message_id()
        .map(|id| crate::pec::id::bracketed(id.trim()))
}

fn apply(tx: &mut Tx<'_>, user: &str, uid: u32, status: &DeliveryStatus) -> Result<(), StoreError> {
    let earned: Vec<String> = status.keywords().iter().map(|k| k.to_string()).collect();
    let stale: Vec<String> = crate::pec::status::ALL
        .iter()
        .filter(|k| !earned.iter().any(|e| e == *k))
        .map(|k| k.to_string())
        .collect();
    tx.folders()
        .store_flags(user, SENT, uid, FlagChange::Remove, &stale, None)?;
    tx.folders()
        .store_flags(user, SENT, uid, FlagChange::Add, &earned, None)?;
    Ok(())
}
