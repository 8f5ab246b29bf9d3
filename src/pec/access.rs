//! The formal checks of the punto di accesso (RFC 6109 §3.1.1, spec §10.1): what a
//! submitted message must satisfy before the provider certifies it. Pure: the caller
//! supplies the SMTP envelope, the authenticated mailbox and the limits.

use crate::pec::envelope::Original;

/// The limits the access point enforces (DM 2 novembre 2005 art. 12: at least 50
/// recipients and recipients × size ≥ 30 MB must be allowed).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Most recipients per message (≥ 50).
    pub max_recipients: usize,
    /// Largest recipients × message size, in bytes (≥ 30 MB).
    pub max_total_bytes: u64,
}

impl Limits {
    /// The DM art. 12 minimums a provider must at least allow.
    pub const REGULATORY_MINIMUM: Limits = Limits {
        max_recipients: 50,
        max_total_bytes: 30_000_000,
    };

    /// These limits, raised to the regulatory minimums where they fall short.
    pub fn at_least_regulatory(self) -> Limits {
        Limits {
            max_recipients: self
                .max_recipients
                .max(Self::REGULATORY_MINIMUM.max_recipients),
            max_total_bytes: self
                .max_total_bytes
                .max(Self::REGULATORY_MINIMUM.max_total_bytes),
        }
    }
}

/// Why the access point refuses a submission. Each becomes an avviso di non
/// accettazione whose text states [`Refusal::reason`].
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The message is not RFC 5322 (no header section, no Date, …).
    #[error("the message is not a valid RFC 5322 message")]
    Malformed,
    /// `From` must hold exactly one address.
    #[error("From holds {0} addresses, exactly one is required")]
    FromCount(usize),
    /// `From` differs from the SMTP reverse-path.
    #[error("From {from} differs from MAIL FROM {mail_from}")]
    FromNotReversePath {
        /// The header address.
        from: String,
        /// The SMTP reverse-path.
        mail_from: String,
    },
    /// The reverse-path is not the authenticated mailbox.
    #[error("MAIL FROM {mail_from} is not the authenticated mailbox {user}")]
    NotAuthenticatedSender {
        /// The SMTP reverse-path.
        mail_from: String,
        /// The authenticated mailbox.
        user: String,
    },
    /// `To` is empty.
    #[error("the To field is empty")]
    NoPrimaryRecipient,
    /// An SMTP recipient appears in neither To nor Cc.
    #[error("recipient {0} is in neither To nor Cc")]
    RecipientNotInHeaders(String),
    /// A Bcc field with addresses.
    #[error("the message has Bcc recipients")]
    Bcc,
    /// Too many recipients.
    #[error("{count} recipients exceed the limit of {limit}")]
    TooManyRecipients {
        /// Recipients asked for.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Recipients × size over the limit.
    #[error("{total} bytes (size × recipients) exceed the limit of {limit}")]
    TooLarge {
        /// Recipients × size.
        total: u64,
        /// The limit.
        limit: u64,
    },
}

impl Refusal {
    /// The Italian reason the avviso di non accettazione states.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Malformed => "messaggio non conforme allo standard RFC 5322".to_string(),
            Refusal::FromCount(_) => "il campo From deve contenere un solo indirizzo".to_string(),
            Refusal::FromNotReversePath { .. } => {
                "il mittente indicato nel campo From non coincide con il mittente della trasmissione".to_string()
            }
            Refusal::NotAuthenticatedSender { .. } => {
                "il mittente non coincide con la casella di posta autenticata".to_string()
            }
            Refusal::NoPrimaryRecipient => "nessun destinatario nel campo To".to_string(),
            Refusal::RecipientNotInHeaders(address) => {
                format!("il destinatario {address} non è presente nei campi To o Cc")
            }
            Refusal::Bcc => "presenza di destinatari in copia nascosta (Bcc)".to_string(),
            Refusal::TooManyRecipients { limit, .. } => {
                format!("numero di destinatari superiore al massimo consentito ({limit})")
            }
            Refusal::TooLarge { limit, .. } => {
                format!("dimensione complessiva superiore al massimo consentito ({limit} byte)")
            }
        }
    }
}

/// Runs every formal check; the first failure wins.
pub fn check(
    original: &Original,
    mail_from: &str,
    rcpt_to: &[String],
    user: &str,
    limits: Limits,
) -> Result<(), Refusal> {
    if !mail_from.eq_ignore_ascii_case(user) {
        return Err(Refusal::NotAuthenticatedSender {
            mail_from: mail_from.to_string(),
            user: user.to_string(),
        });
    }
    match original.from() {
        [from] if from.eq_ignore_ascii_case(mail_from) => {}
        [from] => {
            return Err(Refusal::FromNotReversePath {
                from: from.clone(),
                mail_from: mail_from.to_string(),
            });
        }
        many => return Err(Refusal::FromCount(many.len())),
    }
    if !original.bcc().is_empty() {
        return Err(Refusal::Bcc);
    }
    if original.to().is_empty() {
        return Err(Refusal::NoPrimaryRecipient);
    }
    let in_headers = |rcpt: &String| {
        original
            .to()
            .iter()
            .chain(original.cc())
            .any(|a| a.eq_ignore_ascii_case(rcpt))
    };
    if let Some(stray) = rcpt_to.iter().find(|rcpt| !in_headers(rcpt)) {
        return Err(Refusal::RecipientNotInHeaders(stray.clone()));
    }
    if rcpt_to.len() > limits.max_recipients {
        return Err(Refusal::TooManyRecipients {
            count: rcpt_to.len(),
            limit: limits.max_recipients,
        });
    }
    let total = (original.raw().len() as u64).saturating_mul(rcpt_to.len() as u64);
    if total > limits.max_total_bytes {
        return Err(Refusal::TooLarge {
            total,
            limit: limits.max_total_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits::REGULATORY_MINIMUM;

    fn original(headers: &str) -> Original {
        Original::parse(format!("{headers}\r\nSubject: s\r\n\r\nbody\r\n").as_bytes()).unwrap()
    }

    fn rcpts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_conforming_submission_passes() {
        let o = original("From: Alice <alice@pec-a.test>\r\nTo: bob@pec-b.test\r\nCc: carol@x.it");
        assert_eq!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test", "carol@x.it"]),
                "ALICE@pec-a.test",
                LIMITS
            ),
            Ok(())
        );
    }

    #[test]
    fn each_formal_error_is_named() {
        let o = original("From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nBcc: eve@x.it");
        assert_eq!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "alice@pec-a.test",
                LIMITS
            ),
            Err(Refusal::Bcc)
        );
        let o = original("From: mallory@pec-a.test\r\nTo: bob@pec-b.test");
        assert!(matches!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "alice@pec-a.test",
                LIMITS
            ),
            Err(Refusal::FromNotReversePath { .. })
        ));
        let o = original("From: alice@pec-a.test\r\nTo: bob@pec-b.test");
        assert!(matches!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "carol@pec-a.test",
                LIMITS
            ),
            Err(Refusal::NotAuthenticatedSender { .. })
        ));
        assert_eq!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["eve@x.it"]),
                "alice@pec-a.test",
                LIMITS
            ),
            Err(Refusal::RecipientNotInHeaders("eve@x.it".into()))
        );
        let o = original("From: alice@pec-a.test\r\nCc: bob@pec-b.test");
        assert_eq!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "alice@pec-a.test",
                LIMITS
            ),
            Err(Refusal::NoPrimaryRecipient)
        );
    }

    #[test]
    fn limits_never_fall_below_the_regulatory_minimum() {
        let low = Limits {
            max_recipients: 3,
            max_total_bytes: 10,
        }
        .at_least_regulatory();
        assert_eq!(low, Limits::REGULATORY_MINIMUM);
        let o = original("From: alice@pec-a.test\r\nTo: bob@pec-b.test");
        let tight = Limits {
            max_recipients: 50,
            max_total_bytes: 10,
        };
        assert!(matches!(
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "alice@pec-a.test",
                tight
            ),
            Err(Refusal::TooLarge { .. })
        ));
    }
}
