//! COPY and MOVE inside one store transaction, all or nothing (RFC 3501 §6.4.7, RFC
//! 6851 §3.3): a copy the quota cannot hold whole copies nothing, and a MOVE takes its
//! messages out of the source before filing them in the target, so it needs no room
//! beyond what they already use and never leaves a message in both folders.

use crate::store::StoreError;
use crate::store::Tx;
use crate::store::folders::Copied;
use crate::store::mailbox::Appended;

/// Why a MOVE's transaction is rolled back: a target append refused for the quota
/// (only possible when the mailbox was over it before, its quota lowered since).
const MOVE_BEYOND_QUOTA: &str = "MOVE beyond the quota";

/// COPY of `uids` from `from` to `to`, refused whole when the quota cannot take it.
pub(super) fn copy_whole(
    tx: &mut Tx<'_>,
    user: &str,
    from: &str,
    to: &str,
    uids: &[u32],
) -> Result<Copied, StoreError> {
    let mut bytes = 0u64;
    for uid in uids {
        bytes += tx
            .folders()
            .message(user, from, *uid)?
            .map_or(0, |m| m.size);
    }
    let room = tx.mailboxes().get(user)?;
    if room.is_some_and(|m| m.used_bytes.saturating_add(bytes) > m.quota_bytes) {
        return Ok(Copied::OverQuota);
    }
    tx.folders().copy(user, from, to, uids)
}

/// MOVE of `uids` from `from` to `to`: expunged from the source first, then appended
/// to the target with their flags and dates, each under a new UID. Bodies are
/// content-addressed and never deleted, so the expunge cannot lose one.
pub(super) fn move_whole(
    tx: &mut Tx<'_>,
    user: &str,
    from: &str,
    to: &str,
    uids: &[u32],
) -> Result<Copied, StoreError> {
    // Copying nothing checks the target and gives its UIDVALIDITY, changing nothing.
    let uidvalidity = match tx.folders().copy(user, from, to, &[])? {
        Copied::Done { uidvalidity, .. } => uidvalidity,
        other => return Ok(other),
    };
    let mut metas = Vec::with_capacity(uids.len());
    for uid in uids {
        metas.extend(tx.folders().message(user, from, *uid)?);
    }
    let present: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    tx.folders().expunge(user, from, &present)?;
    let mut pairs = Vec::with_capacity(metas.len());
    for meta in &metas {
        let flags: Vec<String> = meta
            .flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .cloned()
            .collect();
        let appended = tx.mailboxes().append(
            user,
            to,
            &meta.blob,
            meta.size,
            &flags,
            meta.internal_date,
            meta.message_id.as_deref(),
        )?;
        match appended {
            Appended::Stored { uid } => pairs.push((meta.uid, uid)),
            // An error rolls the whole transaction back: the expunge too.
            Appended::OverQuota => return Err(StoreError::Conflict(MOVE_BEYOND_QUOTA.into())),
            Appended::NoMailbox | Appended::Suspended => {
                return Err(StoreError::NoSuchMailbox(user.to_string()));
            }
        }
    }
    Ok(Copied::Done {
        uidvalidity,
        uids: pairs,
    })
}

/// The answer for a transaction's outcome: a MOVE rolled back for the quota is
/// `OverQuota`, like a COPY refused before it began.
pub(super) fn settled(outcome: Result<Copied, StoreError>) -> Result<Copied, StoreError> {
    match outcome {
        Err(StoreError::Conflict(why)) if why == MOVE_BEYOND_QUOTA => Ok(Copied::OverQuota),
        other => other,
    }
}
