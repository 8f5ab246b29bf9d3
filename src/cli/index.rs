//! `pecd index entry --config FILE`: this provider's record of the providers index, as
//! LDIF in the RFC 6109 §4.5 schema. Concatenated entries of several providers form an
//! index they can all load.

use anyhow::Context;

use crate::cli::console::Console;
use crate::config::Config;
use crate::crypto::identity::Signer;
use crate::crypto::trust;
use crate::pec::headers;
use crate::pec::index::Provider;
use crate::store::Store;

/// Runs `pecd index entry`: every managed domain of the store.
pub fn print(config: &Config, store: &Store, console: &mut Console<'_>) -> anyhow::Result<()> {
    let domains = crate::manage::domains::all(store, &config.provider.domain)?;
    let entry = entry(config, domains)?;
    console.out.write_all(entry.as_bytes())?;
    Ok(())
}

/// The LDIF record of the provider a config describes, managing `domains` (the
/// provider's own first), ending with the blank line that separates records, so that
/// entries concatenated as they are form an index.
pub fn entry(config: &Config, domains: Vec<String>) -> anyhow::Result<String> {
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
        managed_domains: domains,
        description: None,
        ldif_location_url: None,
    };
    Ok(format!("{}\n", provider.to_ldif()))
}
