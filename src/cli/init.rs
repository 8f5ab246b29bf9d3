//! `pecd init DIR --domain D --name N [--port-base N]`: writes a complete, runnable
//! provider (config, certificates, its own providers-index entry, data folder), and the
//! development certificates `pecd serve` creates on first start.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use anyhow::bail;

use super::files::Audience;
use super::files::create_private_dir;
use super::files::write_file;
use crate::config::CertificatesConfig;
use crate::config::Config;
use crate::crypto::certs;
use crate::crypto::identity::Signer;

/// Runs `pecd init`.
pub fn run(dir: &Path, domain: &str, name: &str, port_base: u16) -> anyhow::Result<()> {
    let config_path = dir.join("pecd.toml");
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            config_path.display()
        );
    }
    let mut token = [0u8; 24];
    openssl::rand::rand_bytes(&mut token).context("no randomness for the admin token")?;
    let token = hex::encode(token);
    let text = Config::template(domain, name, port_base, &token);
    let config = Config::parse(&text, dir).context("invalid --domain or --name")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    create_private_dir(&config.provider.data_dir)?;
    create_dev_certificates(&config)?;
    ensure_conservation_seal(&config)?;
    let entry = super::index::entry(&config, vec![config.provider.domain.clone()])?;
    write_file(&config.index.ldif, entry.as_bytes(), Audience::Public)?;
    // The config holds the admin token.
    write_file(&config_path, text.as_bytes(), Audience::Owner)?;
    let mut out = std::io::stdout().lock();
    let printed = writeln!(out, "provider {domain} written to {}", dir.display()).and_then(|()| {
        writeln!(
            out,
            "start it with: pecd serve --config {}",
            config_path.display()
        )
    });
    super::output_closed_is_fine(printed)
}

/// Creates the development certificates a config names when they are missing: a dev
/// CA, a TLS certificate and a signing certificate for `posta-certificata@<domain>`
/// in the RFC 6109 §5.5 profile. Returns whether anything was created.
pub fn ensure_dev_certificates(config: &Config) -> anyhow::Result<bool> {
    let c = &config.certificates;
    if c.signing_certificate.exists()
        && c.signing_key.exists()
        && c.tls_certificate.exists()
        && c.tls_key.exists()
    {
        return ensure_conservation_seal(config);
    }
    create_dev_certificates(config)?;
    ensure_conservation_seal(config)?;
    Ok(true)
}

/// Creates the conservation seal a config names when it is missing, issued by the dev
/// CA (its key beside it, `ca.key`). Returns whether it was created.
fn ensure_conservation_seal(config: &Config) -> anyhow::Result<bool> {
    let c = &config.certificates;
    let (Some(certificate), Some(key)) = (&c.conservation_certificate, &c.conservation_key) else {
        return Ok(false);
    };
    if certificate.exists() && key.exists() {
        return Ok(false);
    }
    let authority = certs::load_issued(&c.ca, &c.ca.with_extension("key"))
        .context("the conservation seal needs the dev CA's key beside the CA certificate")?;
    let name = format!("{} - Conservazione", config.provider.name);
    let seal = certs::signing_certificate(&authority, &config.provider.domain, &name, c.key_bits)
        .context("cannot create the conservation seal")?;
    write_file(certificate, &seal.certificate_pem()?, Audience::Public)?;
    write_file(key, &seal.key_pem()?, Audience::Owner)?;
    Ok(true)
}

fn create_dev_certificates(config: &Config) -> anyhow::Result<()> {
    let CertificatesConfig {
        ca,
        signing_certificate,
        signing_key,
        tls_certificate,
        tls_key,
        key_bits,
        ..
    } = &config.certificates;
    let domain = &config.provider.domain;
    let name = &config.provider.name;
    let authority = certs::dev_ca(name, *key_bits).context("cannot create the dev CA")?;
    let signing = certs::signing_certificate(&authority, domain, name, *key_bits)
        .context("cannot create the signing certificate")?;
    let tls = certs::tls_certificate(
        &authority,
        &[domain.as_str(), "localhost", "127.0.0.1"],
        *key_bits,
    )
    .context("cannot create the TLS certificate")?;
    let ca_key = ca.with_extension("key");
    write_file(ca, &authority.certificate_pem()?, Audience::Public)?;
    write_file(&ca_key, &authority.key_pem()?, Audience::Owner)?;
    write_file(
        signing_certificate,
        &signing.certificate_pem()?,
        Audience::Public,
    )?;
    write_file(signing_key, &signing.key_pem()?, Audience::Owner)?;
    write_file(tls_certificate, &tls.certificate_pem()?, Audience::Public)?;
    write_file(tls_key, &tls.key_pem()?, Audience::Owner)?;
    // Prove the pair loads the way the daemon will load it.
    Signer::load(signing_certificate, signing_key)
        .context("the new signing certificate does not load")?;
    Ok(())
}
