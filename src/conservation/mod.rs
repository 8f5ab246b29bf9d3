//! The conservation gateway (conservazione a norma under AgID's Linee Guida
//! sulla formazione, gestione e conservazione dei documenti informatici):
//! OAIS producer → SIP → checks → AIP for the messages a mailbox's rule selects.
//!
//! * [`sip`]: one message as received becomes a pacchetto di versamento: the message,
//!   its metadata (PEC kind, daticert, signer, signature check at ingest) and the
//!   SHA-256 of every file; checked (allowed formats, hashes); refused with a reason.
//! * [`rdv`]: the rapporto di versamento of an accepted SIP, signed.
//! * [`pindex`]: the UNI 11386:2020 SInCRO 2.0 `PIndex` of an archival package.
//! * [`bag`]: BagIt 1.0 bags (SHA-256 and SHA-512 manifests and tagmanifests).
//! * [`seal`]: CMS/CAdES detached signatures; [`tsa`]: RFC 3161 time stamps.
//! * [`archive`]: the write-once package store (pacchetti di archiviazione, §3.5 layout).
//! * [`audit`]: re-checks stored packages (fixity, signatures, time stamps).
//! * [`view`]: the read-only view by year and kind for the IMAP side.
//! * [`search`]: the tantivy full-text index of the conserved messages (Italian
//!   stemming; filters by kind and date), rebuilt from the packages when missing or behind.
//! * [`worker`]: drains the durable ingest queue (`store::conservation`); [`task`]
//!   runs it (and the daily audit) inside `pecd serve`.
//!
//! Invariants: packages are never rewritten (every change is a new package; files are
//! read-only, written with fsync + rename); a queued job is removed only in the store
//! transaction that records its package or its refusal, so a crash loses nothing.

pub mod archive;
pub mod audit;
pub mod bag;
pub mod bucket;
pub mod export;
pub mod files;
pub mod fuzz;
pub mod pindex;
pub mod queue;
pub mod quota;
pub mod rdv;
pub mod retention;
pub mod seal;
pub mod search;
pub mod sip;
pub mod task;
#[cfg(test)]
mod testing;
pub mod tsa;
pub mod view;
pub mod worker;

/// Faults of the conservation gateway.
#[derive(Debug, thiserror::Error)]
pub enum ConservationError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A write-once file or package already exists.
    #[error("{0} already exists (packages are write-once)")]
    Exists(String),
    /// Signing or a certificate operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// A message could not be signed.
    #[error("crypto: {0}")]
    Signing(#[from] crate::crypto::smime::SmimeError),
    /// A time stamp could not be obtained.
    #[error("time stamp: {0}")]
    Timestamp(#[from] tsa::TsaError),
    /// The full-text index failed.
    #[error("search index: {0}")]
    Search(#[from] tantivy::TantivyError),
    /// Writing or reading a ZIP failed.
    #[error("{context}: {source}")]
    Zip {
        /// What was being done.
        context: String,
        /// The cause.
        source: zip::result::ZipError,
    },
    /// A JSON document could not be written.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A package is not what it should be.
    #[error("{0}")]
    Invalid(String),
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(bytes))
}

/// SHA-512, lowercase hex.
pub fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(openssl::sha::sha512(bytes))
}

/// XML text escaping (`&`, `<`, `>`, `"`, `'`).
pub fn xml_escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}
