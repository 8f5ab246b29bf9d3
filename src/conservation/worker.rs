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

use openssl::x509::X509;

use crate::conservation::ConservationError;
use crate::conservation::archive;
use crate::conservation::archive::PackageRecord;
use crate::conservation::bucket;
use crate::conservation::quota;
use crate::conservation::search;
use crate::conservation::search::SearchIndex;
use crate::conservation::tsa::TimeSource;
use crate::conservation::tsa::Tsa;
use crate::crypto::identity::Signer;
use crate::store::Store;
use crate::store::objects::Bucket;

mod audit;
mod ingest;

pub use audit::AuditReport;
pub use ingest::Drained;
pub use ingest::Refusal;

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
    /// The cluster's object store, where the packages are kept ([`bucket`]).
    bucket: Option<Bucket>,
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
        let TimeStamping {
            source: time,
            certificate: tsa_pem,
            anchor: tsa_anchor,
        } = time_source(&settings, data_dir)?;
        let mut certificates = Vec::new();
        certificates.extend(tsa_pem.map(|pem| ("tsa.pem".to_string(), pem)));
        certificates.extend(ca_pem.map(|pem| ("ca.pem".to_string(), pem)));
        let mut anchors = anchors;
        anchors.extend(tsa_anchor);
        let index = SearchIndex::open(&data_dir.join("conservation").join("index"))?;
        Ok(Gateway {
            bucket: store.bucket().cloned(),
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
        let records = self.packages()?;
        self.fetch(&records)?;
        self.index.sync(&records, &self.root)
    }

    /// Brings into the packages folder those of `records` built by another node of
    /// the cluster, so they are read as if built here. A no-op off a cluster.
    pub fn fetch(&self, records: &[PackageRecord]) -> Result<(), ConservationError> {
        if let Some(bucket) = &self.bucket {
            for record in records {
                bucket::fetch(bucket, &self.root, &record.id, &record.tagmanifest_sha256)?;
            }
        }
        Ok(())
    }

    /// Every recorded package.
    pub fn packages(&self) -> Result<Vec<PackageRecord>, ConservationError> {
        Ok(self.store.read(|tx| tx.conservation().packages())?)
    }
}

/// Where time stamps come from, and what packages and the audit need to check them.
struct TimeStamping {
    source: TimeSource,
    /// The TSA's certificate (PEM), carried in every package when known.
    certificate: Option<Vec<u8>>,
    /// A self-issued built-in TSA's certificate: the audit's anchor for its stamps.
    anchor: Option<X509>,
}

/// The TSA `[conservation] tsa_url` names, or the built-in one (created on first use).
fn time_source(settings: &Settings, data_dir: &Path) -> Result<TimeStamping, ConservationError> {
    if let Some(url) = &settings.tsa_url {
        let certificate = match &settings.tsa_certificate {
            Some(path) => Some(crate::conservation::files::read(path)?),
            None => None,
        };
        return Ok(TimeStamping {
            source: TimeSource::Remote(url.clone()),
            certificate,
            anchor: None,
        });
    }
    let ca = settings
        .ca
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    let tsa = Tsa::ensure(&data_dir.join("conservation").join("tsa"), ca)?;
    let certificate = Some(tsa.certificate().to_pem()?);
    let anchor = crate::conservation::audit::self_issued(tsa.certificate())
        .then(|| tsa.certificate().clone());
    Ok(TimeStamping {
        source: TimeSource::Builtin(tsa),
        certificate,
        anchor,
    })
}
