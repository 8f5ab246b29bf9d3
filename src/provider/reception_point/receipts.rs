//! A valid receipt or notice at the punto di ricezione: it acts (timers, filing, a
//! virus notice) only when it concerns a message our punto di accesso sent, to a
//! recipient its signer manages, and comes to whom it is for; anything else is an
//! anomaly.

use jiff::Timestamp;

use super::Reception;
use super::signer_name;
use crate::crypto::validation::Validation;
use crate::mail::header_index::HeaderIndex;
use crate::pec::compose::Facts;
use crate::pec::daticert::Daticert;
use crate::pec::index::Provider as IndexedProvider;
use crate::pec::kind::ReceiptKind;
use crate::pec::receipt;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::Sealed;
use crate::provider::access_point::RECEIPT_KEYWORD;
use crate::provider::correlation;
use crate::provider::deliver_notice;
use crate::provider::domain_of;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::ledger::Arrival;
use crate::store::log::Event;
use crate::store::log::EventKind;
use crate::store::mailbox::Appended;

impl Provider {
    /// Whether a valid receipt may act here: it must concern a message our punto di
    /// accesso sent, to a recipient its signer manages, and come to whom that receipt
    /// is for (the sender for a consegna, our service mailbox for provider notices).
    /// `Ok` holds our user who sent the message, `Err` the anomaly's reason.
    pub(super) fn receipt_addressees(
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

    /// A valid receipt or notice: timers for the service mailbox, the mailbox otherwise.
    pub(super) fn receipt_arrived(
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
        if self.receipt_seen(kind, &daticert.data.id, &about, local)? {
            return Ok(Reception::ReceiptAlreadyReceived);
        }
        let facts = Facts::from_daticert(daticert);
        let virus_notice = self.virus_notice(kind, daticert, &facts, now)?;
        let filing = ReceiptFiling {
            kind,
            pec_id: daticert.data.id.clone(),
            about,
            daticert: daticert.clone(),
            facts,
            service: self.issuer().service_address(),
            sender: sender.to_string(),
            local: local.to_vec(),
            blob: self.store().blobs().put(data)?,
            header: HeaderIndex::of_message(data),
            size: data.len() as u64,
            message_id: message.message_id.clone(),
            notice: correlation::Notice::of(message),
            virus_notice,
            now,
        };
        self.store().write_owned(move |tx| filing.record(tx))?;
        Ok(Reception::ReceiptDelivered)
    }

    /// Whether this receipt already arrived for every local recipient.
    fn receipt_seen(
        &self,
        kind: ReceiptKind,
        pec_id: &str,
        about: &str,
        local: &[String],
    ) -> Result<bool, ProviderError> {
        Ok(self.store().read(|tx| {
            for rcpt in local {
                if !tx
                    .ledger()
                    .arrived(&receipt_arrival(kind, pec_id, about, rcpt))?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })?)
    }

    /// A rilevazione virus becomes the user's avviso di mancata consegna per virus:
    /// signed here, with its Message-ID; none for other receipts.
    fn virus_notice(
        &self,
        kind: ReceiptKind,
        daticert: &Daticert,
        facts: &Facts,
        now: Timestamp,
    ) -> Result<Option<(Sealed, String)>, ProviderError> {
        let (ReceiptKind::VirusDetected, Some(recipient)) = (kind, &daticert.data.delivery) else {
            return Ok(None);
        };
        let virus = daticert.data.extended_error.clone().unwrap_or_default();
        let stamp = self.stamp(now);
        let notice = receipt::delivery_error_virus(self.issuer(), facts, recipient, &virus, &stamp);
        Ok(Some((self.seal_notice(&notice)?, stamp.message_id)))
    }
}

/// What a received receipt commits, prepared outside the transaction (which the
/// committer may run again).
struct ReceiptFiling {
    kind: ReceiptKind,
    pec_id: String,
    /// The recipient (or recipients) the receipt is about.
    about: String,
    daticert: Daticert,
    facts: Facts,
    /// Our service mailbox: it keeps no copy, the timers are its record.
    service: String,
    /// Our user who sent the message.
    sender: String,
    local: Vec<String>,
    blob: BlobId,
    header: HeaderIndex<String>,
    size: u64,
    message_id: Option<String>,
    notice: Option<correlation::Notice>,
    virus_notice: Option<(Sealed, String)>,
    now: Timestamp,
}

impl ReceiptFiling {
    fn record(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let (kind, pec_id, now) = (self.kind, &self.pec_id, self.now);
        tx.headers().index(&self.blob, &self.header)?;
        for rcpt in &self.local {
            if !tx
                .ledger()
                .record_arrival(&receipt_arrival(kind, pec_id, &self.about, rcpt))?
            {
                // Another connection brought it meanwhile: abort, the peer retries.
                return Err(StoreError::Conflict(format!(
                    "{} {pec_id} arrived twice for {rcpt}",
                    kind.as_str()
                )));
            }
        }
        let mut logged = Event::about(EventKind::ReceiptReceived, &self.facts, now);
        logged.detail = Some(kind.as_str().to_string());
        tx.events().log(logged)?;
        self.stop_timers(tx)?;
        if let Some((sealed, notice_id)) = &self.virus_notice {
            deliver_notice(tx, &self.sender, sealed, notice_id, now)?;
        }
        self.file(tx)
    }

    /// The 12 h / 24 h timers the receipt answers stop.
    fn stop_timers(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let data = &self.daticert.data;
        match self.kind {
            ReceiptKind::TakenInCharge => {
                for recipient in &data.receptions {
                    tx.timers().taken_in_charge(&self.pec_id, recipient)?;
                }
            }
            ReceiptKind::Delivered | ReceiptKind::DeliveryError | ReceiptKind::VirusDetected => {
                if let Some(recipient) = &data.delivery {
                    tx.timers().delivered(&self.pec_id, recipient)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Files the receipt in each local recipient's INBOX but the service mailbox's.
    fn file(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        // Like our own notices, a receipt restates a fact committed with it (the
        // timers stop): a sender's full or suspended mailbox must not undo it.
        // What the INBOX does not take stays in the registro and the blob store.
        for rcpt in self
            .local
            .iter()
            .filter(|r| !r.eq_ignore_ascii_case(&self.service))
        {
            let appended = crate::provider::append_to_inbox(
                tx,
                rcpt,
                &self.blob,
                self.size,
                &[RECEIPT_KEYWORD.to_string()],
                self.now,
                self.message_id.as_deref(),
            )?;
            if !matches!(appended, Appended::Stored { .. }) {
                tracing::warn!(%rcpt, ?appended, "receipt not filed: the INBOX does not take it");
            }
            correlation::on_notice(tx, rcpt, self.notice.as_ref())?;
        }
        Ok(())
    }
}

/// A receipt's arrival for one recipient mailbox: each receipt acts once.
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
