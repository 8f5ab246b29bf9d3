//! The fixity audit of the stored packages, and the expiry of revocation exports.

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use super::Gateway;
use std::path::Path;

use crate::conservation::ConservationError;
use crate::conservation::archive::PackageRecord;
use crate::conservation::audit;
use crate::conservation::bucket;
use crate::conservation::files;
use crate::store::objects::Bucket;

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

impl Gateway {
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
            let problems = match &self.bucket {
                Some(bucket) => self.check_bucket_copy(bucket, record)?,
                None => self.check_folder(&self.root.join(&record.id), record),
            };
            for problem in problems {
                report.problems.push((record.id.clone(), problem));
            }
        }
        let stored = match &self.bucket {
            Some(bucket) => bucket::ids(bucket)?,
            None => std::fs::read_dir(&self.root)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| entry.file_name().to_string_lossy().to_string())
                        .filter(|name| !name.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default(),
        };
        report.unrecorded = stored
            .into_iter()
            .filter(|name| !records.iter().any(|r| &r.id == name))
            .collect();
        self.store
            .write(|tx| tx.conservation().record_audit(&report))?;
        Ok(report)
    }

    /// What is wrong with the package folder `dir` of `record`.
    fn check_folder(&self, dir: &Path, record: &PackageRecord) -> Vec<String> {
        if !dir.is_dir() {
            return vec!["package folder missing".into()];
        }
        audit::check_package(dir, &self.anchors, Some(&record.tagmanifest_sha256))
    }

    /// What is wrong with the bucket's copy of `record`, fetched afresh: the copy
    /// every node reads, whatever this node holds.
    fn check_bucket_copy(
        &self,
        bucket: &Bucket,
        record: &PackageRecord,
    ) -> Result<Vec<String>, ConservationError> {
        let scratch = self.root.join(format!(".audit-{}", record.id));
        if scratch.exists() {
            files::remove_unpublished(&scratch)?;
        }
        let problems = match bucket::download(bucket, &record.id, &scratch)? {
            true => self.check_folder(&scratch, record),
            false => vec!["package missing from the object store".into()],
        };
        if scratch.exists() {
            files::remove_unpublished(&scratch)?;
        }
        Ok(problems)
    }

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
