//! Header fields PEC adds (RFC 6109 §8.1, Appendix A) and the fixed subject prefixes.
//! Header names are matched case-insensitively everywhere: real providers write
//! `X-Tiporicevuta` as well as `X-TipoRicevuta`.

use crate::pec::kind::ReceiptKind;

/// `X-Trasporto`: `posta-certificata` on a busta di trasporto, `errore` on an anomaly.
pub const TRANSPORT: &str = "X-Trasporto";
/// `X-Ricevuta`: the receipt or notice kind.
pub const RECEIPT: &str = "X-Ricevuta";
/// `X-Riferimento-Message-ID`: the client's original Message-ID.
pub const REFERENCE_MESSAGE_ID: &str = "X-Riferimento-Message-ID";
/// `X-TipoRicevuta`: `completa`, `breve` or `sintetica`.
pub const RECEIPT_TYPE: &str = "X-TipoRicevuta";
/// `X-VerificaSicurezza: errore` on virus notices.
pub const SECURITY_CHECK: &str = "X-VerificaSicurezza";
/// `X-Mittente`: the original sender, only on `rilevazione-virus`.
pub const ORIGINAL_SENDER: &str = "X-Mittente";

/// `X-Trasporto` value of a transport envelope.
pub const TRANSPORT_CERTIFIED: &str = "posta-certificata";
/// `X-Trasporto` value of an anomaly envelope.
pub const TRANSPORT_ERROR: &str = "errore";
/// `X-VerificaSicurezza` value on virus notices.
pub const SECURITY_ERROR: &str = "errore";

/// The local part of the provider's service address: `posta-certificata@<domain>`.
pub const SERVICE_LOCAL_PART: &str = "posta-certificata";

/// The fixed subject prefix of each provider message (RFC 6109 Appendix A). Clients match on
/// these, so they are exact, upper-case, and followed by `": "` and the original subject.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum SubjectPrefix {
    /// `POSTA CERTIFICATA:` busta di trasporto.
    Transport,
    /// `ANOMALIA MESSAGGIO:` busta di anomalia.
    Anomaly,
    /// `ACCETTAZIONE:` ricevuta di accettazione.
    Acceptance,
    /// `AVVISO DI NON ACCETTAZIONE:` formal refusal.
    NonAcceptance,
    /// `AVVISO DI NON ACCETTAZIONE PER VIRUS:` refusal for virus.
    NonAcceptanceVirus,
    /// `PRESA IN CARICO:` ricevuta di presa in carico.
    TakenInCharge,
    /// `CONSEGNA:` ricevuta di avvenuta consegna.
    Delivered,
    /// `AVVISO DI MANCATA CONSEGNA:` non-delivery.
    DeliveryError,
    /// `AVVISO DI MANCATA CONSEGNA PER VIRUS:` non-delivery for virus.
    DeliveryErrorVirus,
    /// `AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO:` 12 h and 24 h notices.
    DeliveryWarning,
    /// `PROBLEMA DI SICUREZZA:` avviso di rilevazione virus.
    VirusDetected,
}

impl SubjectPrefix {
    /// The prefix text, without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectPrefix::Transport => "POSTA CERTIFICATA",
            SubjectPrefix::Anomaly => "ANOMALIA MESSAGGIO",
            SubjectPrefix::Acceptance => "ACCETTAZIONE",
            SubjectPrefix::NonAcceptance => "AVVISO DI NON ACCETTAZIONE",
            SubjectPrefix::NonAcceptanceVirus => "AVVISO DI NON ACCETTAZIONE PER VIRUS",
            SubjectPrefix::TakenInCharge => "PRESA IN CARICO",
            SubjectPrefix::Delivered => "CONSEGNA",
            SubjectPrefix::DeliveryError => "AVVISO DI MANCATA CONSEGNA",
            SubjectPrefix::DeliveryErrorVirus => "AVVISO DI MANCATA CONSEGNA PER VIRUS",
            SubjectPrefix::DeliveryWarning => "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO",
            SubjectPrefix::VirusDetected => "PROBLEMA DI SICUREZZA",
        }
    }

    /// The prefix a receipt kind uses; `virus` picks the virus variant where one exists.
    pub fn for_receipt(kind: ReceiptKind, virus: bool) -> SubjectPrefix {
        match (kind, virus) {
            (ReceiptKind::Acceptance, _) => SubjectPrefix::Acceptance,
            (ReceiptKind::NonAcceptance, false) => SubjectPrefix::NonAcceptance,
            (ReceiptKind::NonAcceptance, true) => SubjectPrefix::NonAcceptanceVirus,
            (ReceiptKind::TakenInCharge, _) => SubjectPrefix::TakenInCharge,
            (ReceiptKind::Delivered, _) => SubjectPrefix::Delivered,
            (ReceiptKind::DeliveryError, false) => SubjectPrefix::DeliveryError,
            (ReceiptKind::DeliveryError, true) => SubjectPrefix::DeliveryErrorVirus,
            (ReceiptKind::DeliveryWarning, _) => SubjectPrefix::DeliveryWarning,
            (ReceiptKind::VirusDetected, _) => SubjectPrefix::VirusDetected,
        }
    }

    /// `PREFIX: subject` (the subject may be empty).
    pub fn apply(self, subject: &str) -> String {
        format!("{}: {subject}", self.as_str())
    }
}

/// The provider's service address, `posta-certificata@<domain>`: the `From` of every
/// receipt and the address in the signing certificate (RFC 6109 §2.1).
pub fn service_address(domain: &str) -> String {
    format!("{SERVICE_LOCAL_PART}@{domain}")
}
