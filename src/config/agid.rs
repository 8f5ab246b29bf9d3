//! The keys of the AgID duties: `[index]` (the providers index, and its scheduled
//! download and verification) and `[stats]` (what the statistics need beyond the
//! store), with their checks; `[provider] codice` is checked here too.

use std::path::PathBuf;

use serde::Deserialize;

use super::Config;

/// `[index]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// The providers index: LDIF (RFC 6109 §4.5) or its signed `.p7m` form.
    pub ldif: PathBuf,
    /// Where the signed index is published (`https://…/index.p7m`): downloaded at start
    /// and every `refresh_secs`, and written over `ldif` once its signature verifies.
    /// Empty: the file is maintained by other means.
    #[serde(default)]
    pub url: String,
    /// The CA certificate(s) (PEM) the downloaded index's signer must chain to.
    #[serde(default)]
    pub signer_ca: Option<PathBuf>,
    /// CAs trusted for the index server's TLS certificate (PEM files); empty: the
    /// public web roots.
    #[serde(default)]
    pub tls_roots: Vec<PathBuf>,
    /// Seconds between downloads.
    #[serde(default = "default_index_refresh_secs")]
    pub refresh_secs: u64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            ldif: "index.ldif".into(),
            url: String::new(),
            signer_ca: None,
            tls_roots: Vec::new(),
            refresh_secs: default_index_refresh_secs(),
        }
    }
}

fn default_index_refresh_secs() -> u64 {
    86_400
}

/// `[stats]`: what the AgID statistics need beyond the store.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// The enti (as mailboxes name them) that are public administrations: their
    /// conservation contracts count as ContrattiPA in C01, every other as private.
    pub pa_enti: Vec<String>,
}

impl Config {
    /// The provider code has the AgID form, and a downloaded index can be verified.
    pub(super) fn validate_agid(&self) -> Result<(), String> {
        let codice = &self.provider.codice;
        if !codice.is_empty() && !is_agid_code(codice) {
            return Err(format!(
                "provider.codice {codice:?} is not TIN-<codice fiscale> (at most 20 characters), \
                 VAT-<partita IVA> (15) or IPA-<code> (20)"
            ));
        }
        let index = &self.index;
        if !index.url.is_empty() {
            if !index.url.starts_with("https://") {
                return Err(format!("index.url {:?} is not https://", index.url));
            }
            if index.signer_ca.is_none() {
                return Err("index.url needs index.signer_ca to verify what it downloads".into());
            }
            if index.refresh_secs < 60 {
                return Err("index.refresh_secs must be at least 60".into());
            }
        }
        Ok(())
    }
}

/// `TIN-`, `VAT-` or `IPA-` and letters, digits and underscores (IPA codes such as
/// `c_h501`), within the record's length.
fn is_agid_code(code: &str) -> bool {
    let limit = match code.get(..4) {
        Some("TIN-" | "IPA-") => 20,
        Some("VAT-") => 15,
        _ => return false,
    };
    code.len() > 4
        && code.len() <= limit
        && code[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
