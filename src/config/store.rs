//! `[store]`: where the provider's data lives: in `data_dir` alone (`embedded`), or on
//! a PostgreSQL database every node of the provider shares (`cluster`).

use serde::Deserialize;

/// `[store]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (redb and files under `data_dir`, one process) or `cluster`.
    pub backend: Backend,
    /// The cluster's PostgreSQL, as a `postgresql://` URL.
    pub postgres: Option<String>,
    /// The cluster's object store for bodies and packages.
    pub s3: Option<S3Config>,
}

/// Which engine holds the store.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// redb and files under `data_dir`.
    #[default]
    Embedded,
    /// PostgreSQL, shared by the provider's nodes.
    Cluster,
}

/// An S3-compatible object store. The keys may instead come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), so they need not sit in the file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host:port` of the S3 API.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The region the store expects in signatures.
    pub region: String,
    /// The access key id.
    pub access_key: Option<String>,
    /// The secret key.
    pub secret_key: Option<String>,
}

/// Without the secret, which must not reach a log.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    fn validate(&self) -> Result<(), String> {
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(format!(
                "store.s3.endpoint {:?} is not an http(s):// URL",
                self.endpoint
            ));
        }
        if self.bucket.is_empty() {
            return Err("store.s3.bucket is empty".to_string());
        }
        Ok(())
    }
}

impl StoreConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        if let Some(s3) = &self.s3 {
            s3.validate()?;
        }
        match (self.backend, &self.postgres) {
            (Backend::Cluster, None) => {
                Err("store.backend = \"cluster\" needs store.postgres".to_string())
            }
            (Backend::Cluster, Some(url)) => url
                .parse::<postgres::Config>()
                .map(|_| ())
                .map_err(|e| format!("store.postgres is not a PostgreSQL URL: {e}")),
            (Backend::Embedded, _) if self.postgres.is_some() || self.s3.is_some() => {
                Err("store.postgres and store.s3 are for store.backend = \"cluster\"".to_string())
            }
            (Backend::Embedded, _) => Ok(()),
        }
    }
}
