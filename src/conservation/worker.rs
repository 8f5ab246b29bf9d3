//! The conservation gateway at run time: drains the durable ingest queue into packages
//! (batched per mailbox per UTC day, at most `batch_max` messages each), applies the
//! quota, and audits the stored packages. [`run`] is the task `pecd serve` spawns;
//! delivery never waits on it.
//!
//! Crash safety: a package is built and published on disk first; then one store
//! transaction records it and removes its jobs. A crash in between leaves a package
//! folder no record points at (reported by the audit as unrecorded, never counted) and
//! the jobs still queued, so every accepted message ends up in exactly one recorded
//! package.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use openssl::x509::X509;
use serde::Deserialize;
use serde::Serialize;

use crate::conservation::ConservationError;
use crate::conservation::archive;
use crate::conservation::archive::Item;
use crate::conservation::archive::PackageRecord;
use crate::conservation::archive::Sealing;
use crate::conservation::audit;
use crate::conservation::quota;
use crate::conservation::retention;
use crate::conservation::search;
use crate::conservation::search::SearchIndex;
use crate::conservation::sip;
use crate::conservation::sip::Checked;
use crate::conservation::tsa::TimeSource;
use crate::conservation::tsa::Tsa;
use crate::crypto::identity::Signer;
use crate::pec::index::ProvidersIndex;
use crate::store::Store;
use crate::store::conservation::IngestJob;
use crate::store::mailbox::INBOX;

/// The gateway's settings (from `[conservation]`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The conservation service's name (the provider's).
    pub provider_name: String,
    /// The provider's domain (alerts come from its service address).
    pub domain: String,
    /// A TSA URL; `None` uses the built-in TSA.
    pub tsa_url: Option<String>,
    /// The remote TSA's certificate, included in packages.
    pub tsa_certificate: Option<PathBuf>,
    /// The dev CA certificate and key (issuer of the built-in TSA; trust anchor).
    pub ca: Option<(PathBuf, PathBuf)>,
    /// Accepted formats.
    pub allowed_formats: Vec<String>,
    /// At most this many messages per package.
    pub batch_max: usize,
    /// At most about this many message bytes per package (one larger message still
    /// makes a package of its own).
    pub batch_max_bytes: u64,
    /// How long a mailbox's first queued message waits for others to join its package.
    pub batch_wait: Duration,
    /// How often the queue is looked at.
    pub poll: Duration,
    /// How often the scheduled audit runs.
    pub audit_interval: Duration,
    /// Quota tiers: name → bytes.
    pub tiers: BTreeMap<String, u64>,
    /// The tier of mailboxes without one.
    pub default_tier: String,
    /// Retention classes.
    pub retention: crate::conservation::retention::Classes,
}

/// One mailbox's batch as the checks see it.
struct Batch<'a> {
    mailbox: &'a str,
    index: Option<&'a ProvidersIndex>,
    now: Timestamp,
    quota: u64,
}

/// What the checks of a batch admitted within the quota, and what they refused.
#[derive(Default)]
struct Admitted {
    items: Vec<Item>,
    included: Vec<u64>,
    refusals: Vec<Refusal>,
    /// The mailbox's bytes with the admitted messages.
    total: u64,
    /// Whether a message did not fit.
    full: bool,
}

/// A quota alert made for a package, filed in the transaction that records it.
struct PendingAlert {
    /// The threshold crossed (70, 90).
    percent: u8,
    /// The stored message.
    blob: crate::store::blobs::BlobId,
    /// The signed message.
    message: Vec<u8>,
    /// Its Message-ID.
    message_id: String,
}

/// A refused SIP, as recorded.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Refusal {
    /// The job.
    pub job: IngestJob,
    /// Why.
    pub reason: String,
    /// When.
    pub time: Timestamp,
}

/// What one drain did.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Drained {
    /// Packages built.
    pub packages: Vec<String>,
    /// Messages conserved.
    pub conserved: usize,
    /// SIPs refused.
    pub refused: usize,
    /// Mailboxes paused by their quota.
    pub paused: Vec<String>,
    /// Bytes of the packages built.
    pub bytes: u64,
    /// Quota alerts sent (70 %, 90 %, and 100 % when ingest paused).
    pub alerts: usize,
}

/// The result of an audit: `(package, problem)` pairs; empty when all is well.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AuditReport {
    /// When it ran.
    pub time: Option<Timestamp>,
    /// Packages checked.
    pub packages: usize,
    /// Problems found.
    pub problems: Vec<(String, String)>,
    /// Folders no record names: left by an interrupted ingest (their messages were
    /// packaged again), or being published right now. Not packages; not counted.
    pub unrecorded: Vec<String>,
}

/// The gateway: store, keys, time source.
pub struct Gateway {
    store: Store,
    root: PathBuf,
    /// Signs the PEC alerts to the user (the provider's key); replaced on reload.
    signer: std::sync::RwLock<Signer>,
    /// Signs package indexes and rapporti di versamento (the conservation seal);
    /// replaced on reload.
    seal: std::sync::RwLock<Signer>,
    time: TimeSource,
    certificates: Vec<(String, Vec<u8>)>,
    anchors: Vec<X509>,
    settings: Settings,
    /// The full-text index (`<data_dir>/conservation/index/`).
    index: SearchIndex,
}

impl Gateway {
    /// Opens the gateway over a data dir (creating the built-in TSA on first use).
    pub fn open(
        store: Store,
        data_dir: &Path,
        signer: Signer,
        seal: Signer,
        settings: Settings,
    ) -> Result<Gateway, ConservationError> {
        let root = archive::packages_dir(data_dir);
        std::fs::create_dir_all(&root).map_err(|source| ConservationError::Io {
            context: format!("creating {}", root.display()),
            source,
        })?;
        let ca_pem = settings
            .ca
            .as_ref()
            .and_then(|(cert, _)| std::fs::read(cert).ok());
        let anchors: Vec<X509> = ca_pem
            .as_deref()
            .and_then(|pem| X509::from_pem(pem).ok())
            .into_iter()
            .collect();
        let mut certificates = Vec::new();
        let mut tsa_anchor = None;
        let time = match &settings.tsa_url {
            Some(url) => {
                if let Some(path) = &settings.tsa_certificate {
                    certificates.push((
                        "tsa.pem".to_string(),
                        crate::conservation::files::read(path)?,
                    ));
                }
                TimeSource::Remote(url.clone())
            }
            None => {
                let ca = settings
                    .ca
                    .as_ref()
                    .map(|(c, k)| (c.as_path(), k.as_path()));
                let tsa = Tsa::ensure(&data_dir.join("conservation").join("tsa"), ca)?;
                let pem = tsa.certificate().to_pem()?;
                certificates.push(("tsa.pem".to_string(), pem));
                tsa_anchor =
                    audit::self_issued(tsa.certificate()).then(|| tsa.certificate().clone());
                TimeSource::Builtin(tsa)
            }
        };
        if let Some(pem) = ca_pem {
            certificates.push(("ca.pem".to_string(), pem));
        }
        let mut anchors = anchors;
        anchors.extend(tsa_anchor);
        let index = SearchIndex::open(&data_dir.join("conservation").join("index"))?;
        Ok(Gateway {
            store,
            root,
            signer: std::sync::RwLock::new(signer),
            seal: std::sync::RwLock::new(seal),
            time,
            certificates,
            anchors,
            settings,
            index,
        })
    }

    /// Where packages are.
    pub fn packages_dir(&self) -> &Path {
        &self.root
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A mailbox's quota in bytes, from its tier.
    pub fn quota_of(&self, tier: &str) -> u64 {
        let tier = if tier.is_empty() {
            &self.settings.default_tier
        } else {
            tier
        };
        self.settings
            .tiers
            .get(tier)
            .or_else(|| self.settings.tiers.get(&self.settings.default_tier))
            .copied()
            .unwrap_or(quota::GIB)
    }

    /// Signs with renewed keys from the next package on (a reload): `signer` the
    /// alerts, `seal` the indexes and rapporti.
    pub fn set_signers(&self, signer: Signer, seal: Signer) {
        let replace = |slot: &std::sync::RwLock<Signer>, new: Signer| {
            *slot
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
        };
        replace(&self.signer, signer);
        replace(&self.seal, seal);
    }

    fn signer(&self) -> Signer {
        let signer = self.signer.read();
        signer
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn seal(&self) -> Signer {
        let seal = self.seal.read();
        seal.unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Packages what is queued. Without `force`, a mailbox's batch of today waits until
    /// it is full or its oldest message has waited `batch_wait`.
    pub fn drain(
        &self,
        index: Option<&ProvidersIndex>,
        now: Timestamp,
        force: bool,
    ) -> Result<Drained, ConservationError> {
        let jobs = self.store.read(|tx| tx.conservation().jobs())?;
        let mut groups: BTreeMap<(String, String), Vec<IngestJob>> = BTreeMap::new();
        for job in jobs {
            let day = job.received.strftime("%Y%m%d").to_string();
            groups
                .entry((job.mailbox.clone(), day))
                .or_default()
                .push(job);
        }
        let today = now.strftime("%Y%m%d").to_string();
        let mut drained = Drained::default();
        for ((mailbox, day), jobs) in groups {
            let waited = jobs.first().is_some_and(|j| {
                now.duration_since(j.received).as_secs_f64()
                    >= self.settings.batch_wait.as_secs_f64()
            });
            if !force && day == today && jobs.len() < self.settings.batch_max && !waited {
                continue;
            }
            for chunk in batches(
                &jobs,
                self.settings.batch_max,
                self.settings.batch_max_bytes,
            ) {
                if !self.package(&mailbox, &day, chunk, index, now, &mut drained)? {
                    break;
                }
            }
        }
        Ok(drained)
    }

    /// Checks, packages and records one batch. Returns false when the quota paused it.
    fn package(
        &self,
        mailbox: &str,
        day: &str,
        jobs: &[IngestJob],
        index: Option<&ProvidersIndex>,
        now: Timestamp,
        drained: &mut Drained,
    ) -> Result<bool, ConservationError> {
        let (account, typed) = self.store.read(|tx| {
            let typed = tx
                .mailboxes()
                .get(mailbox)?
                .map(|m| m.profile.archive_quota_bytes);
            Ok((tx.conservation().account(mailbox)?, typed))
        })?;
        // A tier set for the mailbox wins; otherwise its type's archive quota applies
        // (mailboxes made before types had none: the default tier).
        let quota = match typed {
            Some(bytes) if bytes > 0 && account.tier.is_empty() => bytes,
            _ => self.quota_of(&account.tier),
        };
        let first = jobs.first().map_or(0, |j| j.size);
        if account.paused && account.used_bytes.saturating_add(first) > quota {
            // Still full: the jobs wait, the user was told when ingest paused.
            return Ok(false);
        }
        let batch = Batch {
            mailbox,
            index,
            now,
            quota,
        };
        let Admitted {
            items,
            included,
            refusals,
            total,
            full,
        } = self.admit(&batch, jobs, account.used_bytes);
        if !refusals.is_empty() {
            self.store.write(|tx| {
                for refusal in &refusals {
                    if tx.conservation().complete(refusal.job.id)?.is_some() {
                        tx.conservation().record_refusal(refusal.job.id, refusal)?;
                    }
                }
                Ok(())
            })?;
            drained.refused += refusals.len();
        }
        if !items.is_empty() {
            self.record(mailbox, day, &items, &included, quota, now, drained)?;
        }
        if full && !account.paused {
            let (alert, id) = quota::alert(
                &self.signer(),
                &self.settings.domain,
                mailbox,
                100,
                total,
                quota,
                now,
            )?;
            let blob = self.store.blobs().put(&alert)?;
            self.store.write(|tx| {
                tx.conservation()
                    .update_account(mailbox, |a| a.paused = true)?;
                file_alert(tx, mailbox, &blob, &alert, &id, now)
            })?;
            drained.paused.push(mailbox.to_string());
            drained.alerts += 1;
        }
        Ok(!full)
    }

    /// Checks the jobs of a batch in order and admits the accepted ones while they fit
    /// in the quota (`used` bytes are taken); the first that does not fit stops it.
    fn admit(&self, batch: &Batch<'_>, jobs: &[IngestJob], used: u64) -> Admitted {
        let mut admitted = Admitted {
            total: used,
            ..Admitted::default()
        };
        for job in jobs {
            match self.check_job(batch, job) {
                (Checked::Accepted(mut metadata), raw) => {
                    let (class, years) = self.settings.retention.of(&metadata.kind);
                    metadata.retention_class = class;
                    metadata.keep_until = Some(retention::keep_until(job.received, years));
                    if admitted.total.saturating_add(raw.len() as u64) > batch.quota {
                        admitted.full = true;
                        break;
                    }
                    admitted.total += raw.len() as u64;
                    admitted.items.push(Item {
                        metadata: *metadata,
                        raw,
                    });
                    admitted.included.push(job.id);
                }
                (Checked::Refused { reason, .. }, _) => admitted.refusals.push(Refusal {
                    job: job.clone(),
                    reason,
                    time: batch.now,
                }),
            }
        }
        admitted
    }

    /// The ingest checks of one job, with its message (empty when unreadable).
    fn check_job(&self, batch: &Batch<'_>, job: &IngestJob) -> (Checked, Vec<u8>) {
        match self.store.blobs().get(&job.blob) {
            Ok(raw) => {
                let sip_id = format!("pdv-{:08}", job.id);
                let allowed = &self.settings.allowed_formats;
                let checked = sip::check(
                    &sip_id,
                    batch.mailbox,
                    &raw,
                    job.received,
                    allowed,
                    None,
                    batch.index,
                );
                (checked, raw)
            }
            Err(error) => (
                Checked::Refused {
                    metadata: Box::default(),
                    reason: format!("message body unreadable: {error}"),
                },
                Vec::new(),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        mailbox: &str,
        day: &str,
        items: &[Item],
        included: &[u64],
        quota: u64,
        now: Timestamp,
        drained: &mut Drained,
    ) -> Result<(), ConservationError> {
        let serial = self.store.write(|tx| tx.next("conservation_package"))?;
        let id = format!("pda-{day}-{serial:06}");
        let sealing = Sealing {
            signer: &self.seal(),
            time: &self.time,
            provider_name: &self.settings.provider_name,
            certificates: self.certificates.clone(),
        };
        let record = archive::build(&self.root, &id, mailbox, items, &sealing, now)?;
        let before = self.store.read(|tx| tx.conservation().account(mailbox))?;
        let used = before.used_bytes.saturating_add(record.bytes);
        let crossed = quota::crossings(used, quota, before.alerted_70, before.alerted_90);
        let alerts = self.quota_alerts(mailbox, crossed, used, quota, now)?;
        self.store.write(|tx| {
            tx.conservation().record_package(&id, &record)?;
            for job in included {
                let Some(done) = tx.conservation().complete(*job)? else {
                    // Another ingest (the daemon, or `pecd conservation ingest`) packaged
                    // it first: keep its package, leave this one unrecorded.
                    return Err(crate::store::StoreError::Conflict(format!(
                        "conservation job {job} was packaged concurrently"
                    )));
                };
                // Conserved from `--ARCHIVIA--`: it leaves the folder now, in the
                // transaction that records its package (the folder empties as it goes).
                if let Some(uid) = done.archive_uid {
                    tx.folders()
                        .expunge(&done.mailbox, crate::store::mailbox::ARCHIVE, &[uid])?;
                }
            }
            tx.conservation().update_account(mailbox, |a| {
                a.used_bytes = a.used_bytes.saturating_add(record.bytes);
                a.paused = false;
                for alert in &alerts {
                    match alert.percent {
                        70 => a.alerted_70 = true,
                        _ => a.alerted_90 = true,
                    }
                }
            })?;
            for alert in &alerts {
                let PendingAlert {
                    blob,
                    message,
                    message_id,
                    ..
                } = alert;
                file_alert(tx, mailbox, blob, message, message_id, now)?;
            }
            Ok(())
        })?;
        self.index_package(&id, mailbox, items);
        drained.packages.push(id);
        drained.conserved += items.len();
        drained.bytes += record.bytes;
        drained.alerts += alerts.len();
        Ok(())
    }

    /// The signed alerts for the quota thresholds a package crossed, stored as blobs
    /// and ready to file.
    fn quota_alerts(
        &self,
        mailbox: &str,
        crossed: impl IntoIterator<Item = u8>,
        used: u64,
        quota: u64,
        now: Timestamp,
    ) -> Result<Vec<PendingAlert>, ConservationError> {
        let mut alerts = Vec::new();
        for percent in crossed {
            let (alert, message_id) = quota::alert(
                &self.signer(),
                &self.settings.domain,
                mailbox,
                percent,
                used,
                quota,
                now,
            )?;
            let blob = self.store.blobs().put(&alert)?;
            alerts.push(PendingAlert {
                percent,
                blob,
                message: alert,
                message_id,
            });
        }
        Ok(alerts)
    }

    /// Adds a recorded package's messages to the search index. The record is the
    /// source of truth: a failed index update is caught up by the next search (the
    /// index is marked behind).
    fn index_package(&self, id: &str, mailbox: &str, items: &[Item]) {
        let docs = items
            .iter()
            .map(|item| search::Document {
                metadata: &item.metadata,
                body: sip::body_text(&item.raw),
            })
            .collect();
        if let Err(error) = self.index.add(&[(id, mailbox, docs)]) {
            tracing::warn!(%error, package = %id, "search index not updated; it will catch up");
        }
    }

    /// The hits of `query` among `mailbox`'s conserved messages, oldest first. The first
    /// search of a gateway (and any after a failed index update) first brings the index
    /// up to date with the recorded packages.
    pub fn search(
        &self,
        mailbox: &str,
        query: &search::Query,
    ) -> Result<Vec<search::Hit>, ConservationError> {
        if !self.index.is_synced() {
            self.sync_index()?;
        }
        self.index.search(mailbox, query)
    }

    /// Indexes every recorded package the search index lacks; returns how many.
    pub fn sync_index(&self) -> Result<usize, ConservationError> {
        self.index.sync(&self.packages()?, &self.root)
    }

    /// Every recorded package.
    pub fn packages(&self) -> Result<Vec<PackageRecord>, ConservationError> {
        Ok(self.store.read(|tx| tx.conservation().packages())?)
    }

    /// Re-checks every recorded package (and reports folders no record names).
    pub fn audit(&self, now: Timestamp) -> Result<AuditReport, ConservationError> {
        let records = self.packages()?;
        let mut report = AuditReport {
            time: Some(now),
            packages: records.len(),
            problems: Vec::new(),
            unrecorded: Vec::new(),
        };
        for record in &records {
            let dir = self.root.join(&record.id);
            if !dir.is_dir() {
                report
                    .problems
                    .push((record.id.clone(), "package folder missing".into()));
                continue;
            }
            for problem in
                audit::check_package(&dir, &self.anchors, Some(&record.tagmanifest_sha256))
            {
                report.problems.push((record.id.clone(), problem));
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if !name.starts_with('.') && !records.iter().any(|r| r.id == name) {
                    report.unrecorded.push(name);
                }
            }
        }
        self.store
            .write(|tx| tx.conservation().record_audit(&report))?;
        Ok(report)
    }
}

impl Gateway {
    /// Deletes revocation exports whose 30-day link has expired; returns how many.
    pub fn expire_exports(&self, now: Timestamp) -> Result<usize, ConservationError> {
        let revocations: Vec<crate::conservation::export::Revocation> =
            self.store.read(|tx| tx.conservation().revocations())?;
        let mut removed = 0;
        for revocation in revocations.iter().filter(|r| r.expires <= now) {
            if std::fs::remove_file(&revocation.file).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Splits a mailbox's jobs of one day into packages of at most `max_count` messages and
/// about `max_bytes` bytes (never an empty package).
fn batches(jobs: &[IngestJob], max_count: usize, max_bytes: u64) -> Vec<&[IngestJob]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (at, job) in jobs.iter().enumerate() {
        let count = at - start;
        if count > 0 && (count >= max_count.max(1) || bytes.saturating_add(job.size) > max_bytes) {
            out.push(&jobs[start..at]);
            start = at;
            bytes = 0;
        }
        bytes = bytes.saturating_add(job.size);
    }
    if start < jobs.len() {
        out.push(&jobs[start..]);
    }
    out
}

/// Files a signed alert in the user's INBOX (not itself conserved).
fn file_alert(
    tx: &mut crate::store::Tx<'_>,
    mailbox: &str,
    blob: &crate::store::blobs::BlobId,
    alert: &[u8],
    message_id: &str,
    now: Timestamp,
) -> Result<(), crate::store::StoreError> {
    tx.mailboxes()
        .append(
            mailbox,
            INBOX,
            blob,
            alert.len() as u64,
            &["$PecConservazione".to_string()],
            now,
            Some(&crate::pec::id::bracketed(message_id)),
        )
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(size: u64) -> IngestJob {
        IngestJob {
            archive_uid: None,
            id: 0,
            mailbox: "m@x.test".into(),
            blob: crate::store::blobs::BlobId::of(b""),
            size,
            received: Timestamp::UNIX_EPOCH,
            origin: "manual".into(),
        }
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let jobs: Vec<IngestJob> = [10, 10, 10, 100, 10].into_iter().map(job).collect();
        let sizes = |b: Vec<&[IngestJob]>| b.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(batches(&jobs, 2, 1000)), vec![2, 2, 1]);
        assert_eq!(sizes(batches(&jobs, 10, 50)), vec![3, 1, 1]);
        assert_eq!(sizes(batches(&jobs[..0], 10, 50)), Vec::<usize>::new());
    }
}
