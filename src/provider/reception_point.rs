//! Punto di ricezione (RFC 6109 §3.2): takes messages from other providers (and our own
//! relay for same-domain mail), verifies them against the providers index (RFC 6109 §4.5),
//! and acts: a valid busta di trasporto gets one ricevuta di presa in carico and goes to
//! the punto di consegna; a valid receipt goes to its addressee (or updates the timers,
//! for the service mailbox); anything else becomes a busta di anomalia.

use jiff::Timestamp;

use crate::crypto::validation::Validation;
use crate::mail::header_index::HeaderIndex;
use crate::pec::compose::Facts;
use crate::pec::daticert::Daticert;
use crate::pec::envelope;
use crate::pec::id;
use crate::pec::index::Provider as IndexedProvider;
use crate::pec::index::ProvidersIndex;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::Kind;
use crate::pec::kind::ReceiptKind;
use crate::pec::receipt;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::access_point::RECEIPT_KEYWORD;
use crate::provider::correlation;
use crate::provider::deliver_notice;
use crate::provider::delivery_point::ANOMALY_KEYWORD;
use crate::provider::delivery_point::AnomalyRefusal;
use crate::provider::delivery_point::Outcome;
use crate::provider::domain_of;
use crate::store::ledger::Arrival;
use crate::store::log::Event;
use crate::store::log::EventKind;
use crate::store::mailbox::Appended;
use crate::store::mailbox::INBOX;
use crate::store::queue::Job;
use crate::store::queue::JobKind;

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
        let validation = match validation {
            Ok(validation) => validation,
            Err(_) => {
                if let Some(refusal) = self.ordinary_mail_refusal(data.len() as u64) {
                    return Ok(Reception::Refused(refusal));
                }
                return self.anomaly(&local, data, "messaggio non leggibile", "unreadable", now);
            }
        };
        let mut reasons = validation.reasons();
        // At reception the message was just signed: the certificate must be valid now,
        // whatever signing time it claims (RFC 6109 §7: validity period checked).
        if let Some(report) = &validation.signature
            && (report.expired || report.not_yet_valid)
        {
            reasons.push("the signer certificate is not valid now".to_string());
        }
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
                let from_a_provider = kind != Kind::Ordinary
                    && validation.signature.as_ref().is_some_and(|r| r.valid)
                    && validation
                        .index
                        .as_ref()
                        .is_some_and(|i| i.certificate_matches);
                if !from_a_provider
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

    /// A valid busta di trasporto is delivered only to the mailboxes its daticert
    /// names, and to each once: anyone holding a genuine busta can hand it to our MX
    /// again, addressed to anyone. Other local recipients get it as an anomaly.
    fn transport_arrived(
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
        let signer = signer_name(validation);
        let bracketed = id::bracketed(&daticert.data.id);
        let fresh: Vec<String> = self.store().read(|tx| {
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
        })?;
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

    /// Whether a valid receipt may act here: it must concern a message our punto di
    /// accesso sent, to a recipient its signer manages, and come to whom that receipt
    /// is for (the sender for a consegna, our service mailbox for provider notices).
    /// `Ok` holds our user who sent the message, `Err` the anomaly's reason.
    fn receipt_addressees(
        &self,
        kind: ReceiptKind,
        daticert: &Daticert,
        signer: Option<&IndexedProvider>,
        local: &[String],
    ) -> Result<Result<String, String>, ProviderError> {
        let about: Vec<&String> = match kind {
            ReceiptKind::TakenInCharge => daticert.data.receptions.iter().collect(),
            ReceiptKind::Delivered | ReceiptKind::DeliveryError | ReceiptKind::VirusDetected => {
                daticert.data.delivery.iter().collect()
            }
            _ => Vec::new(),
        };
        if about.is_empty() {
            return Ok(Err(format!(
                "ricevuta {} non attesa da un altro gestore",
                kind.as_str()
            )));
        }
        let service = self.issuer().service_address();
        let to_service = matches!(
            kind,
            ReceiptKind::TakenInCharge | ReceiptKind::VirusDetected
        );
        let pec_id = &daticert.data.id;
        Ok(self.store().read(|tx| {
            let mut sent_by = String::new();
            for recipient in &about {
                let Some(sender) = tx.ledger().sent_by(pec_id, recipient)? else {
                    return Ok(Err(
                        "la ricevuta non riguarda un messaggio inviato da questo gestore"
                            .to_string(),
                    ));
                };
                if !signer.is_some_and(|provider| provider.manages(&domain_of(recipient))) {
                    return Ok(Err(
                        "il gestore firmatario non gestisce il destinatario della ricevuta"
                            .to_string(),
                    ));
                }
                let owner = if to_service { &service } else { &sender };
                if local.is_empty() || local.iter().any(|rcpt| !rcpt.eq_ignore_ascii_case(owner)) {
                    return Ok(Err(
                        "la ricevuta è indirizzata a chi non ha inviato il messaggio".to_string(),
                    ));
                }
                sent_by = sender;
            }
            Ok(Ok(sent_by))
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
        let message = &validation.message;
        let facts = Facts::from_daticert(daticert);
        if let Some(virus) = self.scan(data)? {
            return self.virus_found(&facts, validation, local, data, &virus, now);
        }
        let mail_receipt = validation
            .index
            .as_ref()
            .and_then(|i| i.mail_receipt.clone())
            .unwrap_or_default();
        let service = self.issuer().service_address();

        let charge_stamp = self.stamp(now);
        let charge =
            receipt::taken_in_charge(self.issuer(), &facts, local, &mail_receipt, &charge_stamp);
        let (charge_blob, _) = self.seal(&charge)?;

        // The signed request first: the outer header is anyone's to rewrite.
        let requested = daticert
            .data
            .receipt_type
            .or(message.receipt_type)
            .unwrap_or_default();
        let postacert = message.original.clone().unwrap_or_default();
        let envelope_blob = self.store().blobs().put(data)?;
        // SEARCH, SORT and THREAD read the header from the index, not the body.
        let envelope_header = HeaderIndex::of_message(data);
        let mut deliveries = Vec::new();
        for rcpt in local {
            let outcome = self.predict(rcpt, data.len() as u64)?;
            let kind = receipt::effective_receipt_type(requested, rcpt, &message.to, &message.cc);
            let (unsigned, receipt_id) =
                self.delivery_receipt(&facts, rcpt, &outcome, kind, &postacert, now);
            let (blob, _) = self.seal(&unsigned)?;
            deliveries.push((rcpt.clone(), outcome, blob, receipt_id));
        }
        let sender_domain = domain_of(&facts.sender);
        let message_id = message.message_id.clone();
        let signer = signer_name(validation);
        let (local, charge_id, size, id) = (
            local.to_vec(),
            charge_stamp.message_id,
            data.len() as u64,
            facts.id.clone(),
        );
        self.store().write_owned(move |tx| {
            tx.headers().index(&envelope_blob, &envelope_header)?;
            let mut taken = Event::about(EventKind::TakenInCharge, &facts, now);
            taken.related = vec![charge_id.clone()];
            taken.recipients = local.to_vec();
            tx.events().log(taken)?;
            tx.queue().enqueue(Job::new(
                &domain_of(&mail_receipt),
                &service,
                vec![mail_receipt.clone()],
                charge_blob.clone(),
                now,
                JobKind::TakenInCharge,
            ))?;
            for (rcpt, outcome, blob, receipt_id) in &deliveries {
                if !tx
                    .ledger()
                    .record_arrival(&busta_arrival(&facts.id, &signer, rcpt))?
                {
                    // Another connection delivered it meanwhile: abort, the peer retries.
                    return Err(crate::store::StoreError::Conflict(format!(
                        "{} arrived twice for {rcpt}",
                        facts.id
                    )));
                }
                let kind = match outcome {
                    Outcome::Deliver => {
                        // A mailbox that changed since the prediction aborts the
                        // transaction: the peer retries.
                        super::file_in_inbox(
                            tx,
                            rcpt,
                            &envelope_blob,
                            size,
                            &[ENVELOPE_KEYWORD.to_string()],
                            now,
                            message_id.as_deref(),
                        )?;
                        tx.mailboxes().count_received(rcpt)?;
                        EventKind::Delivered
                    }
                    Outcome::Fail(_) => EventKind::DeliveryError,
                };
                let mut logged = Event::about(kind, &facts, now);
                logged.mailbox = Some(rcpt.clone());
                logged.related = vec![receipt_id.clone()];
                tx.events().log(logged)?;
                tx.queue().enqueue(Job::new(
                    &sender_domain,
                    &service,
                    vec![facts.sender.clone()],
                    blob.clone(),
                    now,
                    JobKind::Receipt,
                ))?;
            }
            Ok(())
        })?;
        self.wake_relay();
        Ok(Reception::TakenInCharge(id))
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
        let mail_receipt = validation
            .index
            .as_ref()
            .and_then(|i| i.mail_receipt.clone())
            .unwrap_or_default();
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

    /// A valid receipt or notice: timers for the service mailbox, the mailbox otherwise.
    fn receipt_arrived(
        &self,
        kind: ReceiptKind,
        validation: &Validation,
        sender: &str,
        local: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Reception, ProviderError> {
        self.metrics().receipt_received(kind.as_str());
        tracing::info!(kind = kind.as_str(), peer = %signer_name(validation), mailbox = %sender, "ricevuta ricevuta");
        let message = &validation.message;
        let Some(daticert) = &message.daticert else {
            return self.anomaly(
                local,
                data,
                "dati di certificazione assenti",
                "no_daticert",
                now,
            );
        };
        let about = daticert
            .data
            .delivery
            .clone()
            .unwrap_or_else(|| daticert.data.receptions.join(","));
        let seen = self.store().read(|tx| {
            for rcpt in local {
                if !tx
                    .ledger()
                    .arrived(&receipt_arrival(kind, &daticert.data.id, &about, rcpt))?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if seen {
            return Ok(Reception::ReceiptAlreadyReceived);
        }
        let service = self.issuer().service_address();
        let pec_id = daticert.data.id.clone();
        let facts = Facts::from_daticert(daticert);
        // A rilevazione virus becomes the user's avviso di mancata consegna per virus.
        let virus_notice = match (kind, &daticert.data.delivery) {
            (ReceiptKind::VirusDetected, Some(recipient)) => {
                let virus = daticert.data.extended_error.clone().unwrap_or_default();
                let stamp = self.stamp(now);
                let notice =
                    receipt::delivery_error_virus(self.issuer(), &facts, recipient, &virus, &stamp);
                Some((self.seal_notice(&notice)?, stamp.message_id))
            }
            _ => None,
        };
        let blob = self.store().blobs().put(data)?;
        let header = HeaderIndex::of_message(data);
        let message_id = message.message_id.clone();
        let notice = correlation::Notice::of(message);
        let (daticert, sender, local, size) = (
            daticert.clone(),
            sender.to_string(),
            local.to_vec(),
            data.len() as u64,
        );
        self.store().write_owned(move |tx| {
            tx.headers().index(&blob, &header)?;
            for rcpt in &local {
                if !tx.ledger().record_arrival(&receipt_arrival(kind, &pec_id, &about, rcpt))? {
                    // Another connection brought it meanwhile: abort, the peer retries.
                    return Err(crate::store::StoreError::Conflict(format!(
                        "{} {pec_id} arrived twice for {rcpt}",
                        kind.as_str()
                    )));
                }
            }
            let mut logged = Event::about(EventKind::ReceiptReceived, &facts, now);
            logged.detail = Some(kind.as_str().to_string());
            tx.events().log(logged)?;
            match kind {
                ReceiptKind::TakenInCharge => {
                    for recipient in &daticert.data.receptions {
                        tx.timers().taken_in_charge(&pec_id, recipient)?;
                    }
                }
                ReceiptKind::Delivered
                | ReceiptKind::DeliveryError
                | ReceiptKind::VirusDetected => {
                    if let Some(recipient) = &daticert.data.delivery {
                        tx.timers().delivered(&pec_id, recipient)?;
                    }
                }
                _ => {}
            }
            if let Some((sealed, notice_id)) = &virus_notice {
                deliver_notice(tx, &sender, sealed, notice_id, now)?;
            }
            // Like our own notices, a receipt restates a fact committed with it (the
            // timers stop): a sender's full or suspended mailbox must not undo it.
            // What the INBOX does not take stays in the registro and the blob store.
            for rcpt in local.iter().filter(|r| !r.eq_ignore_ascii_case(&service)) {
                let appended = super::append_to_inbox(
                    tx,
                    rcpt,
                    &blob,
                    size,
                    &[RECEIPT_KEYWORD.to_string()],
                    now,
                    message_id.as_deref(),
                )?;
                if !matches!(appended, Appended::Stored { .. }) {
                    tracing::warn!(%rcpt, ?appended, "receipt not filed: the INBOX does not take it");
                }
                correlation::on_notice(tx, rcpt, notice.as_ref())?;
            }
            Ok(())
        })?;
        Ok(Reception::ReceiptDelivered)
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

fn receipt_arrival<'a>(
    kind: ReceiptKind,
    pec_id: &'a str,
    about: &'a str,
    mailbox: &'a str,
) -> Arrival<'a> {
    Arrival {
        tipo: kind.as_str(),
        pec_id,
        about,
        mailbox,
    }
}
