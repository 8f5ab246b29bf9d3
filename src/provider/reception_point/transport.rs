//! A valid busta di trasporto at the punto di ricezione (RFC 6109 §3.2.1): delivered
//! once to each mailbox its daticert names, with one ricevuta di presa in carico to the
//! sender's provider and a delivery receipt per recipient; held in quarantine instead
//! when it carries a virus (§3.2.3).

use jiff::Timestamp;

use super::ENVELOPE_KEYWORD;
use super::Reception;
use super::mail_receipt;
use super::signer_name;
use crate::crypto::validation::Validation;
use crate::mail::header_index::HeaderIndex;
use crate::pec::compose::Facts;
use crate::pec::daticert::Daticert;
use crate::pec::id;
use crate::pec::kind::DaticertKind;
use crate::pec::receipt;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::delivery_point::Outcome;
use crate::provider::domain_of;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::ledger::Arrival;
use crate::store::log::Event;
use crate::store::log::EventKind;
use crate::store::mailbox::INBOX;
use crate::store::queue::Job;
use crate::store::queue::JobKind;

impl Provider {
    /// A valid busta di trasporto is delivered only to the mailboxes its daticert
    /// names, and to each once: anyone holding a genuine busta can hand it to our MX
    /// again, addressed to anyone. Other local recipients get it as an anomaly.
    pub(super) fn transport_arrived(
        &self,
        validation: &Validation,
        daticert: &Daticert,
        local: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        let (addressed, strangers): (Vec<String>, Vec<String>) =
            local.iter().cloned().partition(|rcpt| {
                daticert
                    .header
                    .recipients
                    .iter()
                    .any(|named| named.address.eq_ignore_ascii_case(rcpt))
            });
        let fresh = self.not_yet_arrived(validation, daticert, addressed)?;
        // The strangers' anomaly first: refused, it refuses the whole message before
        // anything is delivered, so no recipient is acknowledged and left without it.
        let mut outcome = Reception::AlreadyReceived;
        if !strangers.is_empty() {
            let reason = "destinatario non compreso tra i destinatari certificati";
            outcome = self.anomaly(&strangers, data, reason, "not_addressed", now)?;
            if !outcome.is_taken() {
                return Ok(outcome);
            }
        }
        if !fresh.is_empty() {
            outcome = self.take_charge(validation, daticert, &fresh, data, now)?;
        }
        Ok(outcome)
    }

    /// The `addressed` recipients this busta has not reached yet.
    fn not_yet_arrived(
        &self,
        validation: &Validation,
        daticert: &Daticert,
        addressed: Vec<String>,
    ) -> Result<Vec<String>, ProviderError> {
        let signer = signer_name(validation);
        let bracketed = id::bracketed(&daticert.data.id);
        Ok(self.store().read(|tx| {
            let mut fresh = Vec::new();
            for rcpt in addressed {
                // The INBOX lookup finds what arrived before the ledger existed.
                if !tx
                    .ledger()
                    .arrived(&busta_arrival(&daticert.data.id, &signer, &rcpt))?
                    && tx
                        .mailboxes()
                        .by_message_id(&rcpt, INBOX, &bracketed)?
                        .is_empty()
                {
                    fresh.push(rcpt);
                }
            }
            Ok(fresh)
        })?)
    }

    /// A valid busta di trasporto: presa in carico to the sender's provider, then
    /// delivery to each local recipient with its receipt, in one transaction.
    fn take_charge(
        &self,
        validation: &Validation,
        daticert: &Daticert,
        local: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        let facts = Facts::from_daticert(daticert);
        if let Some(virus) = self.scan(data)? {
            return self.virus_found(&facts, validation, local, data, &virus, now);
        }
        let mail_receipt = mail_receipt(validation);
        let charge_stamp = self.stamp(now);
        let charge =
            receipt::taken_in_charge(self.issuer(), &facts, local, &mail_receipt, &charge_stamp);
        let (charge_blob, _) = self.seal(&charge)?;
        let envelope_blob = self.store().blobs().put(data)?;
        // SEARCH, SORT and THREAD read the header from the index, not the body.
        let envelope_header = HeaderIndex::of_message(data);
        let deliveries = self.deliveries(validation, daticert, &facts, local, data, now)?;
        let id = facts.id.clone();
        let taking = TakingCharge {
            signer: signer_name(validation),
            service: self.issuer().service_address(),
            facts,
            local: local.to_vec(),
            mail_receipt,
            charge_blob,
            charge_id: charge_stamp.message_id,
            envelope_blob,
            envelope_header,
            size: data.len() as u64,
            message_id: validation.message.message_id.clone(),
            deliveries,
            now,
        };
        self.store().write_owned(move |tx| taking.record(tx))?;
        self.wake_relay();
        Ok(Reception::TakenInCharge(id))
    }

    /// Each recipient's predicted outcome with its signed receipt, of the type the
    /// sender asked for in the signed daticert.
    fn deliveries(
        &self,
        validation: &Validation,
        daticert: &Daticert,
        facts: &Facts,
        local: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Vec<Delivery>, ProviderError> {
        let message = &validation.message;
        // The signed request first: the outer header is anyone's to rewrite.
        let requested = daticert
            .data
            .receipt_type
            .or(message.receipt_type)
            .unwrap_or_default();
        let postacert = message.original.clone().unwrap_or_default();
        let mut deliveries = Vec::new();
        for rcpt in local {
            let outcome = self.predict(rcpt, data.len() as u64)?;
            let kind = receipt::effective_receipt_type(requested, rcpt, &message.to, &message.cc);
            let (unsigned, receipt_id) =
                self.delivery_receipt(facts, rcpt, &outcome, kind, &postacert, now);
            let (receipt, _) = self.seal(&unsigned)?;
            deliveries.push(Delivery {
                rcpt: rcpt.clone(),
                outcome,
                receipt,
                receipt_id,
            });
        }
        Ok(deliveries)
    }

    /// A virus in a valid envelope (RFC 6109 §3.2.3): not delivered, kept 30 months,
    /// one avviso di rilevazione virus per recipient to the sender provider.
    fn virus_found(
        &self,
        facts: &Facts,
        validation: &Validation,
        local: &[String],
        data: &[u8],
        virus: &str,
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        let mail_receipt = mail_receipt(validation);
        let service = self.issuer().service_address();
        let mut notices = Vec::new();
        for rcpt in local {
            let stamp = self.stamp(now);
            let notice =
                receipt::virus_detected(self.issuer(), facts, rcpt, virus, &mail_receipt, &stamp);
            notices.push((self.seal(&notice)?.0, stamp.message_id));
        }
        let quarantined = self.quarantined(data, virus, &facts.sender, now)?;
        self.store().write(|tx| {
            let mut logged = Event::about(EventKind::VirusDetected, facts, now);
            logged.detail = Some(virus.to_string());
            logged.related = notices.iter().map(|(_, id)| id.clone()).collect();
            tx.events().log(logged)?;
            tx.quarantine().keep(&quarantined)?;
            for (blob, _) in &notices {
                tx.queue().enqueue(Job::new(
                    &domain_of(&mail_receipt),
                    &service,
                    vec![mail_receipt.clone()],
                    blob.clone(),
                    now,
                    JobKind::VirusDetected,
                ))?;
            }
            Ok(())
        })?;
        self.wake_relay();
        Ok(Reception::VirusHeld)
    }
}

/// One recipient of a busta taken in charge.
struct Delivery {
    rcpt: String,
    /// What delivering will do, as predicted when the receipt was signed.
    outcome: Outcome,
    /// The signed receipt for the sender.
    receipt: BlobId,
    /// Its Message-ID.
    receipt_id: String,
}

/// What a presa in carico commits, signed beforehand so that the transaction spends
/// no signature: it runs again whenever the committer retries it.
struct TakingCharge {
    facts: Facts,
    /// The provider that signed the busta, as the index names it.
    signer: String,
    /// Our service mailbox, the sender of our receipts.
    service: String,
    local: Vec<String>,
    /// Where the sender's provider takes receipts.
    mail_receipt: String,
    charge_blob: BlobId,
    charge_id: String,
    envelope_blob: BlobId,
    envelope_header: HeaderIndex<String>,
    size: u64,
    message_id: Option<String>,
    deliveries: Vec<Delivery>,
    now: Timestamp,
}

impl TakingCharge {
    fn record(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let (facts, now) = (&self.facts, self.now);
        tx.headers()
            .index(&self.envelope_blob, &self.envelope_header)?;
        let mut taken = Event::about(EventKind::TakenInCharge, facts, now);
        taken.related = vec![self.charge_id.clone()];
        taken.recipients = self.local.clone();
        tx.events().log(taken)?;
        self.send(
            tx,
            &self.mail_receipt,
            &self.charge_blob,
            JobKind::TakenInCharge,
        )?;
        for delivery in &self.deliveries {
            self.deliver(tx, delivery)?;
        }
        Ok(())
    }

    /// Files the busta for one recipient (or records why not) and queues its receipt.
    fn deliver(&self, tx: &mut Tx<'_>, delivery: &Delivery) -> Result<(), StoreError> {
        let (facts, now, rcpt) = (&self.facts, self.now, &delivery.rcpt);
        if !tx
            .ledger()
            .record_arrival(&busta_arrival(&facts.id, &self.signer, rcpt))?
        {
            // Another connection delivered it meanwhile: abort, the peer retries.
            return Err(StoreError::Conflict(format!(
                "{} arrived twice for {rcpt}",
                facts.id
            )));
        }
        let kind = match delivery.outcome {
            Outcome::Deliver => {
                // A mailbox that changed since the prediction aborts the
                // transaction: the peer retries.
                crate::provider::file_in_inbox(
                    tx,
                    rcpt,
                    &self.envelope_blob,
                    self.size,
                    &[ENVELOPE_KEYWORD.to_string()],
                    now,
                    self.message_id.as_deref(),
                )?;
                tx.mailboxes().count_received(rcpt)?;
                EventKind::Delivered
            }
            Outcome::Fail(_) => EventKind::DeliveryError,
        };
        let mut logged = Event::about(kind, facts, now);
        logged.mailbox = Some(rcpt.clone());
        logged.related = vec![delivery.receipt_id.clone()];
        tx.events().log(logged)?;
        self.send(tx, &facts.sender, &delivery.receipt, JobKind::Receipt)
    }

    /// Queues one of our signed notices to `to`, from our service mailbox.
    fn send(
        &self,
        tx: &mut Tx<'_>,
        to: &str,
        blob: &BlobId,
        kind: JobKind,
    ) -> Result<(), StoreError> {
        tx.queue().enqueue(Job::new(
            &domain_of(to),
            &self.service,
            vec![to.to_string()],
            blob.clone(),
            self.now,
            kind,
        ))?;
        Ok(())
    }
}

/// A busta's arrival, under the provider that signed it: an identificativo is unique
/// only among its own provider's, so another provider cannot claim it first.
fn busta_arrival<'a>(pec_id: &'a str, signer: &'a str, mailbox: &'a str) -> Arrival<'a> {
    Arrival {
        tipo: DaticertKind::Transport.as_str(),
        pec_id,
        about: signer,
        mailbox,
    }
}
