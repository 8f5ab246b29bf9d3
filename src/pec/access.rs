//! The formal checks of the punto di accesso (RFC 6109 §3.1.1): what a
//! submitted message must satisfy before the provider certifies it. Pure: the caller
//! supplies the SMTP envelope, the authenticated mailbox and the limits.

use crate::mail::address::shown_addresses;
use crate::mail::message::ACCEPTED_NESTING_DEPTH;
use crate::mail::message::HeaderSection;
use crate::mail::message::MAX_MESSAGE_TYPES_NAMED;
use crate::mail::message::MessageError;
use crate::mail::message::nesting_depth_of;
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
    /// A `Sender` field that is not exactly the authenticated mailbox: the reader's
    /// client would show the message as sent on behalf of someone else.
    #[error("Sender {sender:?} is not the authenticated mailbox {user}")]
    ForeignSender {
        /// What the Sender fields hold (the addresses, or the raw text).
        sender: String,
        /// The authenticated mailbox.
        user: String,
    },
    /// The `From` display name shows an address other than the sender's, which
    /// clients show in place of the real one.
    #[error("the From display name shows {shown}, not the sender {from}")]
    FromNameShowsAnotherAddress {
        /// The address the name shows.
        shown: String,
        /// The From address.
        from: String,
    },
    /// Messages nested deeper than the providers read.
    #[error("message/rfc822 parts nested {depth} deep, the limit is {limit}")]
    TooDeep {
        /// How deep they are nested (at least).
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// More attached messages and digests than the providers parse.
    #[error("{count} message/… types or digests named, the limit is {limit}")]
    TooManyMessageTypes {
        /// How many the message names.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An attached message is base64 or quoted-printable encoded (RFC 2046 §5.2.1).
    #[error("an attached message is base64 or quoted-printable encoded")]
    EncodedMessage,
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
    /// The mailbox's type allows no more messages today.
    #[error("the mailbox's type allows {limit} messages a day")]
    DailyLimit {
        /// The type's limit.
        limit: u64,
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
    /// A short fixed name for the kind of refusal, for counting and logs (no address).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::FromCount(_) => "from_count",
            Refusal::FromNotReversePath { .. } => "from_not_reverse_path",
            Refusal::NotAuthenticatedSender { .. } => "not_authenticated_sender",
            Refusal::ForeignSender { .. } => "foreign_sender",
            Refusal::FromNameShowsAnotherAddress { .. } => "from_name_shows_address",
            Refusal::TooDeep { .. } => "too_deep",
            Refusal::TooManyMessageTypes { .. } => "too_many_message_types",
            Refusal::EncodedMessage => "encoded_message",
            Refusal::NoPrimaryRecipient => "no_primary_recipient",
            Refusal::RecipientNotInHeaders(_) => "recipient_not_in_headers",
            Refusal::Bcc => "bcc",
            Refusal::TooManyRecipients { .. } => "too_many_recipients",
            Refusal::DailyLimit { .. } => "daily_limit",
            Refusal::TooLarge { .. } => "too_large",
        }
    }

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
            Refusal::ForeignSender { .. } => {
                "il campo Sender non coincide con la casella di posta autenticata".to_string()
            }
            Refusal::FromNameShowsAnotherAddress { shown, .. } => format!(
                "il nome del mittente nel campo From mostra l'indirizzo {shown}, diverso da quello del mittente"
            ),
            Refusal::TooDeep { limit, .. } => format!(
                "messaggi allegati annidati oltre il massimo consentito ({limit} livelli)"
            ),
            Refusal::TooManyMessageTypes { limit, .. } => format!(
                "messaggi allegati oltre il massimo consentito ({limit})"
            ),
            Refusal::EncodedMessage => {
                "messaggio allegato codificato in base64 o quoted-printable (RFC 2046)".to_string()
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
            Refusal::DailyLimit { limit } => format!(
                "numero di messaggi giornalieri superiore al massimo consentito per il tipo di casella ({limit})"
            ),
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
    check_identity(original, user)?;
    check_nesting(original)?;
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

/// The sender a reader's client shows is the authenticated mailbox: no `Sender` field
/// naming someone else, no From display name showing another address. (The From
/// address itself is checked against MAIL FROM, and MAIL FROM against the login.)
fn check_identity(original: &Original, user: &str) -> Result<(), Refusal> {
    let Some(section) = HeaderSection::parse(original.raw()) else {
        return Err(Refusal::Malformed);
    };
    if section.count("Sender") > 0 {
        let senders = section.mailboxes("Sender");
        let is_user = |m: &crate::mail::message::Mailbox| {
            m.address
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(user))
        };
        if section.count("Sender") != 1 || senders.len() != 1 || !senders.iter().all(is_user) {
            let shown: Vec<String> = senders
                .iter()
                .map(|m| {
                    m.address
                        .clone()
                        .or_else(|| m.name.clone())
                        .unwrap_or_default()
                })
                .collect();
            return Err(Refusal::ForeignSender {
                sender: shown.join(", "),
                user: user.to_string(),
            });
        }
    }
    for mailbox in section.mailboxes("From") {
        let from = mailbox.address.as_deref().unwrap_or_default();
        let shown = mailbox
            .name
            .as_deref()
            .map(shown_addresses)
            .unwrap_or_default();
        if let Some(other) = shown.into_iter().find(|s| !s.eq_ignore_ascii_case(from)) {
            return Err(Refusal::FromNameShowsAnotherAddress {
                shown: other,
                from: from.to_string(),
            });
        }
    }
    Ok(())
}

/// Messages attached to messages nest no deeper than every reader can follow once the
/// busta di trasporto (and, at worst, a busta di anomalia) wraps them.
fn check_nesting(original: &Original) -> Result<(), Refusal> {
    match nesting_depth_of(original.raw()) {
        Ok(depth) if depth > ACCEPTED_NESTING_DEPTH => Err(Refusal::TooDeep {
            depth,
            limit: ACCEPTED_NESTING_DEPTH,
        }),
        Ok(_) => Ok(()),
        Err(error) => Err(unreadable(&error)),
    }
}

/// Why a message [`Original::parse`] could not read is refused.
pub fn unreadable(error: &MessageError) -> Refusal {
    match error {
        MessageError::TooDeep(depth) => Refusal::TooDeep {
            depth: *depth,
            limit: ACCEPTED_NESTING_DEPTH,
        },
        MessageError::TooManyMessageTypes(count) => Refusal::TooManyMessageTypes {
            count: *count,
            limit: MAX_MESSAGE_TYPES_NAMED,
        },
        MessageError::EncodedMessage => Refusal::EncodedMessage,
        MessageError::NotAMessage | MessageError::TooLarge(_) => Refusal::Malformed,
    }
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

    fn identity(headers: &str) -> Result<(), Refusal> {
        let o = original(&format!("{headers}\r\nTo: bob@pec-b.test"));
        check(
            &o,
            "alice@pec-a.test",
            &rcpts(&["bob@pec-b.test"]),
            "alice@pec-a.test",
            LIMITS,
        )
    }

    #[test]
    fn a_sender_field_must_be_the_authenticated_mailbox() {
        assert_eq!(
            identity("From: alice@pec-a.test\r\nSender: Alice <ALICE@pec-a.test>"),
            Ok(())
        );
        for sender in [
            "Sender: boss@pec-a.test",
            "Sender: alice@pec-a.test, boss@pec-a.test",
            "Sender: alice@pec-a.test\r\nSender: boss@pec-a.test",
            "Sender: non un indirizzo",
            "Sender:",
        ] {
            let refusal = identity(&format!("From: alice@pec-a.test\r\n{sender}"));
            assert!(
                matches!(refusal, Err(Refusal::ForeignSender { .. })),
                "{sender}: {refusal:?}"
            );
        }
    }

    #[test]
    fn a_from_name_may_not_show_another_address() {
        for from in [
            "From: Mario Rossi <alice@pec-a.test>",
            "From: \"alice@pec-a.test\" <alice@pec-a.test>",
            "From: \"Rossi, Mario (Studio @ Roma)\" <alice@pec-a.test>",
            "From: alice@pec-a.test (Alice)",
        ] {
            assert_eq!(identity(from), Ok(()), "{from}");
        }
        for from in [
            "From: \"boss@pec-a.test\" <alice@pec-a.test>",
            "From: =?utf-8?q?boss=40pec-a.test?= <alice@pec-a.test>",
            "From: \"Capo (boss@pec-a.test)\" <alice@pec-a.test>",
            "From: alice@pec-a.test (boss@pec-a.test)",
            "From: \"boss＠pec-a.test\" <alice@pec-a.test>",
        ] {
            assert_eq!(
                identity(from),
                Err(Refusal::FromNameShowsAnotherAddress {
                    shown: "boss@pec-a.test".into(),
                    from: "alice@pec-a.test".into()
                }),
                "{from}"
            );
        }
    }

    /// A message with `depth` messages attached inside each other, each a
    /// multipart/mixed with a text part and the next message as an attachment.
    pub(crate) fn nested(depth: usize) -> String {
        let mut inner = "From: x@y.it\r\nSubject: fondo\r\n\r\nfondo\r\n".to_string();
        for level in (0..depth).rev() {
            let headers = if level == 0 {
                "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: s\r\n".to_string()
            } else {
                format!("From: x@y.it\r\nSubject: livello {level}\r\n")
            };
            inner = format!(
                "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\nContent-Type: text/plain\r\n\r\nlivello {level}\r\n--b{level}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--b{level}--\r\n"
            );
        }
        inner
    }

    #[test]
    fn messages_nested_deeper_than_the_readers_follow_are_refused() {
        let submit = |raw: &str| {
            let o = Original::parse(raw.as_bytes()).map_err(|e| unreadable(&e))?;
            check(
                &o,
                "alice@pec-a.test",
                &rcpts(&["bob@pec-b.test"]),
                "alice@pec-a.test",
                LIMITS,
            )
        };
        assert_eq!(submit(&nested(ACCEPTED_NESTING_DEPTH)), Ok(()));
        for depth in [ACCEPTED_NESTING_DEPTH + 1, 200] {
            assert_eq!(
                submit(&nested(depth)),
                Err(Refusal::TooDeep {
                    depth,
                    limit: ACCEPTED_NESTING_DEPTH
                }),
                "{depth}"
            );
        }
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
