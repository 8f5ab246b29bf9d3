//! The provider as the SMTP layer's backend: credentials, recipient checks at RCPT
//! time, and whole messages handed to the punto di accesso (submission) or the punto di
//! ricezione (MX). Faults become a temporary `451`, so the client retries and nothing
//! half-done is acknowledged.
//!
//! This is the one place where the provider's outcomes become SMTP replies: the points
//! return what they did ([`Submission`], [`Reception`]), and the words the peer reads
//! are chosen here. Reply texts stay vague: details go to the log.

use jiff::Timestamp;

use crate::provider::Provider;
use crate::provider::access_point::Submission;
use crate::provider::delivery_point::AnomalyRefusal;
use crate::provider::reception_point::Reception;
use crate::smtp::reply::Reply;
use crate::smtp::server::Backend;
use crate::smtp::session::Envelope;
use crate::smtp::session::Mode;
use crate::store::StoreError;
use crate::store::mailbox::Credential;

impl Backend for Provider {
    async fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Credential>, StoreError> {
        let lookup = self.store().password_lookup();
        self.passwords()
            .check(lookup, user, password)
            .await
            .unwrap_or(Err(StoreError::Internal("the password checkers stopped")))
    }

    async fn check_recipient(
        &self,
        mode: Mode,
        _authenticated: Option<&str>,
        rcpt: &str,
    ) -> Result<(), Reply> {
        match mode {
            Mode::Submission => Ok(()),
            // Unknown local mailboxes are accepted here: the rules answer them with a
            // signed avviso di mancata consegna, not an SMTP error.
            Mode::Mx if self.is_local(rcpt) => Ok(()),
            Mode::Mx => Err(Reply::new(550, (5, 7, 1), "Relay non consentito")),
        }
    }

    async fn submit(&self, mode: Mode, envelope: Envelope) -> Reply {
        let outcome = self
            .blocking(move |p| match (mode, envelope.authenticated.as_ref()) {
                (Mode::Submission, Some(login)) => {
                    // A store that cannot tell gives the 451 below, not this.
                    if !p.store().credential_stands(&login.user, &login.credential)? {
                        tracing::info!(mailbox = %login.user, "submission refused: its login no longer stands");
                        return Ok(Reply::new(421, (4, 7, 0), "Credenziali cambiate o revocate, accedere di nuovo"));
                    }
                    p.submit(
                        &login.user,
                        &envelope.mail_from,
                        &envelope.rcpt_to,
                        &envelope.data,
                        Timestamp::now(),
                    )
                    .map(|submission| submission_reply(&submission))
                }
                (Mode::Submission, None) => {
                    Ok(Reply::new(530, (5, 7, 0), "Autenticazione richiesta"))
                }
                (Mode::Mx, _) => p
                    .receive(
                        &envelope.mail_from,
                        &envelope.rcpt_to,
                        &envelope.data,
                        Timestamp::now(),
                    )
                    .map(|reception| reception_reply(&reception)),
            })
            .await;
        outcome.unwrap_or_else(|error| {
            tracing::error!(%error, "message not taken");
            Reply::new(451, (4, 3, 0), "Errore temporaneo, riprovare più tardi")
        })
    }
}

/// The reply to a submission (sent only after the outcome is durable).
pub fn submission_reply(submission: &Submission) -> Reply {
    match submission {
        Submission::Accepted(id) => Reply::new(
            250,
            (2, 0, 0),
            format!("Ok: accettato, identificativo {id}"),
        ),
        Submission::Refused(refusal) => Reply::new(
            550,
            (5, 7, 1),
            format!("Messaggio non accettato: {}", refusal.reason()),
        ),
        Submission::Infected(virus) => Reply::new(
            554,
            (5, 7, 1),
            format!("Messaggio non accettato: rilevato virus {virus}"),
        ),
    }
}

/// The reply to a message from the MX or the local relay (sent only after the outcome
/// is durable).
pub fn reception_reply(reception: &Reception) -> Reply {
    match reception {
        Reception::TakenInCharge(id) => {
            Reply::new(250, (2, 0, 0), format!("Ok: presa in carico {id}"))
        }
        Reception::AlreadyReceived => Reply::new(250, (2, 0, 0), "Ok: messaggio già ricevuto"),
        Reception::VirusHeld => Reply::new(250, (2, 0, 0), "Ok: messaggio trattenuto per virus"),
        Reception::ReceiptDelivered => Reply::new(250, (2, 0, 0), "Ok: ricevuta consegnata"),
        Reception::ReceiptAlreadyReceived => {
            Reply::new(250, (2, 0, 0), "Ok: ricevuta già ricevuta")
        }
        Reception::Anomaly => Reply::new(250, (2, 0, 0), "Ok: busta di anomalia"),
        Reception::Refused(refusal) => refusal_reply(refusal),
    }
}

/// A refused anomaly's reply: permanent, since the sender's retries would meet the same
/// limit until the user makes room, and a bounce tells the sender now.
fn refusal_reply(refusal: &AnomalyRefusal) -> Reply {
    match refusal {
        AnomalyRefusal::OrdinaryMailOff => Reply::new(
            550,
            (5, 7, 1),
            "Questo sistema accetta solo posta elettronica certificata",
        ),
        AnomalyRefusal::TooLarge { limit, .. } => Reply::new(
            552,
            (5, 3, 4),
            format!("Messaggio non certificato troppo grande (massimo {limit} byte)"),
        ),
        AnomalyRefusal::Unreadable(_) => Reply::new(
            554,
            (5, 6, 0),
            "Messaggio non leggibile: messaggi allegati annidati oltre il massimo",
        ),
        AnomalyRefusal::NoMailbox(mailbox) => {
            Reply::new(550, (5, 1, 1), format!("Casella {mailbox} inesistente"))
        }
        AnomalyRefusal::Suspended(mailbox) => {
            Reply::new(550, (5, 2, 1), format!("Casella {mailbox} sospesa"))
        }
        AnomalyRefusal::MailboxFull(mailbox) => {
            Reply::new(552, (5, 2, 2), format!("Casella {mailbox} piena"))
        }
        AnomalyRefusal::ShareFull { mailbox, .. } => Reply::new(
            552,
            (5, 2, 2),
            format!("Casella {mailbox}: spazio per la posta non certificata esaurito"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_permanent_smtp_error() {
        let refusals = [
            AnomalyRefusal::OrdinaryMailOff,
            AnomalyRefusal::TooLarge { size: 2, limit: 1 },
            AnomalyRefusal::Unreadable("x".into()),
            AnomalyRefusal::NoMailbox("a@b.it".into()),
            AnomalyRefusal::Suspended("a@b.it".into()),
            AnomalyRefusal::MailboxFull("a@b.it".into()),
            AnomalyRefusal::ShareFull {
                mailbox: "a@b.it".into(),
                held: 1,
                share: 1,
            },
        ];
        for refusal in refusals {
            let reply = reception_reply(&Reception::Refused(refusal.clone())).to_string();
            assert!(reply.starts_with('5'), "{refusal}: {reply}");
        }
        assert!(
            refusal_reply(&AnomalyRefusal::MailboxFull("a@b.it".into()))
                .to_string()
                .starts_with("552 5.2.2")
        );
    }

    #[test]
    fn every_taken_reception_is_a_250() {
        let taken = [
            Reception::TakenInCharge("opec.1@pec-a.test".into()),
            Reception::AlreadyReceived,
            Reception::VirusHeld,
            Reception::ReceiptDelivered,
            Reception::ReceiptAlreadyReceived,
            Reception::Anomaly,
        ];
        for reception in taken {
            assert!(reception.is_taken());
            assert_eq!(reception_reply(&reception).code(), 250, "{reception:?}");
        }
    }
}
