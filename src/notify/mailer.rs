//! The mailer: drains the outbox to the smarthost (`[notify] smtp`) over the crate's
//! SMTP client, STARTTLS whenever the smarthost offers it (and then with a checked
//! certificate), retrying with backoff.
//!
//! A mail leaves the outbox only in the transaction after the smarthost's `250` to its
//! data, so a crash or a refusal resends it, never loses it; a mail whose link request
//! is no longer live (used, superseded, expired) is dropped unsent, since its link could
//! not work. Each attempt makes a fresh token and records its digest before the mail
//! goes out: the token exists only in the mail.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::net::tls;
use crate::net::tls::TlsError;
use crate::notify::NotifySettings;
use crate::notify::compose;
use crate::notify::compose::LinkMail;
use crate::notify::token::Token;
use crate::notify::token::TokenError;
use crate::smtp::client;
use crate::smtp::client::ClientOptions;
use crate::smtp::client::ClientTimeouts;
use crate::smtp::client::Connection;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::links::Issued;
use crate::store::outbox::OutboxContent;
use crate::store::outbox::OutboxMail;

/// Mails sent per pass over one session.
const BATCH: usize = 32;
/// How often the outbox is looked at.
const TICK: Duration = Duration::from_secs(1);
/// The longest wait between two attempts, unless `retry` is longer.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How often expired links are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Where and how the mailer sends.
#[derive(Clone, Debug)]
pub struct Transport {
    /// The smarthost; `None` keeps every mail queued.
    pub smarthost: Option<Smarthost>,
    /// The SMTP client's settings: STARTTLS when offered, with these roots.
    pub options: ClientOptions,
    /// The first delay after a failure; it doubles per attempt.
    pub retry: Duration,
}

/// A smarthost's address and the name its certificate must carry.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Smarthost {
    /// `host:port`, as connected to.
    pub address: String,
    /// The host, as the certificate names it.
    pub tls_name: String,
}

/// Why `[notify] smtp` is not a smarthost.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("[notify] smtp {0:?} is not host:port")]
pub struct SmarthostError(pub String);

impl Smarthost {
    /// Reads `host:port` (`[v6 address]:port` for IPv6).
    pub fn parse(text: &str) -> Result<Smarthost, SmarthostError> {
        let invalid = || SmarthostError(text.to_string());
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        port.parse::<u16>().map_err(|_| invalid())?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(invalid());
        }
        Ok(Smarthost {
            address: text.to_string(),
            tls_name: host.to_string(),
        })
    }
}

impl Transport {
    /// `[notify] smtp` and `retry_secs`; the smarthost's certificate must chain to a
    /// public root or to one of `[relay] tls_roots`.
    pub fn from_config(config: &Config) -> Result<Transport, TransportError> {
        let smtp = &config.notify.smtp;
        let smarthost = if smtp.is_empty() {
            None
        } else {
            Some(Smarthost::parse(smtp)?)
        };
        Ok(Transport {
            smarthost,
            options: ClientOptions {
                helo: config.provider.domain.clone(),
                tls: tls::client_config_with_public_roots(&config.relay.tls_roots)?,
                require_tls: false,
                timeouts: ClientTimeouts::default(),
            },
            retry: Duration::from_secs(config.notify.retry_secs.max(1)),
        })
    }
}

/// Why the mailer cannot be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// `[notify] smtp` is not `host:port`.
    #[error(transparent)]
    Smarthost(#[from] SmarthostError),
    /// The roots of `[relay] tls_roots` do not load.
    #[error("[relay] tls_roots: {0}")]
    Tls(#[from] TlsError),
}

/// Faults of the mailer itself (not of the smarthost, which are retried).
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A blocking task did not finish.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// No token could be made.
    #[error("{0}")]
    Token(#[from] TokenError),
}

/// Runs the mailer until shutdown.
pub async fn run(
    store: Store,
    settings: NotifySettings,
    transport: Transport,
    shutdown: CancellationToken,
) {
    match &transport.smarthost {
        Some(smarthost) => tracing::info!(smarthost = %smarthost.address, "notify mailer running"),
        None => tracing::warn!(
            "no [notify] smtp smarthost: activation and new-password mails stay queued"
        ),
    }
    if settings.web_url.is_empty() {
        tracing::warn!(
            "no [web] url and no [listen] web: the links in activation mails lead nowhere"
        );
    }
    let mut last_purge: Option<Timestamp> = None;
    loop {
        if let Some(smarthost) = &transport.smarthost {
            // Shutdown does not wait for a slow smarthost: a mail cut off mid-send is
            // still queued, and goes again after the restart.
            tokio::select! {
                drained = drain(&store, &settings, &transport, smarthost) => {
                    if let Err(error) = drained {
                        tracing::error!(%error, "notify mailer");
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
        let now = Timestamp::now();
        if last_purge.is_none_or(|t| now.duration_since(t).unsigned_abs() >= PURGE_EVERY) {
            last_purge = Some(now);
            let purged = blocking(&store, move |s| s.write(|tx| tx.links().purge(now))).await;
            if let Err(error) = purged {
                tracing::error!(%error, "purging expired links");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One pass: the mails due now, over one session with the smarthost.
async fn drain(
    store: &Store,
    settings: &NotifySettings,
    transport: &Transport,
    smarthost: &Smarthost,
) -> Result<(), MailerError> {
    let due = blocking(store, |s| {
        s.read(|tx| tx.outbox().due(Timestamp::now(), BATCH))
    })
    .await?;
    if due.is_empty() {
        return Ok(());
    }
    let opened = Connection::open(
        smarthost.address.as_str(),
        &smarthost.tls_name,
        &transport.options,
    )
    .await;
    let mut connection = match opened {
        Ok(connection) => connection,
        Err(error) => {
            let reason = format!("{}: {error}", smarthost.address);
            for mail in &due {
                failed(store, transport, mail, &reason).await?;
            }
            return Ok(());
        }
    };
    for mail in due {
        // A session out of step carries nothing more; the rest wait for the next pass.
        if !connection.is_reusable() {
            break;
        }
        attempt(store, settings, transport, &mut connection, mail).await?;
    }
    connection.quit().await;
    Ok(())
}

/// Sends one mail over `connection`, then removes or reschedules it.
async fn attempt(
    store: &Store,
    settings: &NotifySettings,
    transport: &Transport,
    connection: &mut Connection,
    mail: OutboxMail,
) -> Result<(), MailerError> {
    let Some(data) = prepare(store, settings, &mail).await? else {
        return Ok(());
    };
    let message = client::Message {
        mail_from: &settings.from,
        rcpt_to: std::slice::from_ref(&mail.to),
        data: &data,
    };
    let refusal = match connection.send(&message).await {
        Ok(delivery)
            if delivery
                .data_reply
                .as_ref()
                .is_some_and(|r| r.is_positive()) =>
        {
            None
        }
        Ok(delivery) => Some(
            delivery
                .rejected()
                .map(|r| format!("{} {}", r.reply.code(), r.reply.text()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(error) => Some(error.to_string()),
    };
    match refusal {
        None => {
            let id = mail.id;
            blocking(store, move |s| s.write(|tx| tx.outbox().remove(id))).await?;
            tracing::info!(id, to = %mail.to, "notify mail accepted by the smarthost");
            Ok(())
        }
        Some(reason) => failed(store, transport, &mail, &reason).await,
    }
}

/// Makes the mail's token, records its link and writes the mail; `None` (and the mail
/// removed) when its request is no longer live.
async fn prepare(
    store: &Store,
    settings: &NotifySettings,
    mail: &OutboxMail,
) -> Result<Option<Vec<u8>>, MailerError> {
    let OutboxContent::PasswordLink {
        mailbox,
        purpose,
        request,
    } = mail.content.clone();
    let token = Token::generate()?;
    let digest = token.digest();
    let now = Timestamp::now();
    let (id, address) = (mail.id, mailbox.clone());
    let issued = blocking(store, move |s| {
        s.write(|tx| {
            let issued = tx.links().issue(&digest, &address, request, now)?;
            if issued == Issued::Stale {
                tx.outbox().remove(id)?;
            }
            Ok(issued)
        })
    })
    .await?;
    let Issued::Issued(link) = issued else {
        tracing::info!(id, %mailbox, "notify mail dropped: its link request is no longer live");
        return Ok(None);
    };
    let url = settings.link_url(&token);
    let content = LinkMail {
        to: &mail.to,
        mailbox: &mailbox,
        purpose,
        url: &url,
        expires: link.expires,
    };
    let message_id = message_id(settings, now)?;
    Ok(Some(compose::link_mail(
        settings,
        &content,
        &message_id,
        now,
    )))
}

/// Reschedules a mail after a failed attempt.
async fn failed(
    store: &Store,
    transport: &Transport,
    mail: &OutboxMail,
    reason: &str,
) -> Result<(), MailerError> {
    let delay = backoff(transport.retry, mail.attempts);
    let next = Timestamp::now()
        .checked_add(delay)
        .unwrap_or(Timestamp::MAX);
    tracing::warn!(id = mail.id, to = %mail.to, %reason, retry_in_secs = delay.as_secs(), "notify mail not accepted");
    let (id, reason) = (mail.id, reason.to_string());
    blocking(store, move |s| {
        s.write(|tx| tx.outbox().reschedule(id, next, &reason))
    })
    .await?;
    Ok(())
}

/// The wait before attempt `attempts + 2`: `retry` doubled per attempt, capped.
fn backoff(retry: Duration, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX);
    retry.saturating_mul(factor).min(MAX_BACKOFF.max(retry))
}

/// A Message-ID unique to this attempt, naming the provider's domain.
fn message_id(settings: &NotifySettings, now: Timestamp) -> Result<String, TokenError> {
    let mut random = [0u8; 8];
    openssl::rand::rand_bytes(&mut random).map_err(|_| TokenError::Randomness)?;
    Ok(format!(
        "notify.{}.{}@{}",
        now.as_millisecond(),
        hex::encode(random),
        settings.domain
    ))
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Store,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, MailerError> {
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || work(&store)).await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smarthost_is_host_and_port() {
        let parsed = Smarthost::parse("smtp.example.test:587").unwrap();
        assert_eq!(parsed.address, "smtp.example.test:587");
        assert_eq!(parsed.tls_name, "smtp.example.test");
        assert_eq!(Smarthost::parse("[::1]:25").unwrap().tls_name, "::1");
        for bad in [
            "",
            "smtp.example.test",
            ":25",
            "host:port",
            "host:70000",
            "a b:25",
        ] {
            assert!(Smarthost::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_an_hour() {
        let retry = Duration::from_secs(300);
        assert_eq!(backoff(retry, 0), retry);
        assert_eq!(backoff(retry, 1), Duration::from_secs(600));
        assert_eq!(backoff(retry, 40), MAX_BACKOFF);
        let long = Duration::from_secs(7200);
        assert_eq!(backoff(long, 3), long);
    }
}
