//! What is read when Prometheus scrapes rather than counted as it happens: the relay
//! queue, the pending timers and the conservation queue (the store's own records, so a
//! restart or a crash cannot make them drift), and the time left on each certificate.

use std::sync::PoisonError;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use std::time::Instant;

use jiff::Timestamp;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Label;
use super::Metrics;
use super::add;
use crate::store::Store;
use crate::store::StoreError;

/// The gauges set at each scrape.
pub(super) struct Gauges {
    relay_queue: Gauge<i64>,
    relay_oldest: Gauge<f64, AtomicU64>,
    timers_pending: Family<Label, Gauge<i64>>,
    conservation_queue: Gauge<i64>,
    certificates: Family<Label, Gauge<f64, AtomicU64>>,
}

impl Gauges {
    pub(super) fn register(r: &mut Registry) -> Gauges {
        Gauges {
            relay_queue: add(
                r,
                "relay_queue_depth",
                "Jobs in the relay queue",
                Default::default(),
            ),
            relay_oldest: add(
                r,
                "relay_oldest_job_age_seconds",
                "Age of the oldest job in the relay queue (0 when empty)",
                Default::default(),
            ),
            timers_pending: add(
                r,
                "timers_pending",
                "Certified recipients still waiting for a delivery receipt, by the next timer due",
                Default::default(),
            ),
            conservation_queue: add(
                r,
                "conservation_queue_depth",
                "Messages waiting for a conservation package",
                Default::default(),
            ),
            certificates: add(
                r,
                "certificate_expiry_seconds",
                "Seconds until each certificate (signing, tls, conservation_seal, tsa) expires; negative once expired",
                Default::default(),
            ),
        }
    }
}

/// What the store holds now, counted.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Backlog {
    /// Jobs in the relay queue.
    pub relay_jobs: usize,
    /// The oldest job's creation, if any.
    pub oldest_job: Option<Timestamp>,
    /// Timers whose 12 h preavviso is still due.
    pub before_warning: usize,
    /// Timers past the preavviso, waiting for the 24 h avviso.
    pub before_final: usize,
    /// Messages in the conservation queue.
    pub conservation_jobs: usize,
}

impl Backlog {
    /// Reads the queues and timers in one snapshot.
    pub fn read(store: &Store) -> Result<Backlog, StoreError> {
        store.read(|tx| {
            let jobs = tx.queue().all()?;
            let timers = tx.timers().all()?;
            let warned = timers.iter().filter(|t| t.warned).count();
            Ok(Backlog {
                relay_jobs: jobs.len(),
                oldest_job: jobs.iter().map(|j| j.created).min(),
                before_warning: timers.len() - warned,
                before_final: warned,
                conservation_jobs: tx.conservation().jobs()?.len(),
            })
        })
    }
}

/// How long the backlog read for one scrape stands for the next when anyone may
/// scrape (`[metrics] public`): a read goes through every queued job and timer, and a
/// stranger asking in a loop must not make the daemon do that in a loop.
pub const PUBLIC_BACKLOG_AGE: Duration = Duration::from_secs(5);

/// Sets the scrape-time gauges from the store and the clock; the backlog is read
/// again only when the last read is older than `backlog_age`. A store that cannot be
/// read leaves the last values and says so.
pub fn refresh(metrics: &Metrics, store: &Store, now: Timestamp, backlog_age: Duration) {
    let mut last = metrics
        .inner
        .backlog_read
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if last.is_none_or(|at| at.elapsed() >= backlog_age) {
        read_backlog(metrics, store, now);
        *last = Some(Instant::now());
    }
    drop(last);
    let expiry = metrics
        .inner
        .expiry
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let gauges = &metrics.inner.of.scraped;
    for (which, not_after) in expiry.iter() {
        let left = not_after.duration_since(now).as_secs_f64();
        let label = [("certificate", (*which).to_string())];
        gauges.certificates.get_or_create(&label).set(left);
    }
}

/// Sets the backlog's gauges from the store.
fn read_backlog(metrics: &Metrics, store: &Store, now: Timestamp) {
    let gauges = &metrics.inner.of.scraped;
    match Backlog::read(store) {
        Ok(backlog) => {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            gauges.relay_queue.set(count(backlog.relay_jobs));
            let age = backlog.oldest_job.map_or(0.0, |created| {
                now.duration_since(created).as_secs_f64().max(0.0)
            });
            gauges.relay_oldest.set(age);
            let pending = |timer: &str, n: usize| {
                let label = [("timer", timer.to_string())];
                gauges.timers_pending.get_or_create(&label).set(count(n));
            };
            pending("12h", backlog.before_warning);
            pending("24h", backlog.before_final);
            gauges
                .conservation_queue
                .set(count(backlog.conservation_jobs));
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the queues"),
    }
}

/// The whole scrape in the Prometheus text format (version 0.0.4), with the backlog
/// as read at most `backlog_age` ago.
pub fn encode(metrics: &Metrics, store: &Store, now: Timestamp, backlog_age: Duration) -> String {
    refresh(metrics, store, now, backlog_age);
    let mut text = String::new();
    if let Err(error) =
        prometheus_client::encoding::prometheus_text::encode(&mut text, metrics.registry())
    {
        tracing::error!(%error, "metrics: cannot encode");
    }
    text
}

/// The media type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// When the first certificate of a PEM text stops being valid.
pub fn not_after(pem: &[u8]) -> Option<Timestamp> {
    let certificate = openssl::x509::X509::from_pem(pem).ok()?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let since = epoch.diff(certificate.not_after()).ok()?;
    let seconds = i64::from(since.days) * 86_400 + i64::from(since.secs);
    Timestamp::from_second(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queue::Job;
    use crate::store::queue::JobKind;

    fn relay_queue(text: &str) -> &str {
        let line = text
            .lines()
            .find(|l| l.starts_with("pecd_relay_queue_depth "));
        line.and_then(|l| l.split(' ').nth(1)).unwrap_or_default()
    }

    /// A public scrape asked in a loop reads the store once per interval; a scrape
    /// with the bearer token always reads it.
    #[test]
    fn public_scrapes_read_the_backlog_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let metrics = Metrics::default();
        let now = Timestamp::now();
        let age = PUBLIC_BACKLOG_AGE;
        assert_eq!(relay_queue(&encode(&metrics, &store, now, age)), "0");
        let blob = store.blobs().put(b"x").unwrap();
        let job = Job::new(
            "pec-b.test",
            "a@pec-a.test",
            vec![],
            blob,
            now,
            JobKind::Transport,
        );
        store.write(|tx| tx.queue().enqueue(job.clone())).unwrap();
        for _ in 0..100 {
            assert_eq!(relay_queue(&encode(&metrics, &store, now, age)), "0");
        }
        assert_eq!(
            relay_queue(&encode(&metrics, &store, now, Duration::ZERO)),
            "1"
        );
    }
}
