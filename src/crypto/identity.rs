//! The provider's signing identity: the certificate and private key that sign every
//! envelope, receipt and notice (RFC 6109 §2.1, pec.md §3), plus the certificate
//! facts other modules compare against the providers index (pec.md §8: the SHA-1 of
//! the DER, the SAN rfc822Name that must equal the `From:` address).
//!
//! Loaded once at start-up by `main.rs` from the PEM files the configuration names and
//! handed to [`crate::crypto::smime::sign`]. The key never leaves this type except
//! towards the signing call, and `Debug` never prints it (house rule 13).

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::PKeyRef;
use openssl::pkey::Private;
use openssl::x509::X509;
use openssl::x509::X509Ref;

use crate::crypto::smime::Template;

/// Why a signing identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The certificate PEM did not parse.
    #[error("certificate PEM is not valid: {0}")]
    Certificate(#[source] ErrorStack),
    /// The certificate PEM held no certificate at all.
    #[error("certificate PEM holds no certificate")]
    NoCertificate,
    /// The private key PEM did not parse (the key itself is never quoted).
    #[error("private key PEM is not valid: {0}")]
    PrivateKey(#[source] ErrorStack),
    /// The private key does not belong to the certificate.
    #[error("private key does not match the certificate {subject}")]
    KeyMismatch {
        /// The certificate's subject, to say which pair was wrong.
        subject: String,
    },
    /// The certificate's public key could not be extracted or compared.
    #[error("cannot compare key and certificate: {0}")]
    Compare(#[source] ErrorStack),
}

/// The provider's signing identity (RFC 6109 §5.5): the leaf certificate, its private
/// key and the intermediate certificates sent along with every signature.
#[derive(Clone)]
pub struct Signer {
    certificate: X509,
    key: PKey<Private>,
    chain: Vec<X509>,
    /// Made on the first signature, shared by clones.
    template: Arc<OnceLock<Option<Template>>>,
}

impl Signer {
    /// Builds an identity from parts already in memory, checking that `key` belongs to
    /// `certificate`.
    pub fn new(
        certificate: X509,
        key: PKey<Private>,
        chain: Vec<X509>,
    ) -> Result<Signer, IdentityError> {
        let public = certificate.public_key().map_err(IdentityError::Compare)?;
        if !public.public_eq(&key) {
            return Err(IdentityError::KeyMismatch {
                subject: name_text(certificate.subject_name()),
            });
        }
        Ok(Signer {
            certificate,
            key,
            chain,
            template: Arc::default(),
        })
    }

    /// Reads the certificate file (the leaf first, then any chain certificates) and the
    /// private key file, both PEM.
    pub fn load(certificate_pem: &Path, private_key_pem: &Path) -> Result<Signer, IdentityError> {
        let certificate = read(certificate_pem)?;
        let key = read(private_key_pem)?;
        Signer::from_pem(&certificate, &key)
    }

    /// Parses PEM bytes: `cert` holds the leaf followed by any chain certificates, `key`
    /// the private key (PKCS#8 or traditional).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Signer, IdentityError> {
        let mut certificates = X509::stack_from_pem(cert)
            .map_err(IdentityError::Certificate)?
            .into_iter();
        let certificate = certificates.next().ok_or(IdentityError::NoCertificate)?;
        let key = PKey::private_key_from_pem(key).map_err(IdentityError::PrivateKey)?;
        Signer::new(certificate, key, certificates.collect())
    }

    /// The signing (leaf) certificate.
    pub fn certificate(&self) -> &X509Ref {
        &self.certificate
    }

    /// The intermediate certificates included in every signature after the leaf.
    pub fn chain(&self) -> &[X509] {
        &self.chain
    }

    /// The leaf certificate in DER, as published in `providerCertificate;binary`.
    pub fn certificate_der(&self) -> Vec<u8> {
        certificate_der(&self.certificate)
    }

    /// Lowercase hex SHA-1 of the leaf's DER: the `providerCertificateHash` of the
    /// providers index (RFC 6109 §4.5, pec.md §8).
    pub fn sha1_hex(&self) -> String {
        certificate_sha1_hex(&self.certificate)
    }

    /// The certificate's SAN rfc822Name, the address every signed message must come
    /// from (`posta-certificata@<domain>`, pec.md §3).
    pub fn email(&self) -> Option<String> {
        certificate_email(&self.certificate)
    }

    /// The private key, for the signing calls of this module's siblings only.
    pub(crate) fn private_key(&self) -> &PKeyRef<Private> {
        &self.key
    }

    /// The signature template of this identity, once made.
    pub(crate) fn template(&self) -> &OnceLock<Option<Template>> {
        &self.template
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("subject", &name_text(self.certificate.subject_name()))
            .field("sha1", &self.sha1_hex())
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The DER encoding of `cert`; empty if OpenSSL cannot encode it, which cannot happen
/// for a certificate it parsed or built.
pub fn certificate_der(cert: &X509Ref) -> Vec<u8> {
    cert.to_der().unwrap_or_default()
}

/// Lowercase hex SHA-1 over the DER of `cert`, the form the providers index lists
/// (compare case-insensitively: pec.md §8 step 2).
pub fn certificate_sha1_hex(cert: &X509Ref) -> String {
    // SHA-1 over an in-memory certificate only fails if OpenSSL cannot allocate.
    cert.digest(MessageDigest::sha1())
        .map(|digest| hex(&digest))
        .unwrap_or_default()
}

/// The first SAN rfc822Name of `cert`, if any.
pub fn certificate_email(cert: &X509Ref) -> Option<String> {
    cert.subject_alt_names()?
        .iter()
        .find_map(|name| name.email().map(str::to_owned))
}

/// A distinguished name as `C=IT, O=…, CN=…`, in the certificate's order, with
/// OpenSSL's short attribute names.
pub fn name_text(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry
                .data()
                .to_string()
                .unwrap_or_else(|_| String::from("?"));
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::certs;

    fn issued() -> (certs::Issued, certs::Issued) {
        let ca = certs::dev_ca("Test", 2048).unwrap();
        let leaf = certs::signing_certificate(&ca, "pec.example.it", "Example PEC", 2048).unwrap();
        (ca, leaf)
    }

    #[test]
    fn from_pem_reads_leaf_chain_and_facts() {
        let (ca, leaf) = issued();
        let mut pem = leaf.certificate_pem().unwrap();
        pem.extend(ca.certificate_pem().unwrap());
        let signer = Signer::from_pem(&pem, &leaf.key_pem().unwrap()).unwrap();

        assert_eq!(signer.chain().len(), 1);
        assert_eq!(
            signer.email().as_deref(),
            Some("posta-certificata@pec.example.it")
        );
        assert_eq!(signer.certificate_der(), leaf.certificate.to_der().unwrap());
        let sha1 = signer.sha1_hex();
        assert_eq!(sha1.len(), 40);
        assert_eq!(sha1, sha1.to_lowercase());
        let expected = leaf.certificate.digest(MessageDigest::sha1()).unwrap();
        assert_eq!(sha1, hex(&expected));
    }

    #[test]
    fn load_reads_files() {
        let (_, leaf) = issued();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        fs::write(&cert_path, leaf.certificate_pem().unwrap()).unwrap();
        fs::write(&key_path, leaf.key_pem().unwrap()).unwrap();
        let signer = Signer::load(&cert_path, &key_path).unwrap();
        assert!(signer.chain().is_empty());

        let missing = Signer::load(&dir.path().join("none.pem"), &key_path).unwrap_err();
        assert!(matches!(missing, IdentityError::Read { .. }), "{missing}");
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let (ca, leaf) = issued();
        let error =
            Signer::from_pem(&leaf.certificate_pem().unwrap(), &ca.key_pem().unwrap()).unwrap_err();
        assert!(
            matches!(error, IdentityError::KeyMismatch { .. }),
            "{error}"
        );
    }

    #[test]
    fn garbage_pem_is_an_error() {
        let (_, leaf) = issued();
        let error = Signer::from_pem(b"not pem", &leaf.key_pem().unwrap()).unwrap_err();
        assert!(
            matches!(
                error,
                IdentityError::Certificate(_) | IdentityError::NoCertificate
            ),
            "{error}"
        );
        let error = Signer::from_pem(&leaf.certificate_pem().unwrap(), b"nope").unwrap_err();
        assert!(matches!(error, IdentityError::PrivateKey(_)), "{error}");
    }

    #[test]
    fn debug_never_prints_the_key() {
        let (_, leaf) = issued();
        let key_pem = String::from_utf8(leaf.key_pem().unwrap()).unwrap();
        let signer = Signer::new(leaf.certificate, leaf.key, Vec::new()).unwrap();
        let printed = format!("{signer:?}");
        assert!(printed.contains("<redacted>"));
        let body_line = key_pem.lines().nth(1).unwrap();
        assert!(!printed.contains(body_line));
    }
}
