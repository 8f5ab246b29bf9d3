//! Punto di consegna (RFC 6109 §3.3): stores messages unmodified in mailboxes and, for
//! valid transport envelopes only, answers each recipient's outcome with a ricevuta di
//! avvenuta consegna (completa / breve / sintetica) or an avviso di mancata consegna.

use jiff::Timestamp;

use crate::pec::compose::Facts;
use crate::pec::compose::Unsigned;
use crate::pec::kind::ReceiptType;
use crate::pec::receipt;
use crate::pec::receipt::DeliveryFailure;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::store::mailbox::MailboxState;

/// What delivering to one mailbox will do, decided before signing the receipt.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// The mailbox takes the message.
    Deliver,
    /// It cannot: the reason for the avviso di mancata consegna.
    Fail(DeliveryFailure),
}

impl Provider {
    /// Predicts the outcome of storing `size` bytes for `address`. The append in the
    /// same transaction confirms it; a change in between aborts the transaction and the
    /// peer retries (SMTP 451), so no receipt ever contradicts the store.
    pub fn predict(&self, address: &str, size: u64) -> Result<Outcome, ProviderError> {
        let mailbox = self.store().read(|tx| tx.get_mailbox(address))?;
        Ok(match mailbox {
            None => Outcome::Fail(DeliveryFailure::UnknownMailbox),
            Some(m) if m.state == MailboxState::Suspended => {
                Outcome::Fail(DeliveryFailure::MailboxSuspended)
            }
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
