//! The providers index from `[index] url`: downloaded at start and every
//! `refresh_secs`, its signature verified against `[index] signer_ca`, and only then
//! written over the local copy (`[index] ldif`) and put in use.
//!
//! The index decides which messages are PEC (spec pec.md §7: whoever changes it makes
//! their mail certified), so what comes over the network must prove who signed it: a
//! download that fails, is not a `.p7m`, is signed by a certificate that does not chain
//! to `signer_ca`, holds no valid index, or was signed before the index in use (a
//! replayed old index may still list a provider since removed), leaves the current
//! index in use and is logged, and [`IndexStatus`] says so to the metrics. TLS to the server is verified
//! (`[index] tls_roots`, else the public roots); no proxy from the environment and no
//! redirects: the index is where the configuration says.
//!
//! [`reload_index`] is the one way a new index from the local file is put in use (the
//! file watcher, SIGHUP), so the status also counts what they load.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use openssl::x509::X509;
use openssl::x509::store::X509Store;
use openssl::x509::store::X509StoreBuilder;
use tokio_util::sync::CancellationToken;
use ureq::Agent;

use super::Provider;
use crate::config::IndexConfig;
use crate::crypto::trust;
use crate::crypto::trust::MAX_INDEX_FILE_BYTES;
use crate::crypto::trust::TrustError;
use crate::pec::index::ProvidersIndex;

/// How long one download may take, from connecting to the last byte.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What the metrics read about the providers index.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct IndexStatus {
    /// Providers in the index in use.
    pub entries: usize,
    /// When the index in use was put in use (at start, on reload or after a download).
    pub loaded: Option<Timestamp>,
    /// When the last download was tried; `None` without `[index] url`.
    pub last_attempt: Option<Timestamp>,
    /// When a download last replaced the index.
    pub last_success: Option<Timestamp>,
    /// Why the last download was refused; `None` after a success.
    pub last_error: Option<String>,
}

/// The shared, updatable [`IndexStatus`] (the provider holds one).
#[derive(Clone, Debug, Default)]
pub struct IndexStatusCell(Arc<Mutex<IndexStatus>>);

impl IndexStatusCell {
    /// A copy of the status now.
    pub fn get(&self) -> IndexStatus {
        match self.0.lock() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut IndexStatus)) {
        match self.0.lock() {
            Ok(mut status) => change(&mut status),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    /// Records that `index` was put in use.
    pub(super) fn loaded(&self, index: &ProvidersIndex) {
        let entries = index.providers().len();
        self.update(|status| {
            status.entries = entries;
            status.loaded = Some(Timestamp::now());
        });
    }
}

/// Why a downloaded index was not put in use.
#[derive(Debug, thiserror::Error)]
pub enum IndexFetchError {
    /// The HTTP exchange failed (connection, TLS, size).
    #[error("downloading {url}: {source}")]
    Http {
        /// The index URL.
        url: String,
        /// What failed.
        source: Box<ureq::Error>,
    },
    /// The server answered something other than 200.
    #[error("downloading {url}: HTTP status {status}")]
    Status {
        /// The index URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// Validly signed, but earlier than the index in use: a replay of an old index
    /// (one that still lists a provider since removed) is refused.
    #[error("the index from {url} was signed at {signed}, before the one in use ({current})")]
    Older {
        /// The index URL.
        url: String,
        /// When the download was signed.
        signed: Timestamp,
        /// When the index in use was signed.
        current: Timestamp,
    },
    /// The download is not signed: plain LDIF.
    #[error("the index from {0} is not signed (.p7m expected)")]
    Unsigned(String),
    /// The signature, the signer's chain or the content did not verify.
    #[error("the index from {url} was refused: {source}")]
    Refused {
        /// The index URL.
        url: String,
        /// Why.
        source: TrustError,
    },
    /// `[index] signer_ca` or `tls_roots` could not be read.
    #[error("{0}")]
    Config(String),
    /// The verified index could not be written over the local copy.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The local copy.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Downloads and verifies the index of `[index] url`.
pub struct IndexFetcher {
    url: String,
    path: PathBuf,
    signer_ca: X509Store,
    agent: Agent,
    refresh: Duration,
    status: IndexStatusCell,
}

impl IndexFetcher {
    /// The fetcher `[index]` describes, updating `status`; `None` without a url.
    pub fn from_config(
        config: &IndexConfig,
        status: IndexStatusCell,
    ) -> Result<Option<IndexFetcher>, IndexFetchError> {
        if config.url.is_empty() {
            return Ok(None);
        }
        let Some(ca) = &config.signer_ca else {
            return Err(IndexFetchError::Config(
                "index.url needs index.signer_ca".into(),
            ));
        };
        Ok(Some(IndexFetcher {
            url: config.url.clone(),
            path: config.ldif.clone(),
            signer_ca: signer_store(ca)?,
            agent: agent(&config.tls_roots)?,
            refresh: Duration::from_secs(config.refresh_secs.max(60)),
            status,
        }))
    }

    /// Downloads the index, verifies it, writes it over the local copy and returns it.
    pub fn fetch(&self) -> Result<ProvidersIndex, IndexFetchError> {
        let bytes = self.download()?;
        let loaded = trust::load_index(&bytes, Some(&self.signer_ca)).map_err(|source| {
            IndexFetchError::Refused {
                url: self.url.clone(),
                source,
            }
        })?;
        if loaded.signed_by.is_none() {
            return Err(IndexFetchError::Unsigned(self.url.clone()));
        }
        let current = std::fs::read(&self.path).ok();
        if current.as_deref() == Some(bytes.as_slice()) {
            return Ok(loaded.index);
        }
        let current_signed = current
            .and_then(|current| trust::load_index(&current, None).ok())
            .and_then(|current| current.signed_at);
        if let (Some(signed), Some(current)) = (loaded.signed_at, current_signed)
            && signed < current
        {
            return Err(IndexFetchError::Older {
                url: self.url.clone(),
                signed,
                current,
            });
        }
        write_atomically(&self.path, &bytes).map_err(|source| IndexFetchError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(loaded.index)
    }

    /// One round: [`IndexFetcher::fetch`], then `install` the index, or keep the
    /// current one and say why (log and status).
    pub fn refresh(&self, install: impl FnOnce(ProvidersIndex)) -> Result<(), IndexFetchError> {
        let now = Timestamp::now();
        let fetched = self.fetch();
        self.status.update(|status| {
            status.last_attempt = Some(now);
            match &fetched {
                Ok(_) => {
                    status.last_success = Some(now);
                    status.last_error = None;
                }
                Err(error) => status.last_error = Some(error.to_string()),
            }
        });
        match fetched {
            Ok(index) => {
                tracing::info!(url = %self.url, providers = index.providers().len(), "providers index downloaded and verified");
                install(index);
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "providers index not replaced; keeping the current one");
                Err(error)
            }
        }
    }

    fn download(&self) -> Result<Vec<u8>, IndexFetchError> {
        let http = |source: ureq::Error| IndexFetchError::Http {
            url: self.url.clone(),
            source: Box::new(source),
        };
        let mut response = self.agent.get(&self.url).call().map_err(http)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(IndexFetchError::Status {
                url: self.url.clone(),
                status,
            });
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_INDEX_FILE_BYTES)
            .read_to_vec()
            .map_err(http)
    }
}

/// Downloads at once and then every `refresh_secs` until `shutdown`, putting each
/// verified index in use in `provider`.
pub async fn run(fetcher: IndexFetcher, provider: Provider, shutdown: CancellationToken) {
    let fetcher = Arc::new(fetcher);
    loop {
        let (round, provider) = (Arc::clone(&fetcher), provider.clone());
        let _ =
            tokio::task::spawn_blocking(move || round.refresh(|index| provider.set_index(index)))
                .await;
        tokio::select! {
            () = tokio::time::sleep(fetcher.refresh) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Loads the index file at `path` (as at start: plain LDIF or `.p7m`) and puts it in
/// use in `provider`; its number of providers. On an error the current index stays.
pub fn reload_index(provider: &Provider, path: &Path) -> Result<usize, TrustError> {
    let loaded = trust::load_index_file(path, None)?;
    let entries = loaded.index.providers().len();
    provider.set_index(loaded.index);
    Ok(entries)
}

/// The certificates of `path` (PEM, one or more) as the trust store of the index
/// signature.
fn signer_store(path: &Path) -> Result<X509Store, IndexFetchError> {
    let problem = |what: String| {
        IndexFetchError::Config(format!("index.signer_ca {}: {what}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    let certificates = X509::stack_from_pem(&pem).map_err(|e| problem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(problem("no certificate".into()));
    }
    let mut builder = X509StoreBuilder::new().map_err(|e| problem(e.to_string()))?;
    for certificate in certificates {
        builder
            .add_cert(certificate)
            .map_err(|e| problem(e.to_string()))?;
    }
    Ok(builder.build())
}

/// An agent that trusts `tls_roots` (or the public roots), uses no proxy from the
/// environment, follows no redirect, and returns every status for [`IndexFetcher`]
/// to name.
fn agent(tls_roots: &[PathBuf]) -> Result<Agent, IndexFetchError> {
    let roots = if tls_roots.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        let mut certificates = Vec::new();
        for path in tls_roots {
            let problem = |what: String| {
                IndexFetchError::Config(format!("index.tls_roots {}: {what}", path.display()))
            };
            let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
            let found: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                    _ => None,
                })
                .collect();
            if found.is_empty() {
                return Err(problem("no certificate".into()));
            }
            certificates.extend(found);
        }
        ureq::tls::RootCerts::Specific(Arc::new(certificates))
    };
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
    Ok(Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(TIMEOUT))
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over
/// `path`, so a crash leaves the old index or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".download");
    let temporary = path.with_file_name(name);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
