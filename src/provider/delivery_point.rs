//! Punto di consegna (RFC 6109 §3.3): stores messages unmodified in mailboxes and, for
//! valid transport envelopes only, answers each recipient's outcome with a ricevuta di
//! avvenuta consegna (completa / breve / sintetica) or an avviso di mancata consegna.
//!
//! Buste di anomalia get no receipt, so a mailbox that cannot take one refuses it at
//! SMTP, before anything is acknowledged. Anomalies may fill only a share of a mailbox
//! ([`AnomalyLimits`]): anyone on the Internet can send ordinary mail, and it must not
//! crowd out the certified mail the mailbox is for.

use jiff::Timestamp;

use crate::config::MxConfig;
use crate::mail::message::MAX_NESTING_DEPTH;
use crate::mail::message::MessageError;
use crate::mail::message::nesting_depth_of;
use crate::pec::compose::Facts;
use crate::pec::compose::Unsigned;
use crate::pec::kind::ReceiptType;
use crate::pec::receipt;
use crate::pec::receipt::DeliveryFailure;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;

/// IMAP keyword on anomaly envelopes: the bytes under it count against the
/// mailbox's share for anomalies.
pub const ANOMALY_KEYWORD: &str = "$PecAnomalia";

/// What delivering to one mailbox will do, decided before signing the receipt.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// The mailbox takes the message.
    Deliver,
    /// It cannot: the reason for the avviso di mancata consegna.
    Fail(DeliveryFailure),
}

/// The MX's limits on buste di anomalia (`[mx]`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct AnomalyLimits {
    /// Largest ordinary message wrapped; bigger ones are refused.
    pub max_message_bytes: u64,
    /// Share of each mailbox's quota anomalies may fill, in percent (0 to 100).
    pub quota_percent: u8,
}

impl AnomalyLimits {
    /// The bytes of anomalies a mailbox with this quota may hold.
    pub fn share_bytes(&self, quota_bytes: u64) -> u64 {
        let share = u128::from(quota_bytes) * u128::from(self.quota_percent.min(100)) / 100;
        u64::try_from(share).unwrap_or(u64::MAX)
    }
}

impl From<&MxConfig> for AnomalyLimits {
    fn from(mx: &MxConfig) -> AnomalyLimits {
        AnomalyLimits {
            max_message_bytes: mx.anomaly_max_message_bytes,
            quota_percent: mx.anomaly_quota_percent,
        }
    }
}

impl Default for AnomalyLimits {
    fn default() -> AnomalyLimits {
        AnomalyLimits::from(&MxConfig::default())
    }
}

/// Why the MX refuses mail it would wrap in a busta di anomalia. Each is an SMTP error
/// in place of the `250` ([`crate::provider::backend`]): an anomaly has no receipt to
/// tell its sender it was lost.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum AnomalyRefusal {
    /// The provider takes certified mail only (`[mx] accept_ordinary_mail`).
    #[error("ordinary mail is not accepted")]
    OrdinaryMailOff,
    /// The ordinary message is larger than `[mx] anomaly_max_message_bytes`.
    #[error("{size} bytes exceed the {limit} byte limit of ordinary mail")]
    TooLarge {
        /// The message's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// No such mailbox here.
    #[error("no mailbox {0}")]
    NoMailbox(String),
    /// The mailbox is suspended.
    #[error("mailbox {0} is suspended")]
    Suspended(String),
    /// The anomaly does not fit in the mailbox's quota.
    #[error("mailbox {0} is full")]
    MailboxFull(String),
    /// The message nests attached messages deeper than pecd reads once it is wrapped:
    /// stored, it could not be read back.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// The anomaly does not fit in the mailbox's share for anomalies.
    #[error("mailbox {mailbox} holds {held} bytes of anomalies, its share is {share}")]
    ShareFull {
        /// The mailbox.
        mailbox: String,
        /// Bytes of anomalies it holds.
        held: u64,
        /// Bytes of anomalies it may hold.
        share: u64,
    },
}

/// Why `data` cannot be wrapped in a busta di anomalia and read back, if so: the
/// busta nests it one level deeper (see `mail::message::MAX_NESTING_DEPTH`). Bytes that
/// are no message at all have nothing nested and are wrapped as they are.
pub fn unreadable_when_wrapped(data: &[u8]) -> Option<AnomalyRefusal> {
    match nesting_depth_of(data) {
        Ok(depth) if depth < MAX_NESTING_DEPTH => None,
        Ok(depth) => Some(AnomalyRefusal::Unreadable(
            MessageError::TooDeep(depth + 1).to_string(),
        )),
        Err(
            error @ (MessageError::TooDeep(_)
            | MessageError::TooManyMessageTypes(_)
            | MessageError::EncodedMessage),
        ) => Some(AnomalyRefusal::Unreadable(error.to_string())),
        Err(MessageError::NotAMessage | MessageError::TooLarge(_)) => None,
    }
}

/// Whether one mailbox takes a busta di anomalia of `size` bytes when anomalies of
/// `held` bytes are in it already.
pub fn admit_anomaly(
    limits: AnomalyLimits,
    address: &str,
    mailbox: Option<&Mailbox>,
    held: u64,
    size: u64,
) -> Result<(), AnomalyRefusal> {
    let Some(mailbox) = mailbox else {
        return Err(AnomalyRefusal::NoMailbox(address.to_string()));
    };
    match mailbox.state {
        MailboxState::Active => {}
        MailboxState::Suspended | MailboxState::Pending => {
            return Err(AnomalyRefusal::Suspended(address.to_string()));
        }
        MailboxState::Deleted => return Err(AnomalyRefusal::NoMailbox(address.to_string())),
    }
    if mailbox.used_bytes.saturating_add(size) > mailbox.quota_bytes {
        return Err(AnomalyRefusal::MailboxFull(address.to_string()));
    }
    let share = limits.share_bytes(mailbox.quota_bytes);
    if held.saturating_add(size) > share {
        return Err(AnomalyRefusal::ShareFull {
            mailbox: address.to_string(),
            held,
            share,
        });
    }
    Ok(())
}

/// The first of `local` that does not take an anomaly of `size` bytes, checked inside
/// the transaction that files it, so no concurrent delivery slips past the share.
pub(crate) fn anomaly_refusal_in(
    tx: &mut Tx<'_>,
    limits: AnomalyLimits,
    local: &[String],
    size: u64,
) -> Result<Option<AnomalyRefusal>, StoreError> {
    for rcpt in local {
        let mailbox = tx.mailboxes().get(rcpt)?;
        let held = tx.mailboxes().keyword_bytes(rcpt, ANOMALY_KEYWORD)?;
        if let Err(refusal) = admit_anomaly(limits, rcpt, mailbox.as_ref(), held, size) {
            return Ok(Some(refusal));
        }
    }
    Ok(None)
}

impl Provider {
    /// The limits on buste di anomalia.
    pub fn anomaly_limits(&self) -> AnomalyLimits {
        let limits = self.inner.anomaly_limits.read();
        *limits.unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Why ordinary mail of `size` bytes is refused before it is wrapped, if it is:
    /// the provider's choice to take it at all, and its size.
    pub(crate) fn ordinary_mail_refusal(&self, size: u64) -> Option<AnomalyRefusal> {
        let limit = self.anomaly_limits().max_message_bytes;
        if !self.settings().accept_ordinary_mail {
            Some(AnomalyRefusal::OrdinaryMailOff)
        } else if size > limit {
            Some(AnomalyRefusal::TooLarge { size, limit })
        } else {
            None
        }
    }

    /// The first of `local` that does not take an anomaly of at least `size` bytes, read
    /// from a snapshot: what is refused here costs no signature. The transaction that
    /// files the anomaly checks again, with its real size ([`anomaly_refusal_in`]).
    pub(crate) fn anomaly_refusal(
        &self,
        local: &[String],
        size: u64,
    ) -> Result<Option<AnomalyRefusal>, ProviderError> {
        let limits = self.anomaly_limits();
        Ok(self.store().read(|tx| {
            for rcpt in local {
                let mailbox = tx.mailboxes().get(rcpt)?;
                let held = tx.mailboxes().keyword_bytes(rcpt, ANOMALY_KEYWORD)?;
                if let Err(refusal) = admit_anomaly(limits, rcpt, mailbox.as_ref(), held, size) {
                    return Ok(Some(refusal));
                }
            }
            Ok(None)
        })?)
    }

    /// Predicts the outcome of storing `size` bytes for `address`. The append in the
    /// same transaction confirms it; a change in between aborts the transaction and the
    /// peer retries (SMTP 451), so no receipt ever contradicts the store.
    pub fn predict(&self, address: &str, size: u64) -> Result<Outcome, ProviderError> {
        let mailbox = self.store().read(|tx| tx.mailboxes().get(address))?;
        Ok(match mailbox {
            None => Outcome::Fail(DeliveryFailure::UnknownMailbox),
            Some(m) if m.state == MailboxState::Deleted => {
                Outcome::Fail(DeliveryFailure::UnknownMailbox)
            }
            Some(m) if m.state == MailboxState::Suspended => {
                Outcome::Fail(DeliveryFailure::MailboxSuspended)
            }
            Some(m) if m.state == MailboxState::Pending => Outcome::Fail(DeliveryFailure::Other {
                code: "5.2.1".to_string(),
                description: "casella di posta non ancora attivata".to_string(),
            }),
            Some(m) if m.used_bytes.saturating_add(size) > m.quota_bytes => {
                Outcome::Fail(DeliveryFailure::MailboxFull)
            }
            Some(_) => Outcome::Deliver,
        })
    }

    /// The receipt for one recipient of a valid transport envelope.
    pub fn delivery_receipt(
        &self,
        facts: &Facts,
        recipient: &str,
        outcome: &Outcome,
        receipt_type: ReceiptType,
        postacert: &[u8],
        now: Timestamp,
    ) -> (Unsigned, String) {
        let stamp = self.stamp(now);
        let message = match outcome {
            Outcome::Deliver => receipt::delivered(
                self.issuer(),
                facts,
                recipient,
                receipt_type,
                postacert,
                &stamp,
            ),
            Outcome::Fail(failure) => {
                receipt::delivery_error(self.issuer(), facts, recipient, failure, &stamp)
            }
        };
        (message, stamp.message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AnomalyLimits = AnomalyLimits {
        max_message_bytes: 1_000,
        quota_percent: 10,
    };

    fn mailbox(quota_bytes: u64, used_bytes: u64) -> Mailbox {
        Mailbox {
            address: "bob@pec-b.test".into(),
            password_hash: String::new(),
            state: MailboxState::Active,
            quota_bytes,
            used_bytes,
            profile: Default::default(),
            traffic: Default::default(),
            receipt_type: "completa".into(),
            conservation: "off".into(),
            created: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_share_is_a_percentage_of_the_quota_without_overflow() {
        assert_eq!(LIMITS.share_bytes(10_000), 1_000);
        assert_eq!(LIMITS.share_bytes(u64::MAX), u64::MAX / 10);
        let none = AnomalyLimits {
            quota_percent: 0,
            ..LIMITS
        };
        assert_eq!(none.share_bytes(10_000), 0);
        assert_eq!(AnomalyLimits::default().quota_percent, 10);
    }

    #[test]
    fn anomalies_fit_in_their_share_and_in_the_quota() {
        let bob = "bob@pec-b.test";
        let m = mailbox(10_000, 2_000);
        assert_eq!(admit_anomaly(LIMITS, bob, Some(&m), 600, 400), Ok(()));
        assert_eq!(
            admit_anomaly(LIMITS, bob, Some(&m), 600, 401),
            Err(AnomalyRefusal::ShareFull {
                mailbox: bob.into(),
                held: 600,
                share: 1_000
            })
        );
        // Certified mail filled the rest: the quota refuses even within the share.
        let full = mailbox(10_000, 9_900);
        assert_eq!(
            admit_anomaly(LIMITS, bob, Some(&full), 0, 200),
            Err(AnomalyRefusal::MailboxFull(bob.into()))
        );
        let suspended = Mailbox {
            state: MailboxState::Suspended,
            ..m
        };
        assert_eq!(
            admit_anomaly(LIMITS, bob, Some(&suspended), 0, 1),
            Err(AnomalyRefusal::Suspended(bob.into()))
        );
        assert_eq!(
            admit_anomaly(LIMITS, bob, None, 0, 1),
            Err(AnomalyRefusal::NoMailbox(bob.into()))
        );
    }

    #[test]
    fn what_a_busta_would_nest_too_deep_is_not_wrapped() {
        let nested = |depth: usize| {
            let mut raw = "Subject: su\r\nContent-Type: message/rfc822\r\n\r\n".repeat(depth);
            raw.push_str("Subject: fondo\r\n\r\nfondo\r\n");
            raw.into_bytes()
        };
        assert_eq!(unreadable_when_wrapped(b"\x00 not a message"), None);
        assert_eq!(
            unreadable_when_wrapped(&nested(MAX_NESTING_DEPTH - 1)),
            None
        );
        for depth in [MAX_NESTING_DEPTH, MAX_NESTING_DEPTH + 1, 5_000] {
            assert!(
                matches!(
                    unreadable_when_wrapped(&nested(depth)),
                    Some(AnomalyRefusal::Unreadable(_))
                ),
                "{depth}"
            );
        }
    }
}
