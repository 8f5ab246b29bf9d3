//! The fixity audit of the stored packages, and the expiry of revocation exports.

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use super::Gateway;
use crate::conservation::ConservationError;
use crate::conservation::audit;

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
