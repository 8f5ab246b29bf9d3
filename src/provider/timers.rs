//! The 12 h / 24 h timers of the punto di accesso (RFC 6109 §3.1.6): per
//! certified recipient, a preavviso when neither presa in carico nor consegna arrived
//! within 12 hours, and the final avviso (`5.4.1`) at 24 hours when no consegna did.
//! Timers are durable store records, so they survive restarts.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::pec::compose::Facts;
use crate::pec::daticert::Recipient;
use crate::pec::receipt;
use crate::pec::receipt::Timeout;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::deliver_notice;
use crate::store::log::EventKind;
use crate::store::log::LogQuery;
use crate::store::timers::Due;
use crate::store::timers::Timer;

/// How long the event log is kept (DPR 68/2005, RFC 6109 §2.3): 30 months.
pub const LOG_RETENTION_MONTHS: i64 = 30;

/// Checks the timers every `tick` until shutdown; prunes the event log past its
/// retention once an hour.
pub async fn run(provider: Provider, tick: Duration, shutdown: CancellationToken) {
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        let fired = provider
            .blocking(|p| p.fire_due_timers(Timestamp::now()))
            .await;
        if let Err(error) = fired {
            tracing::error!(%error, "timers");
        }
        if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            last_prune = Some(std::time::Instant::now());
            if let Err(error) = provider.blocking(|p| p.prune_log(Timestamp::now())).await {
                tracing::error!(%error, "log retention");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

impl Provider {
    /// Drops event-log records older than the 30-month retention; returns how many.
    pub fn prune_log(&self, now: Timestamp) -> Result<u64, ProviderError> {
        let cutoff = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .checked_sub(jiff::Span::new().months(LOG_RETENTION_MONTHS))
            .map_or(Timestamp::MIN, |z| z.timestamp());
        Ok(self.store().write(|tx| tx.events().prune_before(cutoff))?)
    }

    /// Emits every notice that is due at `now`; returns how many.
    pub fn fire_due_timers(&self, now: Timestamp) -> Result<usize, ProviderError> {
        let due = self.store().read(|tx| tx.timers().due(now))?;
        let mut count = 0;
        for (timer, which) in due {
            if self.fire(&timer, which, now)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Sends one notice, unless it was sent since `which` was found due (by another
    /// node of a cluster, which read the same timers); whether it was sent now.
    pub fn fire(&self, timer: &Timer, which: Due, now: Timestamp) -> Result<bool, ProviderError> {
        let facts = self.submission_facts(&timer.pec_id, &timer.sender, &timer.recipient)?;
        let timeout = match which {
            Due::Warning12h => Timeout::Warning12h,
            Due::Final24h => Timeout::Final24h,
        };
        let stamp = self.stamp(now);
        let notice =
            receipt::delivery_warning(self.issuer(), &facts, &timer.recipient, timeout, &stamp);
        let sealed = self.seal_notice(&notice)?;
        let fired = self.store().write(|tx| {
            // Another node may have sent this notice since the timers were read.
            if tx.timers().due_now(&timer.pec_id, &timer.recipient, now)? != Some(which) {
                return Ok(false);
            }
            let mut logged = crate::provider::access_point::event(
                EventKind::DeliveryWarning,
                &facts,
                &timer.sender,
                now,
                vec![stamp.message_id.clone()],
            );
            logged.detail = Some(format!(
                "{} {}",
                timer.recipient,
                timeout.extended(self.issuer())
            ));
            tx.events().log(logged)?;
            deliver_notice(tx, &timer.sender, &sealed, &stamp.message_id, now)?;
            match which {
                Due::Warning12h => tx.timers().mark_warned(&timer.pec_id, &timer.recipient)?,
                Due::Final24h => tx.timers().remove(&timer.pec_id, &timer.recipient)?,
            }
            Ok(true)
        })?;
        if !fired {
            return Ok(false);
        }
        let fired = match which {
            Due::Warning12h => crate::metrics::TimerKind::Warning12h,
            Due::Final24h => crate::metrics::TimerKind::Final24h,
        };
        self.metrics().timer_fired(fired);
        tracing::info!(msgid = %timer.pec_id, mailbox = %timer.sender, recipient = %timer.recipient, timer = ?which, "avviso di mancata consegna per tempo scaduto");
        Ok(true)
    }

    /// The facts of one of our submissions, from its `Accepted` log record.
    fn submission_facts(
        &self,
        pec_id: &str,
        sender: &str,
        recipient: &str,
    ) -> Result<Facts, ProviderError> {
        let query = LogQuery {
            msgid: Some(pec_id.to_string()),
            ..LogQuery::default()
        };
        let records = self.store().read(|tx| tx.events().query(&query))?;
        let accepted = records
            .into_iter()
            .map(|r| r.event)
            .find(|e| e.kind == EventKind::Accepted);
        let (recipients, subject, msgid, reply_to) = match accepted {
            Some(event) => {
                let reply_to = event.detail.clone().unwrap_or_else(|| sender.to_string());
                (
                    event.recipients,
                    event.subject,
                    event.client_msgid,
                    reply_to,
                )
            }
            None => (vec![recipient.to_string()], None, None, sender.to_string()),
        };
        Ok(Facts {
            sender: sender.to_string(),
            recipients: recipients
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    kind: self.classify(a),
                })
                .collect(),
            reply_to,
            subject,
            id: pec_id.to_string(),
            msgid,
        })
    }
}
