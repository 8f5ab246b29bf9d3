//! Ricevute e avvisi: every receipt and notice a provider issues (RFC 6109 §3, spec
//! §4.1–§4.11). Each builder returns an [`Unsigned`] message whose headers, subject
//! prefix, addressing and daticert follow the rules for its kind.

use crate::pec::breve;
use crate::pec::compose;
use crate::pec::compose::Facts;
use crate::pec::compose::HeaderList;
use crate::pec::compose::Issuer;
use crate::pec::compose::Stamp;
use crate::pec::compose::Unsigned;
use crate::pec::daticert::Daticert;
use crate::pec::headers;
use crate::pec::headers::SubjectPrefix;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ErrorCode;
use crate::pec::kind::ReceiptKind;
use crate::pec::kind::ReceiptType;
use crate::pec::text;
use crate::pec::text::Notice;

/// Why a delivery failed, with its NOTA 12 style `errore-esteso`
/// (`<code> - <Gestore> - <description>`, DigitPA/AgID NOTA 12 of 05/10/2015).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum DeliveryFailure {
    /// The mailbox does not exist: `5.1.1`, `errore="no-dest"`.
    UnknownMailbox,
    /// The domain is not served here: `5.1.2`, `errore="no-dominio"`.
    UnknownDomain,
    /// The mailbox exists but is suspended: `5.2.1`.
    MailboxSuspended,
    /// The mailbox is over quota: `5.2.2`.
    MailboxFull,
    /// Anything else, with its enhanced status code and description.
    Other {
        /// An RFC 3463 enhanced status code, e.g. `5.3.0`.
        code: String,
        /// A short Italian description.
        description: String,
    },
}

impl DeliveryFailure {
    /// The daticert `errore` attribute.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            DeliveryFailure::UnknownMailbox => ErrorCode::NoDest,
            DeliveryFailure::UnknownDomain => ErrorCode::NoDomain,
            _ => ErrorCode::Other,
        }
    }

    /// The `errore-esteso` text.
    pub fn extended(&self, issuer: &Issuer) -> String {
        let (code, description) = match self {
            DeliveryFailure::UnknownMailbox => ("5.1.1", "indirizzo non valido"),
            DeliveryFailure::UnknownDomain => ("5.1.2", "dominio non valido"),
            DeliveryFailure::MailboxSuspended => ("5.2.1", "casella di posta sospesa"),
            DeliveryFailure::MailboxFull => ("5.2.2", "casella di posta piena"),
            DeliveryFailure::Other { code, description } => (code.as_str(), description.as_str()),
        };
        format!("{code} - {} - {description}", issuer.name)
    }
}

/// Which timeout notice (RFC 6109 §3.1.6).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Timeout {
    /// The 12 h preavviso: neither presa in carico nor consegna yet.
    Warning12h,
    /// The final 24 h avviso (`5.4.1`): the transaction ended with a negative outcome.
    Final24h,
}

impl Timeout {
    /// The `errore-esteso` text; consumers tell the two apart by the `5.4.1` code.
    pub fn extended(self, issuer: &Issuer) -> String {
        match self {
            Timeout::Warning12h => format!(
                "4.4.7 - {} - il messaggio non è stato consegnato nelle prime dodici ore dal suo invio",
                issuer.name
            ),
            Timeout::Final24h => format!(
                "5.4.1 - {} - il messaggio non è stato consegnato nelle ventiquattro ore successive al suo invio",
                issuer.name
            ),
        }
    }
}

/// The receipt type one recipient gets (RFC 6109 §3.3.2): primary (To) recipients get
/// what the sender asked for; carbon-copy (Cc) recipients get `sintetica`; a recipient
/// in both, or in neither, counts as primary.
pub fn effective_receipt_type(
    requested: ReceiptType,
    recipient: &str,
    to: &[String],
    cc: &[String],
) -> ReceiptType {
    let in_to = to.iter().any(|a| a.eq_ignore_ascii_case(recipient));
    let in_cc = cc.iter().any(|a| a.eq_ignore_ascii_case(recipient));
    if in_cc && !in_to {
        ReceiptType::Summary
    } else {
        requested
    }
}

/// Ricevuta di accettazione (§4.1): to the sender, no original.
pub fn acceptance(issuer: &Issuer, facts: &Facts, stamp: &Stamp) -> Unsigned {
    let notice = Notice::new("Ricevuta di accettazione")
        .paragraph(addressed(facts, stamp, "il messaggio", "proveniente da"))
        .line("è stato accettato dal sistema ed inoltrato.")
        .line(text::identifier(&facts.id));
    let daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::Acceptance),
        issuer,
        stamp,
    );
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::Acceptance,
        false,
        &notice,
        &daticert,
        None,
    )
}

/// Avviso di non accettazione (§4.2) for a formal error, stated in `reason`.
pub fn non_acceptance(issuer: &Issuer, facts: &Facts, reason: &str, stamp: &Stamp) -> Unsigned {
    let notice = Notice::new("Avviso di non accettazione")
        .paragraph(addressed(facts, stamp, "nel messaggio", "proveniente da"))
        .line(format!(
            "è stato rilevato un problema che ne impedisce l'accettazione a causa di: {reason}."
        ))
        .line("Il messaggio non è stato accettato.")
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::NonAcceptance),
        issuer,
        stamp,
    );
    daticert.error = ErrorCode::Other;
    daticert.data.extended_error = Some(reason.to_string());
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::NonAcceptance,
        false,
        &notice,
        &daticert,
        None,
    )
}

/// Avviso di non accettazione per virus (§4.3): `X-VerificaSicurezza: errore`.
pub fn non_acceptance_virus(
    issuer: &Issuer,
    facts: &Facts,
    virus: &str,
    stamp: &Stamp,
) -> Unsigned {
    let notice = Notice::new("Avviso di non accettazione per virus")
        .paragraph(addressed(facts, stamp, "nel messaggio", "proveniente da"))
        .line(format!(
            "è stato rilevato un problema di sicurezza: {virus}."
        ))
        .line("Il messaggio non è stato accettato.")
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::NonAcceptance),
        issuer,
        stamp,
    );
    daticert.error = ErrorCode::Virus;
    daticert.data.extended_error = Some(virus_extended(issuer, virus));
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::NonAcceptance,
        true,
        &notice,
        &daticert,
        None,
    )
}

/// Ricevuta di presa in carico (§4.5): to the sender provider's service mailbox
/// (`mail_receipt` from the index), covering `receptions`, the local recipients.
pub fn taken_in_charge(
    issuer: &Issuer,
    facts: &Facts,
    receptions: &[String],
    mail_receipt: &str,
    stamp: &Stamp,
) -> Unsigned {
    let notice = Notice::new("Ricevuta di presa in carico")
        .paragraph(
            [
                lead(facts, stamp, "il messaggio", "proveniente da"),
                "indirizzato a:".to_string(),
            ]
            .into_iter()
            .chain(receptions.iter().cloned()),
        )
        .line("è stato accettato dal sistema.")
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::TakenInCharge),
        issuer,
        stamp,
    );
    daticert.data.receptions = receptions.to_vec();
    build(
        issuer,
        facts,
        stamp,
        ReceiptKind::TakenInCharge,
        false,
        mail_receipt,
        &notice,
        &daticert,
        None,
        None,
    )
}

/// Ricevuta di avvenuta consegna (§4.7) for one recipient. `receipt_type` is the
/// effective type ([`effective_receipt_type`]); `postacert` the original as carried in
/// the envelope: included whole (completa), with attachments hashed (breve), or not at
/// all (sintetica).
pub fn delivered(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    receipt_type: ReceiptType,
    postacert: &[u8],
    stamp: &Stamp,
) -> Unsigned {
    let notice = Notice::new("Ricevuta di avvenuta consegna")
        .line(format!(
            "{} è stato posto nella casella di destinazione.",
            single(facts, stamp, "il messaggio", recipient)
        ))
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(DaticertKind::Receipt(ReceiptKind::Delivered), issuer, stamp);
    daticert.data.receipt_type = Some(receipt_type);
    daticert.data.delivery = Some(recipient.to_string());
    let original = match receipt_type {
        ReceiptType::Full => Some(postacert.to_vec()),
        ReceiptType::Short => Some(breve::hash_attachments(postacert)),
        ReceiptType::Summary => None,
    };
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::Delivered,
        false,
        &notice,
        &daticert,
        original.as_deref(),
    )
}

/// Avviso di mancata consegna (§4.8) for one recipient.
pub fn delivery_error(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    failure: &DeliveryFailure,
    stamp: &Stamp,
) -> Unsigned {
    let extended = failure.extended(issuer);
    let notice = Notice::new("Avviso di mancata consegna")
        .line(format!(
            "{} è stato rilevato un errore: {extended}.",
            single(facts, stamp, "nel messaggio", recipient)
        ))
        .line("Il messaggio è stato rifiutato dal sistema.")
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::DeliveryError),
        issuer,
        stamp,
    );
    daticert.error = failure.error_code();
    daticert.data.delivery = Some(recipient.to_string());
    daticert.data.extended_error = Some(extended);
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::DeliveryError,
        false,
        &notice,
        &daticert,
        None,
    )
}

/// Avviso di mancata consegna per virus (§4.11), built by the sender's provider from
/// a rilevazione virus: `X-VerificaSicurezza: errore`, `errore="virus"`.
pub fn delivery_error_virus(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    virus: &str,
    stamp: &Stamp,
) -> Unsigned {
    let (notice, daticert) = virus_parts(
        issuer,
        facts,
        recipient,
        virus,
        stamp,
        (
            "Avviso di mancata consegna per virus",
            "Il messaggio non è stato consegnato.",
        ),
        ReceiptKind::DeliveryError,
    );
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::DeliveryError,
        true,
        &notice,
        &daticert,
        None,
    )
}

/// Preavviso (12 h) or avviso (24 h) di mancata consegna per superamento dei tempi
/// massimi (§4.9), for one recipient, to the sender.
pub fn delivery_warning(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    timeout: Timeout,
    stamp: &Stamp,
) -> Unsigned {
    let (title, outcome) = match timeout {
        Timeout::Warning12h => (
            "Preavviso di mancata consegna",
            "non è stato consegnato nelle prime dodici ore dal suo invio. Qualora non si riceva \
             la ricevuta di avvenuta consegna nelle successive dodici ore, seguirà un ulteriore avviso.",
        ),
        Timeout::Final24h => (
            "Avviso di mancata consegna per superamento dei tempi massimi",
            "non è stato consegnato nelle ventiquattro ore successive al suo invio. La transazione \
             è da considerarsi conclusa con esito negativo.",
        ),
    };
    let notice = Notice::new(title)
        .line(format!(
            "{} {outcome}",
            single(facts, stamp, "il messaggio", recipient)
        ))
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(
        DaticertKind::Receipt(ReceiptKind::DeliveryWarning),
        issuer,
        stamp,
    );
    daticert.data.delivery = Some(recipient.to_string());
    daticert.data.extended_error = Some(timeout.extended(issuer));
    to_sender(
        issuer,
        facts,
        stamp,
        ReceiptKind::DeliveryWarning,
        false,
        &notice,
        &daticert,
        None,
    )
}

/// Avviso di rilevazione virus (§4.10): provider to provider, one per recipient, to the
/// sender provider's service mailbox, with `X-Mittente: <original sender>`.
pub fn virus_detected(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    virus: &str,
    mail_receipt: &str,
    stamp: &Stamp,
) -> Unsigned {
    let (notice, daticert) = virus_parts(
        issuer,
        facts,
        recipient,
        virus,
        stamp,
        (
            "Problema di sicurezza",
            "Il messaggio non è stato inoltrato al destinatario.",
        ),
        ReceiptKind::VirusDetected,
    );
    build(
        issuer,
        facts,
        stamp,
        ReceiptKind::VirusDetected,
        false,
        mail_receipt,
        &notice,
        &daticert,
        None,
        Some(&facts.sender),
    )
}

/// The text and daticert the two per-recipient virus notices share (§4.10, §4.11).
fn virus_parts(
    issuer: &Issuer,
    facts: &Facts,
    recipient: &str,
    virus: &str,
    stamp: &Stamp,
    (title, outcome): (&str, &str),
    kind: ReceiptKind,
) -> (Notice, Daticert) {
    let notice = Notice::new(title)
        .line(format!(
            "{} è stato rilevato un problema di sicurezza: {virus}.",
            single(facts, stamp, "nel messaggio", recipient)
        ))
        .line(outcome)
        .line(text::identifier(&facts.id));
    let mut daticert = facts.daticert(DaticertKind::Receipt(kind), issuer, stamp);
    daticert.error = ErrorCode::Virus;
    daticert.data.delivery = Some(recipient.to_string());
    daticert.data.extended_error = Some(virus_extended(issuer, virus));
    (notice, daticert)
}

fn virus_extended(issuer: &Issuer, virus: &str) -> String {
    format!("5.7.1 - {} - virus rilevato: {virus}", issuer.name)
}

/// `Il giorno … il messaggio "…" proveniente da "…"`.
fn lead(facts: &Facts, stamp: &Stamp, what: &str, from: &str) -> String {
    format!(
        "{} {what} {} {from} {}",
        text::on(&stamp.time),
        text::quoted(facts.subject_text()),
        text::quoted(&facts.sender)
    )
}

/// The lead plus `ed indirizzato a:` and one line per recipient with its kind.
fn addressed(facts: &Facts, stamp: &Stamp, what: &str, from: &str) -> Vec<String> {
    [
        lead(facts, stamp, what, from),
        "ed indirizzato a:".to_string(),
    ]
    .into_iter()
    .chain(facts.recipients.iter().map(text::recipient_line))
    .collect()
}

/// The lead for a notice about one recipient.
fn single(facts: &Facts, stamp: &Stamp, what: &str, recipient: &str) -> String {
    format!(
        "{} ed indirizzato a {}",
        lead(facts, stamp, what, "proveniente da"),
        text::quoted(recipient)
    )
}

#[allow(clippy::too_many_arguments)]
fn to_sender(
    issuer: &Issuer,
    facts: &Facts,
    stamp: &Stamp,
    kind: ReceiptKind,
    virus: bool,
    notice: &Notice,
    daticert: &Daticert,
    original: Option<&[u8]>,
) -> Unsigned {
    build(
        issuer,
        facts,
        stamp,
        kind,
        virus,
        &facts.sender,
        notice,
        daticert,
        original,
        None,
    )
}

/// Headers in the order real providers write them (Aruba: Subject,
/// X-Riferimento-Message-ID, Date, Message-ID, To, From, X-Ricevuta).
#[allow(clippy::too_many_arguments)]
fn build(
    issuer: &Issuer,
    facts: &Facts,
    stamp: &Stamp,
    kind: ReceiptKind,
    virus: bool,
    to: &str,
    notice: &Notice,
    daticert: &Daticert,
    original: Option<&[u8]>,
    original_sender: Option<&str>,
) -> Unsigned {
    let mut list = HeaderList::new().text(
        "Subject",
        &SubjectPrefix::for_receipt(kind, virus).apply(facts.subject_text()),
    );
    if let Some(msgid) = &facts.msgid {
        list = list.raw(headers::REFERENCE_MESSAGE_ID, msgid);
    }
    list = list
        .raw("Date", &stamp.time.rfc5322())
        .message_id("Message-ID", &stamp.message_id)
        .address("To", None, to)
        .address("From", None, &issuer.service_address())
        .raw(headers::RECEIPT, kind.as_str());
    if virus {
        list = list.raw(headers::SECURITY_CHECK, headers::SECURITY_ERROR);
    }
    if let Some(sender) = original_sender {
        list = list.raw(headers::ORIGINAL_SENDER, sender);
    }
    Unsigned {
        headers: list.finish(),
        entity: compose::entity(&stamp.message_id, notice, Some(daticert), original),
        daticert: Some(daticert.clone()),
    }
}
