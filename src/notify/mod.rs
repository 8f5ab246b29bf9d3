//! Ordinary mail (not PEC) the provider sends to people, and the one-time links it
//! carries: when a mailbox is activated, or a new password is asked for, the holder and
//! the referent get a mail with the mailbox's settings and a link to choose the
//! password; no password is ever sent.
//!
//! The callers queue in their own store transaction ([`queue_activation`],
//! [`queue_new_password`]), so the mail is as durable as the change it announces. The
//! mailer ([`mailer`]) drains the outbox to the smarthost, making each link's token as
//! the mail leaves; the link's page calls [`check`] and [`redeem`].

pub mod compose;
pub mod mailer;
pub mod token;

use std::time::Duration;

use jiff::Timestamp;

use crate::config::Config;
use crate::mail::address::Address;
use crate::notify::token::Token;
use crate::notify::token::TokenError;
use crate::provider::mailboxes::MIN_PASSWORD_CHARS;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::links::Link;
use crate::store::links::LinkPurpose;
use crate::store::links::Redemption;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;
use crate::store::outbox::OutboxContent;
use crate::store::outbox::OutboxMail;

/// How long a link works (the holder may be away for a weekend).
pub const LINK_VALIDITY: Duration = Duration::from_secs(72 * 3600);
/// The longest password accepted: argon2 hashes any length, so bound its work.
pub const MAX_PASSWORD_BYTES: usize = 512;
/// The path of the link's page under the panel's URL.
pub const LINK_PATH: &str = "/attiva/";

/// What the mails say about the provider and where its services are.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NotifySettings {
    /// The provider's name, shown as the sender and under the text.
    pub provider_name: String,
    /// The provider's domain, naming the mails' Message-IDs.
    pub domain: String,
    /// The sender address (envelope and `From:`).
    pub from: String,
    /// The panel's public base URL; a link is `<web_url>/attiva/<token>`.
    pub web_url: String,
    /// Where a holder's mail client connects.
    pub servers: MailServers,
    /// How long a link works.
    pub link_validity: Duration,
}

/// The host and ports a mail client is configured with.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MailServers {
    /// The host name.
    pub host: String,
    /// IMAP with STARTTLS.
    pub imap_port: u16,
    /// IMAP over TLS.
    pub imaps_port: u16,
    /// Submission with STARTTLS.
    pub submission_port: u16,
    /// Submission over TLS.
    pub submissions_port: u16,
}

impl NotifySettings {
    /// What a provider's configuration says: its name and domain, `[notify] from`, the
    /// panel's URL, and the IMAP and submission ports of `[listen]` on the provider's
    /// domain (the name its TLS certificate carries).
    pub fn from_config(config: &Config) -> NotifySettings {
        let listen = &config.listen;
        NotifySettings {
            provider_name: config.provider.name.clone(),
            domain: config.provider.domain.clone(),
            from: config.notify_from(),
            web_url: config.web_url(),
            servers: MailServers {
                host: config.provider.domain.clone(),
                imap_port: listen.imap.port(),
                imaps_port: listen.imaps.port(),
                submission_port: listen.submission.port(),
                submissions_port: listen.submissions.port(),
            },
            link_validity: LINK_VALIDITY,
        }
    }

    /// The link carrying `token`.
    pub fn link_url(&self, token: &Token) -> String {
        format!(
            "{}{LINK_PATH}{}",
            self.web_url.trim_end_matches('/'),
            token.as_hex()
        )
    }
}

/// Why a link does not set a password. Each says, in the panel's language, what the
/// holder sees; an unknown and a malformed link read the same.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The token is not one pecd writes.
    #[error("Il link non è valido.")]
    Malformed(#[source] TokenError),
    /// No link has this token.
    #[error("Il link non è valido.")]
    Unknown,
    /// A newer link for the mailbox voided it.
    #[error("Il link è stato sostituito da uno più recente: usi l'ultimo ricevuto.")]
    Superseded,
    /// It was used already.
    #[error("Il link è già stato usato.")]
    Used,
    /// Its time is up.
    #[error("Il link è scaduto: chieda un nuovo link.")]
    Expired,
    /// The new password is too short.
    #[error("La password deve avere almeno {MIN_PASSWORD_CHARS} caratteri.")]
    PasswordTooShort,
    /// The new password is too long.
    #[error("La password può avere al massimo {MAX_PASSWORD_BYTES} byte.")]
    PasswordTooLong,
    /// The mailbox is gone.
    #[error("La casella {0} non esiste più.")]
    NoMailbox(String),
    /// The store failed.
    #[error("Errore interno, riprovi più tardi.")]
    Store(#[source] StoreError),
}

/// What a valid link is for, for the link's page.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct LinkInfo {
    /// The mailbox whose password it sets.
    pub mailbox: String,
    /// Activation or new password.
    pub purpose: LinkPurpose,
    /// Until when it works.
    pub expires: Timestamp,
}

/// Queues the activation mail of `mailbox` to each address of `to` (the holder, the
/// referent), each with a one-time link; any earlier link of the mailbox stops working.
/// Addresses that are not addresses are left out, with a warning.
pub fn queue_activation(
    tx: &mut Tx<'_>,
    settings: &NotifySettings,
    mailbox: &str,
    to: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    queue(tx, settings, mailbox, LinkPurpose::Activation, to, now)
}

/// Queues a new-password mail, like [`queue_activation`].
pub fn queue_new_password(
    tx: &mut Tx<'_>,
    settings: &NotifySettings,
    mailbox: &str,
    to: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    queue(tx, settings, mailbox, LinkPurpose::NewPassword, to, now)
}

fn queue(
    tx: &mut Tx<'_>,
    settings: &NotifySettings,
    mailbox: &str,
    purpose: LinkPurpose,
    to: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let request = tx
        .links()
        .request(mailbox, purpose, now, settings.link_validity)?;
    let mut recipients: Vec<String> = Vec::new();
    for address in to {
        match Address::parse(address) {
            Ok(parsed) => {
                let address = parsed.as_str().to_string();
                if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&address)) {
                    recipients.push(address);
                }
            }
            Err(error) => {
                tracing::warn!(%error, mailbox, "not mailing a link to an invalid address")
            }
        }
    }
    for recipient in recipients {
        let content = OutboxContent::PasswordLink {
            mailbox: mailbox.to_ascii_lowercase(),
            purpose,
            request: request.id,
        };
        tx.outbox()
            .enqueue(OutboxMail::new(&recipient, content, now))?;
    }
    Ok(())
}

/// What the link `token` is for, if it works at `now`; changes nothing.
pub fn check(store: &Store, token: &str, now: Timestamp) -> Result<LinkInfo, LinkError> {
    let digest = Token::parse(token).map_err(LinkError::Malformed)?.digest();
    let checked = store.read(|tx| {
        let redemption = tx.links().check(&digest, now)?;
        if let Redemption::Valid(link) = &redemption {
            in_service(tx.mailboxes().get(&link.mailbox)?, &link.mailbox)?;
        }
        Ok(redemption)
    });
    valid(checked).map(|link| LinkInfo {
        mailbox: link.mailbox,
        purpose: link.purpose,
        expires: link.expires,
    })
}

/// Sets the password of the mailbox the link `token` names to `new_password` and uses
/// the link up, in one transaction; returns the mailbox's address. A mailbox closed
/// since the link was mailed takes no password.
pub fn redeem(
    store: &Store,
    token: &str,
    new_password: &str,
    now: Timestamp,
) -> Result<String, LinkError> {
    let digest = Token::parse(token).map_err(LinkError::Malformed)?.digest();
    check_password(new_password)?;
    let redeemed = store.write(|tx| {
        let redemption = tx.links().redeem(&digest, now)?;
        if let Redemption::Valid(link) = &redemption {
            in_service(tx.mailboxes().get(&link.mailbox)?, &link.mailbox)?;
            tx.mailboxes().set_password(&link.mailbox, new_password)?;
        }
        Ok(redemption)
    });
    let link = valid(redeemed)?;
    tracing::info!(mailbox = %link.mailbox, purpose = ?link.purpose, "password set from a one-time link");
    Ok(link.mailbox)
}

/// Fails, as no such mailbox, unless `mailbox` exists and is not closed.
fn in_service(mailbox: Option<Mailbox>, address: &str) -> Result<(), StoreError> {
    match mailbox {
        Some(mailbox) if mailbox.state != MailboxState::Deleted => Ok(()),
        _ => Err(StoreError::NoSuchMailbox(address.to_string())),
    }
}

/// The link a store answer names, or why there is none.
fn valid(answer: Result<Redemption, StoreError>) -> Result<Link, LinkError> {
    match answer {
        Ok(Redemption::Valid(link)) => Ok(link),
        Ok(Redemption::Unknown) => Err(LinkError::Unknown),
        Ok(Redemption::Superseded) => Err(LinkError::Superseded),
        Ok(Redemption::Used) => Err(LinkError::Used),
        Ok(Redemption::Expired) => Err(LinkError::Expired),
        Err(StoreError::NoSuchMailbox(address)) => Err(LinkError::NoMailbox(address)),
        Err(error) => Err(LinkError::Store(error)),
    }
}

/// The same length rule as every other way of setting a password, plus a bound.
fn check_password(password: &str) -> Result<(), LinkError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(LinkError::PasswordTooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(LinkError::PasswordTooLong);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::links::Issued;
    use crate::store::mailbox::NewMailbox;

    pub(crate) fn settings() -> NotifySettings {
        NotifySettings {
            provider_name: "Gestore A S.p.A.".into(),
            domain: "pec-a.test".into(),
            from: "noreply@pec-a.test".into(),
            web_url: "https://pannello.pec-a.test/".into(),
            servers: MailServers {
                host: "pec-a.test".into(),
                imap_port: 143,
                imaps_port: 993,
                submission_port: 587,
                submissions_port: 465,
            },
            link_validity: LINK_VALIDITY,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    /// A store with mailbox `mario@pec-a.test` and its activation queued to `to`; the
    /// link issued for the first queued mail, as the mailer would.
    fn activated(to: &[&str]) -> (tempfile::TempDir, Store, Token) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        store
            .write(|tx| {
                tx.mailboxes().create(
                    "mario@pec-a.test",
                    "Iniziale-123",
                    &NewMailbox::default(),
                    at(0),
                )?;
                queue_activation(tx, &settings(), "Mario@pec-a.test", &to, at(0))
            })
            .unwrap();
        let token = Token::generate().unwrap();
        let mail = store.read(|tx| tx.outbox().all()).unwrap().remove(0);
        let OutboxContent::PasswordLink {
            mailbox, request, ..
        } = mail.content;
        let digest = token.digest();
        let issued = store
            .write(|tx| tx.links().issue(&digest, &mailbox, request, at(1)))
            .unwrap();
        assert!(matches!(issued, Issued::Issued(_)));
        (dir, store, token)
    }

    #[test]
    fn one_mail_per_distinct_valid_recipient() {
        let (_dir, store, _) = activated(&[
            "anna@example.test",
            "ANNA@example.test",
            "not an address",
            "lra@ente.test",
        ]);
        let queued = store.read(|tx| tx.outbox().all()).unwrap();
        let to: Vec<&str> = queued.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(to, ["anna@example.test", "lra@ente.test"]);
    }

    #[test]
    fn a_link_sets_the_password_once() {
        let (_dir, store, token) = activated(&["anna@example.test"]);
        let info = check(&store, &token.as_hex(), at(2)).unwrap();
        assert_eq!(info.mailbox, "mario@pec-a.test");
        assert_eq!(info.purpose, LinkPurpose::Activation);
        let mailbox = redeem(&store, &token.as_hex(), "Scelta-dal-titolare", at(3)).unwrap();
        assert_eq!(mailbox, "mario@pec-a.test");
        let verify = |password: &str| {
            store
                .read(|tx| tx.mailboxes().verify_password("mario@pec-a.test", password))
                .unwrap()
        };
        assert!(verify("Scelta-dal-titolare"));
        assert!(!verify("Iniziale-123"));
        let again = redeem(&store, &token.as_hex(), "Un-altra-password", at(4));
        assert!(matches!(again, Err(LinkError::Used)), "{again:?}");
        assert!(verify("Scelta-dal-titolare"));
        assert!(matches!(
            check(&store, &token.as_hex(), at(4)),
            Err(LinkError::Used)
        ));
    }

    #[test]
    fn an_expired_link_or_a_short_password_changes_nothing() {
        let (_dir, store, token) = activated(&["anna@example.test"]);
        let late = at(72 * 3600);
        let expired = redeem(&store, &token.as_hex(), "Scelta-dal-titolare", late);
        assert!(matches!(expired, Err(LinkError::Expired)), "{expired:?}");
        let short = redeem(&store, &token.as_hex(), "corta", at(2));
        assert!(
            matches!(short, Err(LinkError::PasswordTooShort)),
            "{short:?}"
        );
        let verify = store
            .read(|tx| {
                tx.mailboxes()
                    .verify_password("mario@pec-a.test", "Iniziale-123")
            })
            .unwrap();
        assert!(verify, "the old password still works");
        // The link is still good after the refusals that came before its expiry.
        assert!(redeem(&store, &token.as_hex(), "Scelta-dal-titolare", at(5)).is_ok());
    }

    #[test]
    fn a_forged_or_mistyped_token_is_refused_as_invalid() {
        let (_dir, store, token) = activated(&["anna@example.test"]);
        let mut forged = token.as_hex();
        forged.replace_range(..1, if forged.starts_with('0') { "1" } else { "0" });
        for bad in [forged.as_str(), "", "x", &token.as_hex().to_uppercase()] {
            let refused = redeem(&store, bad, "Scelta-dal-titolare", at(2)).unwrap_err();
            assert_eq!(refused.to_string(), "Il link non è valido.");
        }
    }

    #[test]
    fn a_link_to_a_mailbox_closed_since_sets_nothing() {
        let (_dir, store, token) = activated(&["anna@example.test"]);
        let close = |m: &mut Mailbox| m.state = MailboxState::Deleted;
        let closed = store.write(|tx| tx.mailboxes().update("mario@pec-a.test", close));
        assert_eq!(closed.unwrap().state, MailboxState::Deleted);
        let checked = check(&store, &token.as_hex(), at(2));
        assert!(
            matches!(checked, Err(LinkError::NoMailbox(_))),
            "{checked:?}"
        );
        let closed = redeem(&store, &token.as_hex(), "Scelta-dal-titolare", at(2));
        assert!(matches!(closed, Err(LinkError::NoMailbox(_))), "{closed:?}");
        let verify = store
            .read(|tx| {
                tx.mailboxes()
                    .verify_password("mario@pec-a.test", "Scelta-dal-titolare")
            })
            .unwrap();
        assert!(!verify);
    }

    #[test]
    fn a_recipient_cannot_smuggle_header_fields() {
        let (_dir, store, _) = activated(&[
            "anna@example.test\r\nBcc: spia@evil.test",
            "anna@example.test\nSubject: altro",
            "lra@ente.test",
        ]);
        let queued = store.read(|tx| tx.outbox().all()).unwrap();
        let to: Vec<&str> = queued.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(to, ["lra@ente.test"]);
    }

    #[test]
    fn a_new_password_request_voids_the_activation_link() {
        let (_dir, store, token) = activated(&["anna@example.test"]);
        store
            .write(|tx| {
                queue_new_password(
                    tx,
                    &settings(),
                    "mario@pec-a.test",
                    &["anna@example.test".into()],
                    at(2),
                )
            })
            .unwrap();
        let voided = redeem(&store, &token.as_hex(), "Scelta-dal-titolare", at(3));
        assert!(matches!(voided, Err(LinkError::Superseded)), "{voided:?}");
    }
}
