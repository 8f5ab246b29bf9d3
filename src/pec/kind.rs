//! The kinds of PEC messages and the enumerated values their headers and `daticert.xml`
//! carry (RFC 6109 Appendix A, §4.4 DTD).

use std::fmt;

/// The receipts and notices a provider issues, as written in `X-Ricevuta` and in the
/// daticert `tipo` attribute (the two vocabularies coincide). Order follows the rules.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum ReceiptKind {
    /// `accettazione`: ricevuta di accettazione, the access point accepted the message.
    Acceptance,
    /// `non-accettazione`: avviso di non accettazione (formal error or virus).
    NonAcceptance,
    /// `presa-in-carico`: ricevuta di presa in carico, the recipient's provider took charge.
    TakenInCharge,
    /// `avvenuta-consegna`: ricevuta di avvenuta consegna, placed in the mailbox.
    Delivered,
    /// `errore-consegna`: avviso di mancata consegna (also for virus).
    DeliveryError,
    /// `preavviso-errore-consegna`: the 12 h preavviso and the 24 h avviso for timeout.
    DeliveryWarning,
    /// `rilevazione-virus`: avviso di rilevazione virus, provider to provider.
    VirusDetected,
}

impl ReceiptKind {
    /// Every kind, in the order of the rules.
    pub const ALL: [ReceiptKind; 7] = [
        ReceiptKind::Acceptance,
        ReceiptKind::NonAcceptance,
        ReceiptKind::TakenInCharge,
        ReceiptKind::Delivered,
        ReceiptKind::DeliveryError,
        ReceiptKind::DeliveryWarning,
        ReceiptKind::VirusDetected,
    ];

    /// The wire value (`X-Ricevuta`, daticert `tipo`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Acceptance => "accettazione",
            ReceiptKind::NonAcceptance => "non-accettazione",
            ReceiptKind::TakenInCharge => "presa-in-carico",
            ReceiptKind::Delivered => "avvenuta-consegna",
            ReceiptKind::DeliveryError => "errore-consegna",
            ReceiptKind::DeliveryWarning => "preavviso-errore-consegna",
            ReceiptKind::VirusDetected => "rilevazione-virus",
        }
    }

    /// Parses a wire value; case-insensitive and tolerant of surrounding blanks.
    pub fn parse(value: &str) -> Option<ReceiptKind> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for ReceiptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The daticert `tipo` attribute: the transport envelope or one of the receipts.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum DaticertKind {
    /// `posta-certificata`: the busta di trasporto.
    Transport,
    /// A receipt or notice.
    Receipt(ReceiptKind),
}

impl DaticertKind {
    /// All eight values of the DTD.
    pub const ALL: [DaticertKind; 8] = [
        DaticertKind::Receipt(ReceiptKind::Acceptance),
        DaticertKind::Receipt(ReceiptKind::NonAcceptance),
        DaticertKind::Receipt(ReceiptKind::TakenInCharge),
        DaticertKind::Receipt(ReceiptKind::Delivered),
        DaticertKind::Transport,
        DaticertKind::Receipt(ReceiptKind::DeliveryError),
        DaticertKind::Receipt(ReceiptKind::DeliveryWarning),
        DaticertKind::Receipt(ReceiptKind::VirusDetected),
    ];

    /// The wire value of the `tipo` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            DaticertKind::Transport => "posta-certificata",
            DaticertKind::Receipt(kind) => kind.as_str(),
        }
    }

    /// Parses the `tipo` attribute (case-insensitive).
    pub fn parse(value: &str) -> Option<DaticertKind> {
        if value.trim().eq_ignore_ascii_case("posta-certificata") {
            return Some(DaticertKind::Transport);
        }
        ReceiptKind::parse(value).map(DaticertKind::Receipt)
    }
}

impl fmt::Display for DaticertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The daticert `errore` attribute (default `nessuno`).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum ErrorCode {
    /// `nessuno`: no error.
    #[default]
    None,
    /// `no-dest`: wrong recipient (with `errore-consegna`).
    NoDest,
    /// `no-dominio`: wrong domain (with `errore-consegna`).
    NoDomain,
    /// `virus`: with `errore-consegna`, `non-accettazione` or `rilevazione-virus`.
    Virus,
    /// `altro`: any other error.
    Other,
}

impl ErrorCode {
    /// All five values of the DTD.
    pub const ALL: [ErrorCode; 5] = [
        ErrorCode::None,
        ErrorCode::NoDest,
        ErrorCode::NoDomain,
        ErrorCode::Virus,
        ErrorCode::Other,
    ];

    /// The wire value of the `errore` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::None => "nessuno",
            ErrorCode::NoDest => "no-dest",
            ErrorCode::NoDomain => "no-dominio",
            ErrorCode::Virus => "virus",
            ErrorCode::Other => "altro",
        }
    }

    /// Parses the `errore` attribute (case-insensitive).
    pub fn parse(value: &str) -> Option<ErrorCode> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|code| code.as_str().eq_ignore_ascii_case(value))
    }
}

/// The daticert `destinatari` `tipo` attribute: whether a recipient is a PEC mailbox.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum RecipientType {
    /// `certificato`: the domain is in some provider's `managedDomains` (the default).
    #[default]
    Certified,
    /// `esterno`: ordinary Internet mail ("posta ordinaria").
    External,
}

impl RecipientType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientType::Certified => "certificato",
            RecipientType::External => "esterno",
        }
    }

    /// Parses the wire value (case-insensitive).
    pub fn parse(value: &str) -> Option<RecipientType> {
        match value.trim() {
            v if v.eq_ignore_ascii_case("certificato") => Some(RecipientType::Certified),
            v if v.eq_ignore_ascii_case("esterno") => Some(RecipientType::External),
            _ => None,
        }
    }

    /// How the human text names the recipient's kind.
    pub fn label(self) -> &'static str {
        match self {
            RecipientType::Certified => "posta certificata",
            RecipientType::External => "posta ordinaria",
        }
    }
}

/// The receipt type a sender asks for with `X-TipoRicevuta` (RFC 6109 §3.3.2).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum ReceiptType {
    /// `completa`: the original message travels back (the default).
    #[default]
    Full,
    /// `breve`: the original with attachments replaced by their hashes.
    Short,
    /// `sintetica`: daticert only.
    Summary,
}

impl ReceiptType {
    /// All three values.
    pub const ALL: [ReceiptType; 3] = [ReceiptType::Full, ReceiptType::Short, ReceiptType::Summary];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptType::Full => "completa",
            ReceiptType::Short => "breve",
            ReceiptType::Summary => "sintetica",
        }
    }

    /// Parses the wire value (case-insensitive).
    pub fn parse(value: &str) -> Option<ReceiptType> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(value))
    }
}

/// What a message is, as the reader tells it from its top-level headers.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Kind {
    /// A busta di trasporto (`X-Trasporto: posta-certificata`).
    Transport,
    /// A busta di anomalia (`X-Trasporto: errore`).
    Anomaly,
    /// A receipt or notice (`X-Ricevuta`).
    Receipt(ReceiptKind),
    /// Anything else: ordinary Internet mail.
    Ordinary,
}

impl Kind {
    /// The name `pecd verify --json` prints: a daticert `tipo`, `anomalia` or `ordinary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Transport => DaticertKind::Transport.as_str(),
            Kind::Anomaly => "anomalia",
            Kind::Receipt(kind) => kind.as_str(),
            Kind::Ordinary => "ordinary",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for kind in DaticertKind::ALL {
            assert_eq!(DaticertKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                DaticertKind::parse(&kind.as_str().to_uppercase()),
                Some(kind)
            );
        }
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        for kind in ReceiptType::ALL {
            assert_eq!(ReceiptType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            RecipientType::parse(" esterno "),
            Some(RecipientType::External)
        );
        assert_eq!(DaticertKind::parse("mancata-consegna"), None);
    }
}
