//! The pacchetto di versamento (SIP) of one message: the message file exactly as
//! received, its descriptive metadata, the SHA-256 of each file, and the ingest checks
//! (conservation.md §1.3). Nothing here does I/O; the bytes come from the store.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use crate::conservation::sha256_hex;
use crate::conservation::xml_escape;
use crate::crypto::smime::Anchors;
use crate::crypto::validation::Validation;
use crate::pec::daticert::Daticert;
use crate::pec::index::ProvidersIndex;
use crate::pec::reader::PecMessage;

/// The format of a message file.
pub const RFC822: &str = "message/rfc822";

/// The metadata of one conserved message (Allegato 5 style, in the SIP and the index).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Metadata {
    /// The SIP's identifier.
    pub sip_id: String,
    /// The mailbox (the producer's holder).
    pub mailbox: String,
    /// When the message was filed in the mailbox.
    pub received: Timestamp,
    /// The detected format (`message/rfc822`).
    pub format: String,
    /// Size of the message in bytes.
    pub size: u64,
    /// SHA-256 of the message file.
    pub sha256: String,
    /// PEC kind: a daticert `tipo`, `anomalia` or `ordinary`.
    pub kind: String,
    /// The message's own Message-ID.
    pub message_id: Option<String>,
    /// The PEC msgid (`X-Riferimento-Message-ID`, or daticert `identificativo`).
    pub pec_id: Option<String>,
    /// From.
    pub from: Option<String>,
    /// To and Cc.
    pub recipients: Vec<String>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The Date header.
    pub date: Option<String>,
    /// daticert.xml fields, by element name.
    pub daticert: BTreeMap<String, String>,
    /// Whether a signature is present.
    pub signature_present: bool,
    /// Whether it verified at ingest.
    pub signature_valid: bool,
    /// The signer's subject.
    pub signer: Option<String>,
    /// The signer certificate's SHA-1.
    pub signer_sha1: Option<String>,
    /// Whether the signer is in the providers index.
    pub signer_in_index: Option<bool>,
    /// Why the signature did not verify, if it did not.
    pub signature_error: Option<String>,
    /// Names of attachments.
    pub attachments: Vec<String>,
    /// The retention class.
    #[serde(default)]
    pub retention_class: String,
    /// Kept at least until then; afterwards only a disposal proposal follows.
    #[serde(default)]
    pub keep_until: Option<Timestamp>,
}

/// The outcome of the ingest checks.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Checked {
    /// Accepted.
    Accepted(Box<Metadata>),
    /// Refused, with the reason; the message stays in the store.
    Refused {
        /// What was found.
        metadata: Box<Metadata>,
        /// Why it was refused.
        reason: String,
    },
}

/// Reads and checks one message. `allowed` lists the accepted formats.
pub fn check(
    sip_id: &str,
    mailbox: &str,
    raw: &[u8],
    received: Timestamp,
    allowed: &[String],
    anchors: Option<&Anchors>,
    index: Option<&ProvidersIndex>,
) -> Checked {
    let mut metadata = Metadata {
        sip_id: sip_id.to_string(),
        mailbox: mailbox.to_string(),
        received,
        format: "application/octet-stream".into(),
        size: raw.len() as u64,
        sha256: sha256_hex(raw),
        kind: "ordinary".into(),
        ..Metadata::default()
    };
    let validation = match Validation::check(raw, anchors, index, received) {
        Ok(validation) => validation,
        Err(error) => {
            return Checked::Refused {
                metadata: Box::new(metadata),
                reason: format!("not an RFC 5322 message: {error}"),
            };
        }
    };
    metadata.format = RFC822.into();
    record_message(&mut metadata, &validation.message, raw);
    record_signature(&mut metadata, &validation);
    if !allowed
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&metadata.format))
    {
        let reason = format!("format {} is not in the allowed list", metadata.format);
        return Checked::Refused {
            metadata: Box::new(metadata),
            reason,
        };
    }
    Checked::Accepted(Box::new(metadata))
}

/// What the message says of itself: kind, ids, addresses, subject, date, attachment
/// names, and its daticert's fields when it has one.
fn record_message(metadata: &mut Metadata, message: &PecMessage, raw: &[u8]) {
    metadata.kind = message.kind.as_str().into();
    metadata.message_id = message.message_id.clone();
    metadata.from = message.from.clone();
    metadata.recipients = message.to.iter().chain(&message.cc).cloned().collect();
    metadata.subject = message.subject.clone();
    if let Ok(parsed) = crate::mail::message::Message::parse(raw) {
        metadata.date = parsed.text("Date");
        metadata.attachments = parsed
            .parsed()
            .attachments()
            .filter_map(|a| mail_parser::MimeHeaders::attachment_name(a).map(str::to_string))
            .collect();
    }
    if let Some(daticert) = &message.daticert {
        record_daticert(metadata, daticert);
    }
    if metadata.pec_id.is_none() {
        metadata.pec_id = message.reference_message_id.clone();
    }
}

/// The daticert.xml fields, by element name, and the PEC id it gives.
fn record_daticert(metadata: &mut Metadata, daticert: &Daticert) {
    let d = &mut metadata.daticert;
    d.insert("tipo".into(), daticert.kind.to_string());
    d.insert("mittente".into(), daticert.header.sender.clone());
    let recipients: Vec<&str> = daticert
        .header
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    d.insert("destinatari".into(), recipients.join(", "));
    if let Some(subject) = &daticert.header.subject {
        d.insert("oggetto".into(), subject.clone());
    }
    d.insert("gestore-emittente".into(), daticert.data.issuer.clone());
    d.insert("data".into(), daticert.data.time.timestamp().to_string());
    d.insert("identificativo".into(), daticert.data.id.clone());
    if let Some(msgid) = &daticert.data.msgid {
        d.insert("msgid".into(), msgid.clone());
    }
    if let Some(delivery) = &daticert.data.delivery {
        d.insert("consegna".into(), delivery.clone());
    }
    metadata.pec_id = Some(daticert.data.id.clone());
}

/// What the signature check at ingest found.
fn record_signature(metadata: &mut Metadata, validation: &Validation) {
    match &validation.signature {
        Some(report) => {
            metadata.signature_present = true;
            metadata.signature_valid = report.valid;
            metadata.signer = report.signer.as_ref().map(|s| s.subject.clone());
            metadata.signer_sha1 = report.signer.as_ref().map(|s| s.sha1.clone());
            metadata.signature_error = report.error.clone();
        }
        None => metadata.signature_error = validation.signature_error.clone(),
    }
    metadata.signer_in_index = validation.index.as_ref().map(|i| i.in_index);
}

/// The body text search indexes: the first text part, decoded, at most 64 Ki characters.
pub fn body_text(raw: &[u8]) -> String {
    crate::mail::message::Message::parse(raw)
        .ok()
        .and_then(|parsed| {
            parsed
                .parsed()
                .body_text(0)
                .map(|text| text.chars().take(65_536).collect())
        })
        .unwrap_or_default()
}

impl Metadata {
    /// The descriptive metadata file of the SIP (`metadata/descriptive/<msg>.xml`).
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<DocumentoPEC xmlns=\"urn:pecd:conservazione:metadati:1\">\n");
        let mut field = |name: &str, value: &str| {
            out.push_str(&format!("  <{name}>{}</{name}>\n", xml_escape(value)));
        };
        field("IdPdV", &self.sip_id);
        field("Casella", &self.mailbox);
        field("DataAcquisizione", &self.received.to_string());
        field("Formato", &self.format);
        field("Dimensione", &self.size.to_string());
        field("ImprontaSHA256", &self.sha256);
        field("TipoPEC", &self.kind);
        let optional = [
            ("MessageID", &self.message_id),
            ("IdentificativoPEC", &self.pec_id),
            ("Mittente", &self.from),
            ("Oggetto", &self.subject),
            ("Data", &self.date),
            ("Firmatario", &self.signer),
            ("FirmatarioSHA1", &self.signer_sha1),
            ("EsitoFirmaErrore", &self.signature_error),
        ];
        for recipient in &self.recipients {
            field("Destinatario", recipient);
        }
        for (name, value) in optional {
            if let Some(value) = value {
                field(name, value);
            }
        }
        field("FirmaPresente", &self.signature_present.to_string());
        field("FirmaValida", &self.signature_valid.to_string());
        if let Some(in_index) = self.signer_in_index {
            field("FirmatarioNellIndice", &in_index.to_string());
        }
        for name in &self.attachments {
            field("Allegato", name);
        }
        for (name, value) in &self.daticert {
            field("Daticert", &format!("{name}={value}"));
        }
        if !self.retention_class.is_empty() {
            field("ClasseConservazione", &self.retention_class);
        }
        if let Some(keep_until) = self.keep_until {
            field("ConservareFinoAl", &keep_until.to_string());
        }
        out.push_str("</DocumentoPEC>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_mail_is_accepted_with_metadata() {
        let raw = b"From: a@b.test\r\nTo: c@d.test\r\nSubject: ciao <&>\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\nbody text\r\n";
        let allowed = vec![RFC822.to_string()];
        let Checked::Accepted(metadata) = check(
            "pdv-1",
            "c@d.test",
            raw,
            Timestamp::now(),
            &allowed,
            None,
            None,
        ) else {
            panic!("refused")
        };
        assert_eq!(metadata.kind, "ordinary");
        assert_eq!(metadata.subject.as_deref(), Some("ciao <&>"));
        assert!(!metadata.signature_present);
        assert!(metadata.to_xml().contains("ciao &lt;&amp;&gt;"));
    }

    #[test]
    fn formats_outside_the_list_are_refused() {
        let raw = b"From: a@b.test\r\n\r\nx";
        let Checked::Refused { reason, .. } =
            check("pdv-2", "c@d.test", raw, Timestamp::now(), &[], None, None)
        else {
            panic!("accepted")
        };
        assert!(reason.contains("allowed"), "{reason}");
    }
}
