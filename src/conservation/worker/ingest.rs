//! Ingest: the queued jobs of a mailbox and day checked as SIPs, packaged within the
//! mailbox's quota, and recorded in the transaction that completes their jobs (see the
//! crash-safety note of [`super`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use super::Gateway;
use crate::conservation::ConservationError;
use crate::conservation::archive;
use crate::conservation::archive::Item;
use crate::conservation::archive::Sealing;
use crate::conservation::quota;
use crate::conservation::retention;
use crate::conservation::search;
use crate::conservation::sip;
use crate::conservation::sip::Checked;
use crate::pec::index::ProvidersIndex;
use crate::store::conservation::Account;
use crate::store::conservation::IngestJob;
use crate::store::mailbox::INBOX;

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

impl Gateway {
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
        let (account, quota) = self.account_and_quota(mailbox)?;
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
            self.record_refusals(&refusals)?;
            drained.refused += refusals.len();
        }
        if !items.is_empty() {
            self.record(&batch, day, &items, &included, drained)?;
        }
        if full && !account.paused {
            self.pause(&batch, total)?;
            drained.paused.push(mailbox.to_string());
            drained.alerts += 1;
        }
        Ok(!full)
    }

    /// A mailbox's conservation account and its quota in bytes.
    fn account_and_quota(&self, mailbox: &str) -> Result<(Account, u64), ConservationError> {
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
        Ok((account, quota))
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

    /// Records the refused SIPs, each with the completion of its job.
    fn record_refusals(&self, refusals: &[Refusal]) -> Result<(), ConservationError> {
        self.store.write(|tx| {
            for refusal in refusals {
                if tx.conservation().complete(refusal.job.id)?.is_some() {
                    tx.conservation().record_refusal(refusal.job.id, refusal)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Builds and publishes the package of `items`, then records it, completes its
    /// `included` jobs and files the quota alerts it crossed, in one transaction.
    fn record(
        &self,
        batch: &Batch<'_>,
        day: &str,
        items: &[Item],
        included: &[u64],
        drained: &mut Drained,
    ) -> Result<(), ConservationError> {
        let (mailbox, now) = (batch.mailbox, batch.now);
        let serial = self.store.write(|tx| tx.next("conservation_package"))?;
        let id = format!("pda-{day}-{serial:06}");
        let sealing = Sealing {
            signer: &self.seal(),
            time: &self.time,
            provider_name: &self.settings.provider_name,
            certificates: self.certificates.clone(),
        };
        let record = archive::build(&self.root, &id, mailbox, items, &sealing, now)?;
        if let Some(bucket) = &self.bucket {
            // Kept by the cluster before it is recorded: a recorded package outlives
            // this node.
            crate::conservation::bucket::upload(bucket, &self.root, &id)?;
        }
        let before = self.store.read(|tx| tx.conservation().account(mailbox))?;
        let used = before.used_bytes.saturating_add(record.bytes);
        let crossed = quota::crossings(used, batch.quota, before.alerted_70, before.alerted_90);
        let alerts = self.quota_alerts(mailbox, crossed, used, batch.quota, now)?;
        self.store.write(|tx| {
            tx.conservation().record_package(&id, &record)?;
            complete_jobs(tx, included)?;
            tx.conservation()
                .update_account(mailbox, |a| count_package(a, record.bytes, &alerts))?;
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

    /// Pauses the mailbox's ingest at its quota (`total` bytes with what did not fit)
    /// and files the signed 100 % alert.
    fn pause(&self, batch: &Batch<'_>, total: u64) -> Result<(), ConservationError> {
        let (alert, id) = quota::alert(
            &self.signer(),
            &self.settings.domain,
            batch.mailbox,
            100,
            total,
            batch.quota,
            batch.now,
        )?;
        let blob = self.store.blobs().put(&alert)?;
        self.store.write(|tx| {
            tx.conservation()
                .update_account(batch.mailbox, |a| a.paused = true)?;
            file_alert(tx, batch.mailbox, &blob, &alert, &id, batch.now)
        })?;
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
}

/// Completes the jobs of a package being recorded.
fn complete_jobs(
    tx: &mut crate::store::Tx<'_>,
    included: &[u64],
) -> Result<(), crate::store::StoreError> {
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
    Ok(())
}

/// A mailbox's account after a package of `bytes`: ingest resumes, and the thresholds
/// of the `alerts` filed with it are not crossed again.
fn count_package(account: &mut Account, bytes: u64, alerts: &[PendingAlert]) {
    account.used_bytes = account.used_bytes.saturating_add(bytes);
    account.paused = false;
    for alert in alerts {
        match alert.percent {
            70 => account.alerted_70 = true,
            _ => account.alerted_90 = true,
        }
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
