//! Buste: the busta di trasporto that carries a submitted message to its recipients
//! (RFC 6109 §3.1.5) and the busta di anomalia that wraps whatever arrives
//! from outside and is not valid PEC (§3.2.2).

use crate::mail::message::Message;
use crate::mail::message::MessageError;
use crate::mail::message::rewrite_headers;
use crate::mail::message::to_crlf;
use crate::pec::compose;
use crate::pec::compose::Facts;
use crate::pec::compose::HeaderList;
use crate::pec::compose::Issuer;
use crate::pec::compose::Stamp;
use crate::pec::compose::Unsigned;
use crate::pec::daticert::Recipient;
use crate::pec::headers;
use crate::pec::headers::SubjectPrefix;
use crate::pec::id;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ReceiptType;
use crate::pec::kind::RecipientType;
use crate::pec::text;
use crate::pec::text::Notice;

/// Header fields the envelope copies unchanged from the original (RFC 6109 §3.1.5).
const TRANSPORT_KEEPS: [&str; 5] = ["Received", "To", "Cc", "Return-Path", "Reply-To"];
/// Header fields the anomaly envelope copies unchanged from the received message.
const ANOMALY_KEEPS: [&str; 6] = [
    "Received",
    "To",
    "Cc",
    "Return-Path",
    "Reply-To",
    "Message-ID",
];

/// A message as a user submitted it, in canonical CRLF form, with the header data the
/// certification needs. The messaggio originale of the regulation.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Original {
    raw: Vec<u8>,
    from: Vec<String>,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    reply_to: Option<String>,
    subject: Option<String>,
    message_id: Option<String>,
    receipt_type: Option<ReceiptType>,
}

impl Original {
    /// Reads a submitted message. Line ends become CRLF; nothing else changes.
    pub fn parse(raw: &[u8]) -> Result<Original, MessageError> {
        let raw = to_crlf(raw).into_owned();
        let message = Message::parse(&raw)?;
        let receipt_type = message
            .text(headers::RECEIPT_TYPE)
            .and_then(|value| ReceiptType::parse(&value));
        let original = Original {
            from: message.addresses("From"),
            to: message.addresses("To"),
            cc: message.addresses("Cc"),
            bcc: message.addresses("Bcc"),
            reply_to: message.addresses("Reply-To").into_iter().next(),
            subject: message.subject(),
            message_id: message.message_id(),
            receipt_type,
            raw: Vec::new(),
        };
        Ok(Original { raw, ..original })
    }

    /// The canonical bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The `From` addresses (the rules require exactly one).
    pub fn from(&self) -> &[String] {
        &self.from
    }

    /// The `To` addresses.
    pub fn to(&self) -> &[String] {
        &self.to
    }

    /// The `Cc` addresses.
    pub fn cc(&self) -> &[String] {
        &self.cc
    }

    /// The `Bcc` addresses (the rules require none).
    pub fn bcc(&self) -> &[String] {
        &self.bcc
    }

    /// The first `Reply-To` address.
    pub fn reply_to(&self) -> Option<&str> {
        self.reply_to.as_deref()
    }

    /// The decoded subject.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The client's Message-ID, with brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The receipt type asked for with `X-TipoRicevuta` (default `completa`).
    pub fn receipt_type(&self) -> ReceiptType {
        self.receipt_type.unwrap_or_default()
    }

    /// Uses `default` (the mailbox's choice) when the message asks for no receipt type.
    pub fn default_receipt_type(&mut self, default: ReceiptType) {
        self.receipt_type.get_or_insert(default);
    }

    /// The facts the certification restates. `sender` is the SMTP reverse-path;
    /// `classify` tells certified from external recipients (the providers index).
    pub fn facts(&self, sender: &str, id: &str, classify: impl Fn(&str) -> RecipientType) -> Facts {
        let recipients = self
            .to
            .iter()
            .chain(&self.cc)
            .map(|address| Recipient {
                address: address.clone(),
                kind: classify(address),
            })
            .collect();
        Facts {
            sender: sender.to_string(),
            recipients,
            reply_to: self.reply_to.clone().unwrap_or_else(|| sender.to_string()),
            subject: self.subject.clone(),
            id: id.to_string(),
            msgid: self.message_id.clone(),
        }
    }

    /// `postacert.eml`: the original with its Message-ID replaced by the PEC msgid and
    /// `X-Riferimento-Message-ID` added (RFC 6109 §2.2.1).
    pub fn postacert(&self, facts: &Facts) -> Vec<u8> {
        let mut prepend = Vec::new();
        if let Some(msgid) = &facts.msgid {
            prepend.push((headers::REFERENCE_MESSAGE_ID.to_string(), msgid.clone()));
        }
        prepend.push(("Message-ID".to_string(), id::bracketed(&facts.id)));
        rewrite_headers(
            &self.raw,
            &["Message-ID", headers::REFERENCE_MESSAGE_ID],
            &prepend,
        )
    }
}

/// Builds the busta di trasporto. The envelope's own Message-ID is the PEC msgid
/// (`facts.id`), its time the acceptance time.
pub fn transport(issuer: &Issuer, facts: &Facts, original: &Original, stamp: &Stamp) -> Unsigned {
    let postacert = original.postacert(facts);
    let mut daticert = facts.daticert(DaticertKind::Transport, issuer, stamp);
    daticert.data.receipt_type = Some(original.receipt_type());
    let notice = Notice::new("Messaggio di posta certificata")
        .paragraph(
            [
                format!(
                    "{} il messaggio {} è stato inviato da {}",
                    text::on(&stamp.time),
                    text::quoted(facts.subject_text()),
                    text::quoted(&facts.sender)
                ),
                "indirizzato a:".to_string(),
            ]
            .into_iter()
            .chain(facts.recipients.iter().map(text::recipient_line)),
        )
        .line("Il testo originale si trova nell'allegato postacert.eml.")
        .line(text::identifier(&facts.id))
        .line("L'allegato daticert.xml contiene informazioni di servizio sulla trasmissione.");

    let kept = Message::parse(original.raw()).ok();
    let mut list = HeaderList::new();
    if let Some(message) = &kept {
        list = copy_headers(list, message, &TRANSPORT_KEEPS);
    }
    if original.reply_to().is_none() {
        list = list.address("Reply-To", None, &facts.sender);
    }
    let mut list = list
        .raw(headers::TRANSPORT, headers::TRANSPORT_CERTIFIED)
        .raw("Date", &stamp.time.rfc5322())
        .text(
            "Subject",
            &SubjectPrefix::Transport.apply(facts.subject_text()),
        )
        .address(
            "From",
            Some(&format!("Per conto di: {}", facts.sender)),
            &issuer.service_address(),
        )
        .message_id("Message-ID", &facts.id);
    if let Some(msgid) = &facts.msgid {
        list = list.raw(headers::REFERENCE_MESSAGE_ID, msgid);
    }
    let list = list.raw(headers::RECEIPT_TYPE, original.receipt_type().as_str());
    Unsigned {
        headers: list.finish(),
        entity: compose::entity(&facts.id, &notice, Some(&daticert), Some(&postacert)),
        daticert: Some(daticert),
    }
}

/// Builds the busta di anomalia around a received message that is not valid PEC.
/// `error` is the short description the text states ("firma non valida", …).
pub fn anomaly(issuer: &Issuer, received: &[u8], error: &str, stamp: &Stamp) -> Unsigned {
    let received = to_crlf(received);
    let message = Message::parse(&received).ok();
    let sender = message
        .as_ref()
        .and_then(|m| m.addresses("From").into_iter().next())
        .unwrap_or_default();
    let subject = message
        .as_ref()
        .and_then(Message::subject)
        .unwrap_or_default();
    let recipients: Vec<String> = message
        .as_ref()
        .map(|m| {
            m.addresses("To")
                .into_iter()
                .chain(m.addresses("Cc"))
                .collect()
        })
        .unwrap_or_default();

    let notice = anomaly_notice(&subject, &sender, &recipients, error, stamp);
    let list = anomaly_headers(issuer, message.as_ref(), &sender, &subject, stamp);
    Unsigned {
        headers: list.finish(),
        entity: compose::entity_with(
            &stamp.message_id,
            &notice,
            None,
            Some((compose::POSTACERT, &received)),
        ),
        daticert: None,
    }
}

/// The text of a busta di anomalia: what arrived, from whom, to whom, and the error.
fn anomaly_notice(
    subject: &str,
    sender: &str,
    recipients: &[String],
    error: &str,
    stamp: &Stamp,
) -> Notice {
    Notice::new("Anomalia nel messaggio")
        .paragraph(
            [
                format!(
                    "{} è stato ricevuto il messaggio {} proveniente da {}",
                    text::on(&stamp.time),
                    text::quoted(subject),
                    text::quoted(sender)
                ),
                "indirizzato a:".to_string(),
            ]
            .into_iter()
            .chain(recipients.iter().cloned()),
        )
        .line(format!(
            "Tali dati non sono stati certificati per il seguente errore: {error}."
        ))
        .line("Il messaggio originale è incluso in allegato.")
}

/// The header of a busta di anomalia: the received message's own (those the regulation
/// keeps), a Reply-To to its sender and a Message-ID where it had none, then ours.
fn anomaly_headers(
    issuer: &Issuer,
    message: Option<&Message<'_>>,
    sender: &str,
    subject: &str,
    stamp: &Stamp,
) -> HeaderList {
    let mut list = HeaderList::new();
    let mut has_reply_to = false;
    if let Some(message) = message {
        list = copy_headers(list, message, &ANOMALY_KEEPS);
        has_reply_to = message.has("Reply-To");
    }
    if !has_reply_to && !sender.is_empty() {
        list = list.address("Reply-To", None, sender);
    }
    if !message.is_some_and(|m| m.has("Message-ID")) {
        list = list.message_id("Message-ID", &stamp.message_id);
    }
    list.raw(headers::TRANSPORT, headers::TRANSPORT_ERROR)
        .raw("Date", &stamp.time.rfc5322())
        .text("Subject", &SubjectPrefix::Anomaly.apply(subject))
        .address(
            "From",
            Some(&format!("Per conto di: {sender}")),
            &issuer.service_address(),
        )
}

fn copy_headers(mut list: HeaderList, message: &Message<'_>, names: &[&str]) -> HeaderList {
    for name in names {
        for value in message.raw_values(name) {
            list = list.raw(name, value);
        }
    }
    list
}
