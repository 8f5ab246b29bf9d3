//! The cluster's object store: immutable bytes that every node of the provider reads,
//! in a bucket of an S3-compatible service (Garage, MinIO, Amazon S3). A node keeps
//! nothing in it that a record does not name by its hash, so an object is written once
//! and never changed; a PUT returns once the service holds the bytes durably, which is
//! what lets a record that names them be committed after it.
//!
//! The client is asynchronous and the store is not: requests run on a small runtime of
//! the bucket's own (its connections live there), and the calling thread waits, off
//! the daemon's workers like every other store wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::ClientOptions;
use object_store::GetOptions;
use object_store::ObjectMeta;
use object_store::ObjectStore;
use object_store::PutOptions;
use object_store::PutPayload;
use object_store::RetryConfig;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;

use crate::config::S3Config;
use crate::store::StoreError;
use crate::store::kv::pg;

/// How long one request may take before it fails. A body or a package is at most a
/// few tens of megabytes, on the provider's own network.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the requests of one operation are retried when the service is away:
/// short, because a submission waits on it and a 4xx lets the client retry instead.
const RETRY_FOR: Duration = Duration::from_secs(10);

/// A bucket of the object store.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// Where the requests run; `_runtime` owns it.
    handle: tokio::runtime::Handle,
    _runtime: Arc<Runtime>,
    /// `endpoint/bucket`, for messages.
    name: Arc<str>,
}

impl Bucket {
    /// The bucket `config` names. The keys not in the configuration come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn connect(config: &S3Config) -> Result<Bucket, StoreError> {
        let client = ClientOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_allow_http(config.endpoint.starts_with("http://"));
        let mut builder = AmazonS3Builder::from_env()
            .with_client_options(client)
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: RETRY_FOR,
                ..RetryConfig::default()
            });
        if let Some(key) = &config.access_key {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_key {
            builder = builder.with_secret_access_key(secret);
        }
        // The client's TLS uses the process's default provider: the same ring the
        // daemon's own TLS uses. Already installed by an earlier bucket is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = builder.build().map_err(StoreError::Objects)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pecd-objects")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                context: "starting the object store's client".to_string(),
                source,
            })?;
        Ok(Bucket {
            store: Arc::new(store),
            handle: runtime.handle().clone(),
            _runtime: Arc::new(Runtime(Some(runtime))),
            name: Arc::from(format!("{}/{}", config.endpoint, config.bucket)),
        })
    }

    /// Stores `bytes` under `key`, durably once this returns. Writing the same bytes
    /// again under the same name is harmless: names are hashes of the bytes.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let store = Arc::clone(&self.store);
        let path = Path::from(key);
        let payload = PutPayload::from(bytes.to_vec());
        self.wait(async move {
            store
                .put_opts(&path, payload, PutOptions::default())
                .await
                .map(|_| ())
        })
    }

    /// The bytes under `key`, or `None` when there is no such object.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let store = Arc::clone(&self.store);
        let path = Path::from(key);
        let read = self.wait(async move {
            let found = store.get_opts(&path, GetOptions::default()).await?;
            found.bytes().await
        });
        match read {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(StoreError::Objects(object_store::Error::NotFound { .. })) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The names of every object under `prefix` (a `/`-ended folder), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let store = Arc::clone(&self.store);
        let prefix = Path::from(prefix);
        let mut names: Vec<String> = self.wait(async move {
            let found: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
            Ok(found
                .into_iter()
                .map(|meta| meta.location.to_string())
                .collect())
        })?;
        names.sort();
        Ok(names)
    }

    /// The names of the folders right under `prefix`, without the prefix, sorted.
    pub fn folders(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let store = Arc::clone(&self.store);
        let path = Path::from(prefix);
        let listed = self.wait(async move { store.list_with_delimiter(Some(&path)).await })?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|folder| folder.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Runs a request on the bucket's runtime and waits for it here.
    fn wait<T: Send + 'static>(
        &self,
        request: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            // The waiter only goes away with its thread.
            let _ = sender.send(request.await);
        });
        pg::off_the_runtime(|| receiver.recv())
            .map_err(|_| StoreError::Internal("the object store's client stopped"))?
            .map_err(StoreError::Objects)
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The bucket's runtime, shut down without waiting when the last handle goes: a store
/// may be dropped on one of the daemon's workers, where waiting is not allowed.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
pub(crate) mod garage;
