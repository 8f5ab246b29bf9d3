//! Punto di ricezione (RFC 6109 §3.2): takes messages from other providers (and our own
//! relay for same-domain mail), verifies them against the providers index (RFC 6109 §4.5),
//! and acts: a valid busta di trasporto gets one ricevuta di presa in carico and goes to
//! the punto di consegna; a valid receipt goes to its addressee (or updates the timers,
//! for the service mailbox); anything else becomes a busta di anomalia.

use jiff::Timestamp;

use crate::crypto::validation::Validation;
use crate::pec::envelope;
use crate::pec::id;
use crate::pec::index::Provider as IndexedProvider;
use crate::pec::index::ProvidersIndex;
use crate::pec::kind::Kind;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::delivery_point::ANOMALY_KEYWORD;
use crate::provider::delivery_point::AnomalyRefusal;
use crate::store::log::Event;
use crate::store::log::EventKind;

mod receipts;
mod transport;

/// IMAP keyword on transport envelopes delivered to a mailbox.
pub const ENVELOPE_KEYWORD: &str = "$PecBusta";

/// What the punto di ricezione did with one message. Every outcome but `Refused` is
/// durable when it is returned; the SMTP adapter ([`crate::provider::backend`]) words
/// the reply.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Reception {
    /// A busta di trasporto taken in charge: its identificativo.
    TakenInCharge(String),
    /// A busta every recipient it names already had.
    AlreadyReceived,
    /// A busta carrying a virus: kept in quarantine, the sender's provider notified.
    VirusHeld,
    /// A receipt acted on and filed.
    ReceiptDelivered,
    /// A receipt that already arrived for every recipient.
    ReceiptAlreadyReceived,
    /// Filed as a busta di anomalia.
    Anomaly,
    /// Refused: it would have been a busta di anomalia no mailbox can take.
    Refused(AnomalyRefusal),
}

impl Reception {
    /// Whether the message was taken (the peer may forget it).
    pub fn is_taken(&self) -> bool {
        !matches!(self, Reception::Refused(_))
    }
}

impl Provider {
    /// Handles one message from the MX (blocking). It returns only after what the
    /// outcome acknowledges is durable.
    pub fn receive(
        &self,
        mail_from: &str,
        rcpt_to: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        let index = self.index();
        let started = std::time::Instant::now();
        let validation = Validation::check(data, self.anchors(), Some(&index), now);
        let took = started.elapsed();
        let local: Vec<String> = rcpt_to
            .iter()
            .filter(|r| self.is_local(r))
            .cloned()
            .collect();
        let Ok(validation) = validation else {
            if let Some(refusal) = self.ordinary_mail_refusal(data.len() as u64) {
                return Ok(Reception::Refused(refusal));
            }
            return self.anomaly(&local, data, "messaggio non leggibile", "unreadable", now);
        };
        let reasons = certification_problems(&validation);
        let certified = match (&validation.message.daticert, reasons.is_empty()) {
            (Some(daticert), true) => Some(daticert),
            _ => None,
        };
        self.metrics().verified(took, certified.is_some());
        match (validation.message.kind, certified) {
            (Kind::Transport, Some(daticert)) => {
                self.metrics().envelope_received();
                tracing::info!(msgid = %daticert.data.id, peer = %signer_name(&validation), "busta di trasporto ricevuta");
                self.transport_arrived(&validation, daticert, &local, data, now)
            }
            (Kind::Receipt(kind), Some(daticert)) => {
                let signer = signing_provider(&index, &validation);
                match self.receipt_addressees(kind, daticert, signer, &local)? {
                    Ok(sender) => {
                        self.receipt_arrived(kind, &validation, &sender, &local, data, now)
                    }
                    Err(reason) => self.anomaly(&local, data, &reason, "receipt_not_ours", now),
                }
            }
            (kind, _) => {
                // What no listed provider validly signed is ordinary mail, whatever
                // headers it carries: it takes ordinary mail's limits.
                if !signed_by_a_provider(kind, &validation)
                    && let Some(refusal) = self.ordinary_mail_refusal(data.len() as u64)
                {
                    tracing::info!(%mail_from, %refusal, "posta ordinaria rifiutata");
                    return Ok(Reception::Refused(refusal));
                }
                let reason = reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "dati di certificazione assenti".to_string());
                tracing::info!(%mail_from, %reason, "busta di anomalia");
                let cause = if kind == Kind::Ordinary {
                    "ordinary"
                } else {
                    "not_valid"
                };
                self.anomaly(&local, data, &reason, cause, now)
            }
        }
    }

    /// Anything that is not valid PEC: a signed busta di anomalia to each local
    /// recipient; no receipts follow (RFC 6109 §3.2.2). Filed in every recipient's
    /// mailbox, within its share for anomalies, or refused at SMTP for all of them.
    fn anomaly(
        &self,
        local: &[String],
        data: &[u8],
        reason: &str,
        cause: &'static str,
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        // The busta only adds to the message: a mailbox that cannot hold the message
        // alone is refused before a signature is spent on it. The transaction checks
        // again, with the busta's own size.
        let refusal = match super::delivery_point::unreadable_when_wrapped(data) {
            Some(refusal) => Some(refusal),
            None => self.anomaly_refusal(local, data.len() as u64)?,
        };
        if let Some(refusal) = refusal {
            tracing::info!(%refusal, "busta di anomalia rifiutata");
            return Ok(Reception::Refused(refusal));
        }
        let stamp = self.stamp(now);
        let wrapped = envelope::anomaly(self.issuer(), data, reason, &stamp);
        let (blob, bytes) = self.seal(&wrapped)?;
        let (size, limits) = (bytes.len() as u64, self.anomaly_limits());
        let refused = self.store().write(|tx| {
            if let Some(refusal) =
                super::delivery_point::anomaly_refusal_in(tx, limits, local, size)?
            {
                return Ok(Some(refusal));
            }
            let mut logged = Event::new(EventKind::AnomalyReceived, now);
            logged.recipients = local.to_vec();
            logged.related = vec![stamp.message_id.clone()];
            logged.detail = Some(reason.to_string());
            tx.events().log(logged)?;
            for rcpt in local {
                super::file_in_inbox(
                    tx,
                    rcpt,
                    &blob,
                    size,
                    &[ANOMALY_KEYWORD.to_string()],
                    now,
                    Some(&id::bracketed(&stamp.message_id)),
                )?;
                tx.mailboxes().count_received(rcpt)?;
            }
            Ok(None)
        })?;
        if let Some(refusal) = refused {
            tracing::info!(%refusal, "busta di anomalia rifiutata");
            return Ok(Reception::Refused(refusal));
        }
        self.metrics().anomaly(cause);
        Ok(Reception::Anomaly)
    }
}

/// The provider whose certificate signed a validated message, from the index.
fn signing_provider<'a>(
    index: &'a ProvidersIndex,
    validation: &Validation,
) -> Option<&'a IndexedProvider> {
    let signer = validation.signature.as_ref()?.signer.as_ref()?;
    index.by_certificate_sha1(&signer.sha1)
}

/// The name the index lists the signer of a validated message under.
fn signer_name(validation: &Validation) -> String {
    validation
        .index
        .as_ref()
        .and_then(|index| index.provider.clone())
        .unwrap_or_default()
}

/// Why a validated message does not certify anything; empty when it does.
fn certification_problems(validation: &Validation) -> Vec<String> {
    let mut reasons = validation.reasons();
    // At reception the message was just signed: the certificate must be valid now,
    // whatever signing time it claims (RFC 6109 §7: validity period checked).
    if let Some(report) = &validation.signature
        && (report.expired || report.not_yet_valid)
    {
        reasons.push("the signer certificate is not valid now".to_string());
    }
    reasons
}

/// Whether a message that certifies nothing was still validly signed by a provider the
/// index lists (and so is not ordinary mail).
fn signed_by_a_provider(kind: Kind, validation: &Validation) -> bool {
    kind != Kind::Ordinary
        && validation.signature.as_ref().is_some_and(|r| r.valid)
        && validation
            .index
            .as_ref()
            .is_some_and(|i| i.certificate_matches)
}

/// Where the sender's provider takes receipts, as the index lists it.
fn mail_receipt(validation: &Validation) -> String {
    validation
        .index
        .as_ref()
        .and_then(|i| i.mail_receipt.clone())
        .unwrap_or_default()
}
