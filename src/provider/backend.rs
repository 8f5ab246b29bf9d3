//! The provider as the SMTP layer's backend: credentials, recipient checks at RCPT
//! time, and whole messages handed to the punto di accesso (submission) or the punto di
//! ricezione (MX). Faults become a temporary `451`, so the client retries and nothing
//! half-done is acknowledged.

use jiff::Timestamp;

use crate::provider::Provider;
use crate::smtp::reply::Reply;
use crate::smtp::server::Backend;
use crate::smtp::session::Envelope;
use crate::smtp::session::Mode;

impl Backend for Provider {
    async fn authenticate(&self, user: &str, password: &str) -> bool {
        self.passwords().check(self.store(), user, password).await
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
            .blocking(move |p| match (mode, envelope.authenticated.as_deref()) {
                (Mode::Submission, Some(user)) => p
                    .submit(
                        user,
                        &envelope.mail_from,
                        &envelope.rcpt_to,
                        &envelope.data,
                        Timestamp::now(),
                    )
                    .map(|submission| submission.reply()),
                (Mode::Submission, None) => {
                    Ok(Reply::new(530, (5, 7, 0), "Autenticazione richiesta"))
                }
                (Mode::Mx, _) => p.receive(
                    &envelope.mail_from,
                    &envelope.rcpt_to,
                    &envelope.data,
                    Timestamp::now(),
                ),
            })
            .await;
        outcome.unwrap_or_else(|error| {
            tracing::error!(%error, "message not taken");
            Reply::new(451, (4, 3, 0), "Errore temporaneo, riprovare più tardi")
        })
    }
}
