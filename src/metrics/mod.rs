//! The daemon's metrics, in the Prometheus text format (`GET /metrics` on the admin
//! listener). One [`Metrics`] is made by `pecd serve` and handed to what it watches:
//! the provider (and through it the SMTP front end), the IMAP listeners, the
//! conservation task. Counters move where things happen, one call each; what the store
//! already knows (queue depths, pending timers) is read when Prometheus scrapes
//! ([`scrape`]), so no count can drift from the truth.
//!
//! Names follow Prometheus' conventions (`pecd_` prefix, base units, `_total` on
//! counters); `promtool check metrics` passes on a real scrape (the integration test).
//! Label values come from closed sets (refusal codes, receipt kinds, protocols) or, for
//! relay peers, from the configured routes and the index: no value a stranger chooses.

mod instruments;
pub mod scrape;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::meter::CommitMeter;
use instruments::Instruments;
use instruments::add;

/// One label: `[(name, value)]`.
type Label = [(&'static str, String); 1];
/// Two labels.
type Labels = [(&'static str, String); 2];

/// A gauge of whole numbers.
type Count = Gauge<i64>;
/// A gauge of real numbers.
type Real = Gauge<f64, AtomicU64>;

/// Which front end a connection or login belongs to.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Protocol {
    /// SMTP: submission, submissions and the MX.
    Smtp,
    /// IMAP and IMAPS.
    Imap,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
        }
    }
}

/// Which 12 h / 24 h timer.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum TimerKind {
    /// The preavviso di mancata consegna.
    Warning12h,
    /// The avviso di mancata consegna.
    Final24h,
}

impl TimerKind {
    fn as_str(self) -> &'static str {
        match self {
            TimerKind::Warning12h => "12h",
            TimerKind::Final24h => "24h",
        }
    }
}

/// The metrics registry and its instruments (cheap to clone: one shared set).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// The registry and the instruments registered in it.
struct Inner {
    registry: Registry,
    of: Instruments,
    /// When each certificate stops being valid: set at load and at every reload.
    expiry: Mutex<BTreeMap<&'static str, Timestamp>>,
    /// When the store's backlog was last read for a scrape; held while it is read,
    /// so scrapes at the same time read it once.
    backlog_read: Mutex<Option<std::time::Instant>>,
}

impl Default for Metrics {
    /// A registry of its own (commands and tests that nobody scrapes).
    fn default() -> Self {
        Metrics::new(&CommitMeter::default())
    }
}

impl Metrics {
    /// Every instrument, registered; the store's commit instruments are `store`'s.
    pub fn new(store: &CommitMeter) -> Metrics {
        let mut registry = Registry::with_prefix("pecd");
        let r = &mut registry;
        let of = Instruments::register(r);
        add(
            r,
            "store_commit_seconds",
            "Time of one durable store commit",
            store.latency.clone(),
        );
        add(
            r,
            "store_commit_writes",
            "Writes carried by one store commit",
            store.batch.clone(),
        );
        of.show_at_zero();
        Metrics {
            inner: Arc::new(Inner {
                registry,
                of,
                expiry: Mutex::new(BTreeMap::new()),
                backlog_read: Mutex::new(None),
            }),
        }
    }

    /// The punto di accesso accepted a message.
    pub fn accepted(&self) {
        self.inner.of.access.accepted.inc();
    }

    /// The punto di accesso refused a message (`reason`: a refusal code).
    pub fn refused(&self, reason: &str) {
        self.inner
            .of
            .access
            .refused
            .get_or_create(&[("reason", reason.to_string())])
            .inc();
    }

    /// The punto di accesso found a virus.
    pub fn infected(&self) {
        self.inner.of.access.infected.inc();
    }

    /// A valid busta di trasporto arrived.
    pub fn envelope_received(&self) {
        self.inner.of.reception.envelopes.inc();
    }

    /// A message became a busta di anomalia (`cause`: one of a few fixed words).
    pub fn anomaly(&self, cause: &'static str) {
        self.inner
            .of
            .reception
            .anomalies
            .get_or_create(&[("cause", cause.to_string())])
            .inc();
    }

    /// We signed a receipt or notice of daticert `tipo` `kind`.
    pub fn receipt_issued(&self, kind: &str) {
        let label = [("kind", kind.to_string())];
        self.inner.of.receipts.issued.get_or_create(&label).inc();
    }

    /// A valid receipt of `tipo` `kind` arrived.
    pub fn receipt_received(&self, kind: &str) {
        let label = [("kind", kind.to_string())];
        self.inner.of.receipts.received.get_or_create(&label).inc();
    }

    /// The relay tries a delivery to `peer` (a domain).
    pub fn relay_attempt(&self, peer: &str) {
        self.inner
            .of
            .relay
            .attempts
            .get_or_create(&[("peer", peer.to_string())])
            .inc();
    }

    /// A delivery to `peer` failed.
    pub fn relay_failure(&self, peer: &str) {
        self.inner
            .of
            .relay
            .failures
            .get_or_create(&[("peer", peer.to_string())])
            .inc();
    }

    /// A 12 h or 24 h timer fired.
    pub fn timer_fired(&self, timer: TimerKind) {
        let label = [("timer", timer.as_str().to_string())];
        self.inner.of.timers_fired.get_or_create(&label).inc();
    }

    /// A connection opened; it counts as open until the guard is dropped.
    pub fn connection(&self, protocol: Protocol) -> OpenConnection {
        let label = [("protocol", protocol.as_str().to_string())];
        self.inner
            .of
            .sessions
            .connections
            .get_or_create(&label)
            .inc();
        OpenConnection {
            metrics: self.clone(),
            label,
        }
    }

    /// A password was checked: right (`ok`) or wrong.
    pub fn login(&self, protocol: Protocol, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        let labels = [
            ("protocol", protocol.as_str().to_string()),
            ("result", result.to_string()),
        ];
        self.inner.of.sessions.logins.get_or_create(&labels).inc();
    }

    /// An IMAP session in IDLE or NOTIFY was woken by a commit to its mailbox.
    pub fn imap_woken(&self) {
        self.inner.of.sessions.imap_wakes.inc();
    }

    /// The throttle refused a login without checking it (locked or busy).
    pub fn throttled(&self, protocol: Protocol) {
        let label = [("protocol", protocol.as_str().to_string())];
        self.inner.of.sessions.throttled.get_or_create(&label).inc();
    }

    /// A conservation pass: packages made, bytes, refusals, quota alerts sent.
    pub fn conservation(&self, packages: usize, bytes: u64, refusals: usize, alerts: usize) {
        let conservation = &self.inner.of.conservation;
        conservation.packages.inc_by(packages as u64);
        conservation.ingest_bytes.inc_by(bytes);
        conservation.refusals.inc_by(refusals as u64);
        conservation.quota_alerts.inc_by(alerts as u64);
    }

    /// A message was signed in `took`.
    pub fn signed(&self, took: Duration) {
        self.inner.of.signatures.signing.observe(took.as_secs_f64());
    }

    /// A message from the MX was verified in `took`; `valid` when it was certified.
    pub fn verified(&self, took: Duration, valid: bool) {
        self.inner
            .of
            .signatures
            .verification
            .observe(took.as_secs_f64());
        let result = if valid { "valid" } else { "invalid" };
        let label = [("result", result.to_string())];
        self.inner
            .of
            .signatures
            .verifications
            .get_or_create(&label)
            .inc();
    }

    /// A providers index of `providers` entries was loaded at `now`.
    pub fn index_loaded(&self, providers: usize, now: Timestamp) {
        self.inner
            .of
            .index
            .entries
            .set(i64::try_from(providers).unwrap_or(i64::MAX));
        self.inner
            .of
            .index
            .reloaded
            .set(now.as_millisecond() as f64 / 1000.0);
    }

    /// A new providers index was refused; the previous one stays.
    pub fn index_refused(&self) {
        self.inner.of.index.failures.inc();
    }

    /// A configuration reload was applied (`ok`) or refused.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        let label = [("result", result.to_string())];
        self.inner.of.reloads.get_or_create(&label).inc();
    }

    /// Certificate `which` (`signing`, `tls`, `conservation_seal`, `tsa`) is the first
    /// one in the PEM file `path`: its expiry is watched from now on. A file that does
    /// not read leaves the previous value (and says so).
    pub fn certificate(&self, which: &'static str, path: &std::path::Path) {
        let read = std::fs::read(path)
            .ok()
            .and_then(|pem| scrape::not_after(&pem));
        let Some(not_after) = read else {
            tracing::warn!(certificate = which, path = %path.display(), "metrics: cannot read the certificate's expiry");
            return;
        };
        let mut expiry = self
            .inner
            .expiry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        expiry.insert(which, not_after);
    }

    /// The registry, for encoding (after [`scrape::refresh`]).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

/// A connection counted as open; dropping it counts it closed.
pub struct OpenConnection {
    metrics: Metrics,
    label: Label,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics
            .inner
            .of
            .sessions
            .connections
            .get_or_create(&self.label)
            .dec();
    }
}
