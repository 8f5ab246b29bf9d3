//! `pecd index entry --config FILE`: this provider's record of the providers index, as
//! LDIF in the RFC 6109 §4.5 schema. Concatenated entries of several providers form an
//! index they can all load.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::config::Config;
use crate::crypto::identity::Signer;
use crate::crypto::trust;
use crate::pec::headers;
use crate::pec::index::Provider;

/// Runs `pecd index entry`.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let entry = entry(&config)?;
    super::output_closed_is_fine(std::io::stdout().lock().write_all(entry.as_bytes()))
}

/// The LDIF record of the provider a config describes, ending with the blank line that
/// separates records, so that entries concatenated as they are form an index.
pub fn entry(config: &Config) -> anyhow::Result<String> {
    let certificates = &config.certificates;
    let signer = Signer::load(&certificates.signing_certificate, &certificates.signing_key)
        .context("cannot load the signing certificate")?;
    let der = signer.certificate_der();
    let provider = Provider {
        name: config.provider.name.clone(),
        unit: None,
        certificate_hashes: vec![trust::sha1_hex(&der)],
        certificates: vec![der],
        mail_receipt: headers::service_address(&config.provider.domain),
        managed_domains: vec![config.provider.domain.clone()],
        description: None,
        ldif_location_url: None,
    };
    Ok(format!("{}\n", provider.to_ldif()))
}
