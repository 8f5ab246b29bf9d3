//! TLS configuration for every listener and for relay between providers.
//!
//! One place builds rustls configurations, always with the *ring* provider and only
//! TLS 1.2 and 1.3 (RFC 8996 retired the older versions). The same server configuration
//! serves implicit TLS (submissions, RFC 8314) and STARTTLS (RFC 3207) alike: the
//! drivers hand a TCP stream to `tokio_rustls::TlsAcceptor` in both cases.
//!
//! Certificates and keys are read from PEM files with `rustls-pki-types`
//! ([`PemObject`]); there is no "accept any certificate" switch: tests trust the
//! development CA like a production peer trusts a real one.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// The protocol versions pecd speaks: TLS 1.3 first, TLS 1.2 for older peers.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds no usable item.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{0}: no certificate found")]
    NoCertificate(PathBuf),
    /// rustls refused the material (key does not match, unsupported key type, …).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the server configuration from a certificate chain (leaf first) and its key.
///
/// Clients are not asked for certificates: SMTP submission authenticates with AUTH
/// (RFC 4954) and providers authenticate each other with S/MIME, not with TLS.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|source| TlsError::Pem {
        path: key_pem.to_path_buf(),
        source,
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// The server's certificate and key, replaceable while connections run: a reload
/// (SIGHUP) puts renewed ones in with [`ServedCertificate::set`], new handshakes get
/// them, and connections already open keep the session they made.
#[derive(Debug)]
pub struct ServedCertificate {
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl ServedCertificate {
    /// Reads a certificate chain (leaf first) and its key, checking that they match.
    pub fn read(
        cert_pem: &Path,
        key_pem: &Path,
    ) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
        let chain = read_certificates(cert_pem)?;
        let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|source| TlsError::Pem {
            path: key_pem.to_path_buf(),
            source,
        })?;
        Ok(Arc::new(rustls::sign::CertifiedKey::from_der(
            chain,
            key,
            &provider(),
        )?))
    }

    /// Serves `cert_pem` with `key_pem`.
    pub fn new(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServedCertificate>, TlsError> {
        let current = std::sync::RwLock::new(ServedCertificate::read(cert_pem, key_pem)?);
        Ok(Arc::new(ServedCertificate { current }))
    }

    /// Serves `fresh` (from [`ServedCertificate::read`]) from the next handshake on.
    pub fn set(&self, fresh: Arc<rustls::sign::CertifiedKey>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = fresh;
    }
}

impl rustls::server::ResolvesServerCert for ServedCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(&current))
    }
}

/// The server configuration serving `certificate`, whatever it holds at each handshake.
pub fn reloadable_server_config(
    certificate: Arc<ServedCertificate>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    Ok(Arc::new(config))
}

/// Builds the client configuration used to relay to other providers.
///
/// Only the certificates in `extra_roots` (PEM files, each with one or more
/// certificates) are trusted as roots.
pub fn client_config(extra_roots: &[PathBuf]) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_trusting(RootCertStore::empty(), extra_roots)
}

/// Builds the client configuration for an ordinary smarthost: the public roots (the
/// Mozilla set every mail client trusts) plus the certificates in `extra_roots`, so a
/// smarthost with a private CA works too.
pub fn client_config_with_public_roots(
    extra_roots: &[PathBuf],
) -> Result<Arc<ClientConfig>, TlsError> {
    let public = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_trusting(public, extra_roots)
}

fn client_config_trusting(
    mut roots: RootCertStore,
    extra_roots: &[PathBuf],
) -> Result<Arc<ClientConfig>, TlsError> {
    for path in extra_roots {
        for certificate in read_certificates(path)? {
            roots.add(certificate)?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/pec-a.test")
            .join(file)
    }

    #[test]
    fn loads_the_development_certificate() {
        let config = server_config(&dev("tls.pem"), &dev("tls.key")).unwrap();
        assert!(config.alpn_protocols.is_empty());
    }

    #[test]
    fn a_key_file_is_not_a_certificate() {
        let error = server_config(&dev("tls.key"), &dev("tls.key")).unwrap_err();
        assert!(matches!(error, TlsError::NoCertificate(_)), "{error}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = client_config(&[dev("missing.pem")]).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
    }

    #[test]
    fn trusts_the_given_roots() {
        let config = client_config(&[dev("ca.pem")]).unwrap();
        assert!(config.enable_sni);
    }
}
