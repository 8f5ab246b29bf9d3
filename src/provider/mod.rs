//! The PEC behaviour: the three points of the regulation in action, over the pure
//! formats (`pec`), the signatures (`crypto`) and the durable store (`store`).
//!
//! * [`access_point`]: punto di accesso, users' submissions;
//! * [`reception_point`]: punto di ricezione, messages from other providers;
//! * [`delivery_point`]: punto di consegna, into mailboxes;
//! * [`relay`]: the outbound queue to other providers;
//! * [`timers`]: the 12 h / 24 h notices.
//!
//! Invariants:
//! * No receipt or notice is emitted, and no SMTP 250 sent, before the fact it certifies
//!   is committed: every step writes its log record, queue jobs and mailbox appends in
//!   one durable store transaction, and signed messages are durable blobs before that.
//! * Every certified fact is one record in the event log.
//! * Everything we sign goes through `crypto::smime::sign`; everything from another
//!   provider passes `crypto::validation` before we act on it.

pub mod access_point;
pub mod backend;
pub mod clamd;
pub mod correlation;
pub mod delivery_point;
pub mod index_fetch;
pub mod mailboxes;
pub mod mx;
pub mod reception_point;
pub mod relay;
pub mod timers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::crypto::identity::Signer;
use crate::crypto::smime;
use crate::crypto::smime::Anchors;
use crate::pec::access::Limits;
use crate::pec::compose::Issuer;
use crate::pec::compose::Stamp;
use crate::pec::compose::Unsigned;
use crate::pec::id;
use crate::pec::index::ProvidersIndex;
use crate::pec::kind::RecipientType;
use crate::pec::time::LocalTime;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::mailbox::Appended;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::MailboxType;
use crate::store::mailbox::SendingLimits;
use crate::store::quarantine::Quarantined;

/// How long the PEC timers run (RFC 6109 §3.1.6); configurable so tests use seconds.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct TimerDurations {
    /// The preavviso: 12 hours.
    pub warning: Duration,
    /// The final avviso: 24 hours (never before 22).
    pub last: Duration,
}

/// The provider's settings, from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Who we are.
    pub issuer: Issuer,
    /// The access point's limits.
    pub limits: Limits,
    /// The timer durations.
    pub timers: TimerDurations,
    /// Whether ordinary (non-PEC) mail is accepted at the MX, wrapped in a busta di anomalia.
    pub accept_ordinary_mail: bool,
    /// domain → `host:port` of other providers' MX.
    pub routes: BTreeMap<String, String>,
    /// The virus scanner, when enabled.
    pub clamd: Option<clamd::Clamd>,
    /// What each mailbox type may send; a type not listed has only `limits`.
    pub sending: BTreeMap<MailboxType, SendingLimits>,
}

/// Faults (not outcomes) of the provider: the store, the keys.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] smime::SmimeError),
    /// The virus scanner could not be asked (messages wait: fail closed).
    #[error(transparent)]
    Scan(#[from] clamd::ClamdError),
    /// A blocking task failed to run.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The domain of an address, lower-cased.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase()
}

/// Puts a signed receipt or notice into a user's INBOX, tagged `$PecRicevuta` and
/// indexed by its own Message-ID, and updates the keywords of the message it is about.
///
/// Unlike [`file_in_inbox`], a mailbox that cannot take the notice (full, suspended)
/// does not abort the transaction: the notice restates a fact committed with it (an
/// acceptance, a timer's expiry) that a full mailbox must not undo or hold up.
pub(crate) fn deliver_notice(
    tx: &mut Tx<'_>,
    user: &str,
    sealed: &Sealed,
    message_id: &str,
    now: Timestamp,
) -> Result<Appended, StoreError> {
    let keywords = [access_point::RECEIPT_KEYWORD.to_string()];
    let appended = append_to_inbox(
        tx,
        user,
        &sealed.blob,
        sealed.size,
        &keywords,
        now,
        Some(&id::bracketed(message_id)),
    )?;
    correlation::on_notice(tx, user, sealed.notice.as_ref())?;
    Ok(appended)
}

/// A notice of ours, signed and put in the store, with what it tells the sender's
/// `Sent` copy (known from what it was built with: our own messages are not parsed).
pub(crate) struct Sealed {
    /// Its body.
    pub(crate) blob: BlobId,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// What it says about the message it refers to.
    pub(crate) notice: Option<correlation::Notice>,
}

/// Files a message into a user's INBOX and, in the same transaction, queues it for
/// conservation when the mailbox's rule selects it (`conservation::queue::on_inbox`).
///
/// A mailbox that does not take it (none, suspended, over quota) fails the whole
/// transaction: what the MX acknowledges is filed, or the sender is told it was not
/// and retries. Callers that decide the outcome themselves check first
/// ([`Provider::predict`], [`delivery_point::anomaly_refusal_in`]).
pub(crate) fn file_in_inbox(
    tx: &mut Tx<'_>,
    user: &str,
    blob: &BlobId,
    size: u64,
    keywords: &[String],
    now: Timestamp,
    message_id: Option<&str>,
) -> Result<Appended, StoreError> {
    match append_to_inbox(tx, user, blob, size, keywords, now, message_id)? {
        stored @ Appended::Stored { .. } => Ok(stored),
        refused => Err(StoreError::Conflict(format!(
            "the INBOX of {user} does not take {size} bytes: {refused:?}"
        ))),
    }
}

/// Appends to a user's INBOX and queues for conservation what the mailbox's rule
/// selects. Every INBOX append of the provider comes here, through [`file_in_inbox`],
/// [`deliver_notice`] or, for received receipts, directly.
pub(crate) fn append_to_inbox(
    tx: &mut Tx<'_>,
    user: &str,
    blob: &BlobId,
    size: u64,
    keywords: &[String],
    now: Timestamp,
    message_id: Option<&str>,
) -> Result<Appended, StoreError> {
    let appended = tx
        .mailboxes()
        .append(user, INBOX, blob, size, keywords, now, message_id)?;
    if matches!(appended, Appended::Stored { .. }) {
        crate::conservation::queue::on_inbox(tx, user, blob, size, keywords, now)?;
    }
    Ok(appended)
}

/// The provider: shared by every listener and task (cheap to clone).
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    /// Who we are: fixed for the life of the process.
    issuer: Issuer,
    /// The tunable rest, replaced whole on reload (SIGHUP).
    settings: RwLock<Arc<Settings>>,
    anomaly_limits: RwLock<delivery_point::AnomalyLimits>,
    store: Store,
    signer: RwLock<Signer>,
    index: RwLock<Arc<ProvidersIndex>>,
    index_status: index_fetch::IndexStatusCell,
    anchors: Option<Anchors>,
    counter: AtomicU64,
    passwords: crate::net::passwords::PasswordChecks,
    relay_wake: Notify,
    metrics: crate::metrics::Metrics,
}

impl Provider {
    /// Assembles the provider.
    pub fn new(
        settings: Settings,
        store: Store,
        signer: Signer,
        index: ProvidersIndex,
        anchors: Option<Anchors>,
    ) -> Provider {
        let seed = {
            let mut bytes = [0u8; 8];
            // A random start keeps identifiers unique across restarts; the counter keeps
            // them unique within one run.
            let _ = openssl::rand::rand_bytes(&mut bytes);
            u64::from_le_bytes(bytes)
        };
        let index_status = index_fetch::IndexStatusCell::default();
        index_status.loaded(&index);
        Provider {
            inner: Arc::new(Inner {
                issuer: settings.issuer.clone(),
                settings: RwLock::new(Arc::new(settings)),
                anomaly_limits: RwLock::new(delivery_point::AnomalyLimits::default()),
                store,
                signer: RwLock::new(signer),
                index: RwLock::new(Arc::new(index)),
                index_status,
                anchors,
                counter: AtomicU64::new(seed),
                passwords: crate::net::passwords::PasswordChecks::start_releasing(
                    2,
                    crate::store::mailbox::release_argon2_memory,
                ),
                relay_wake: Notify::new(),
                metrics: crate::metrics::Metrics::default(),
            }),
        }
    }

    /// Sets the MX's limits on buste di anomalia (`[mx]`; the defaults otherwise). Part
    /// of assembling the provider: it applies only while no clone of it exists yet, as
    /// right after [`Provider::new`], and returns `None` after that.
    pub fn with_anomaly_limits(
        mut self,
        limits: delivery_point::AnomalyLimits,
    ) -> Option<Provider> {
        Arc::get_mut(&mut self.inner)?.anomaly_limits = RwLock::new(limits);
        Some(self)
    }

    /// Counts into `metrics` (the daemon's registry) instead of a registry of its own;
    /// like [`Provider::with_anomaly_limits`], only while no clone exists.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Option<Provider> {
        Arc::get_mut(&mut self.inner)?.metrics = metrics;
        Some(self)
    }

    /// Where the provider counts what it does.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        let guard = self.inner.settings.read();
        Arc::clone(&guard.unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Puts new settings in force (a reload): messages being handled finish under
    /// the ones they started with. The issuer stays: a provider's identity needs a
    /// restart.
    pub fn set_settings(&self, mut settings: Settings) {
        settings.issuer = self.inner.issuer.clone();
        let mut guard = self
            .inner
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Arc::new(settings);
    }

    /// Puts new `[mx]` limits on buste di anomalia in force (a reload).
    pub fn set_anomaly_limits(&self, limits: delivery_point::AnomalyLimits) {
        let mut guard = self
            .inner
            .anomaly_limits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = limits;
    }

    /// Signs with `signer` from now on (a reload of renewed certificates).
    pub fn set_signer(&self, signer: Signer) {
        let mut guard = self
            .inner
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = signer;
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Our issuer identity.
    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    /// The current providers index.
    pub fn index(&self) -> Arc<ProvidersIndex> {
        match self.inner.index.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the providers index (on reload).
    pub fn set_index(&self, index: ProvidersIndex) {
        self.inner.index_status.loaded(&index);
        let mut guard = match self.inner.index.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(index);
    }

    /// What the metrics read about the providers index: entries, last reload, the
    /// scheduled download's last success and error ([`index_fetch`]).
    pub fn index_status(&self) -> &index_fetch::IndexStatusCell {
        &self.inner.index_status
    }

    /// Trust anchors for chain checks, if configured.
    pub fn anchors(&self) -> Option<&Anchors> {
        self.inner.anchors.as_ref()
    }

    /// Whether an address is in one of the domains this provider manages.
    pub fn is_local(&self, address: &str) -> bool {
        address
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.is_local_domain(domain))
    }

    /// Whether this provider manages `domain`: `[provider] domain`, or one added with
    /// `pecd domain add` (read from the store, so an addition counts at once). A store
    /// fault answers no: the message is then treated as another provider's.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(&self.issuer().domain)
            || self
                .store()
                .read(|tx| tx.management().is_domain(domain))
                .unwrap_or(false)
    }

    /// `certificato` when the address's domain is a PEC domain in the index (or ours).
    pub fn classify(&self, address: &str) -> RecipientType {
        if self.is_local(address) || self.index().is_certified(address) {
            RecipientType::Certified
        } else {
            RecipientType::External
        }
    }

    /// A fresh stamp for a message we generate now.
    pub fn stamp(&self, now: Timestamp) -> Stamp {
        let time = LocalTime::italian(now);
        Stamp {
            time,
            message_id: self.new_id(&time),
        }
    }

    /// A fresh PEC msgid.
    pub fn new_id(&self, time: &LocalTime) -> String {
        let unique = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        id::pec_msgid(time, unique, &self.issuer().domain)
    }

    /// Signs a message and makes it a durable blob; returns its id and size.
    pub fn seal(&self, message: &Unsigned) -> Result<(BlobId, Vec<u8>), ProviderError> {
        let started = std::time::Instant::now();
        let signer = self
            .inner
            .signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let signed = smime::sign(&signer, message)?;
        self.metrics().signed(started.elapsed());
        if let Some(crate::pec::kind::DaticertKind::Receipt(kind)) =
            message.daticert.as_ref().map(|d| d.kind)
        {
            self.metrics().receipt_issued(kind.as_str());
        }
        let blob = self.inner.store.blobs().put(&signed)?;
        Ok((blob, signed))
    }

    /// Signs a receipt or notice and makes it a durable blob.
    pub(crate) fn seal_notice(&self, message: &Unsigned) -> Result<Sealed, ProviderError> {
        let (blob, signed) = self.seal(message)?;
        Ok(Sealed {
            blob,
            size: signed.len() as u64,
            notice: correlation::Notice::issued(message),
        })
    }

    /// Scans a message when a scanner is configured: `Some(signature)` when infected.
    pub fn scan(&self, data: &[u8]) -> Result<Option<String>, ProviderError> {
        match &self.settings().clamd {
            None => Ok(None),
            Some(scanner) => match scanner.scan(data)? {
                clamd::Verdict::Clean => Ok(None),
                clamd::Verdict::Infected(name) => Ok(Some(name)),
            },
        }
    }

    /// Keeps an infected message for 30 months (DPR 68/2005 art. 12).
    pub fn quarantined(
        &self,
        data: &[u8],
        virus: &str,
        mail_from: &str,
        now: Timestamp,
    ) -> Result<Quarantined, ProviderError> {
        let blob = self.store().blobs().put(data)?;
        let keep_until = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .checked_add(jiff::Span::new().months(30))
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX);
        Ok(Quarantined {
            blob,
            virus: virus.to_string(),
            mail_from: mail_from.to_string(),
            time: now,
            keep_until,
        })
    }

    /// The password checkers SMTP and IMAP share.
    pub fn passwords(&self) -> &crate::net::passwords::PasswordChecks {
        &self.inner.passwords
    }

    /// Wakes the relay after new jobs were committed.
    pub fn wake_relay(&self) {
        self.inner.relay_wake.notify_one();
    }

    /// Waits until [`Provider::wake_relay`] is called.
    pub async fn relay_woken(&self) {
        self.inner.relay_wake.notified().await;
    }

    /// Runs blocking store/crypto work off the async threads.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, ProviderError>
    where
        T: Send + 'static,
        F: FnOnce(Provider) -> Result<T, ProviderError> + Send + 'static,
    {
        let provider = self.clone();
        tokio::task::spawn_blocking(move || work(provider)).await?
    }
}
