//! Development certificates: a local CA, provider signing certificates following the
//! RFC 6109 §5.5 profile, and TLS server certificates for the listeners.
//!
//! Used by `pecd init` and by `pecd serve` on a fresh checkout, and by
//! tests. Production signing certificates are issued by AgID for listed providers; these
//! follow the same profile so that everything downstream behaves as with a real one.
//! Built with the openssl crate's `X509Builder`.

use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::path::PathBuf;

use jiff::SignedDuration;
use jiff::Timestamp;
use openssl::asn1::Asn1Integer;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::bn::MsbOption;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl::x509::X509;
use openssl::x509::X509Builder;
use openssl::x509::X509Name;
use openssl::x509::extension::AuthorityKeyIdentifier;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::extension::ExtendedKeyUsage;
use openssl::x509::extension::KeyUsage;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::extension::SubjectKeyIdentifier;

use crate::crypto::identity::name_text;

/// Why a certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// An OpenSSL step failed.
    #[error("cannot {step}: {source}")]
    Openssl {
        /// What was being done.
        step: &'static str,
        /// OpenSSL's errors.
        source: ErrorStack,
    },
    /// A domain or host name holds characters a DNS name cannot have.
    #[error("{0:?} is not a valid domain or host name")]
    InvalidName(String),
    /// A TLS certificate was requested for no host at all.
    #[error("a TLS certificate needs at least one host name")]
    NoHostnames,
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The private key does not belong to the certificate.
    #[error("private key {} does not match certificate {}", key.display(), certificate.display())]
    KeyMismatch {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// A certificate together with its private key.
pub struct Issued {
    /// The certificate.
    pub certificate: X509,
    /// Its private key.
    pub key: PKey<Private>,
}

impl Issued {
    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> Result<Vec<u8>, CertError> {
        self.certificate.to_pem().map_err(openssl("encode PEM"))
    }

    /// The private key as PKCS#8 PEM (unencrypted: development use).
    pub fn key_pem(&self) -> Result<Vec<u8>, CertError> {
        self.key
            .private_key_to_pem_pkcs8()
            .map_err(openssl("encode PKCS#8"))
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("subject", &name_text(self.certificate.subject_name()))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A self-signed development CA, `CN=<name> Dev CA`, valid 10 years: BasicConstraints
/// critical CA:true, KeyUsage critical keyCertSign and cRLSign, SKI.
pub fn dev_ca(name: &str, bits: u32) -> Result<Issued, CertError> {
    let key = rsa_key(bits)?;
    let subject = x509_name(&[("CN", &format!("{name} Dev CA"))])?;
    let not_before = Timestamp::now() - SignedDuration::from_mins(1);
    let not_after = not_before + days(3653);
    let mut builder = base_builder(&subject, &key, not_before, not_after)?;
    builder
        .set_issuer_name(&subject)
        .map_err(openssl("set issuer"))?;
    let extensions = [
        BasicConstraints::new().critical().ca().build(),
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build(),
        SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None)),
    ];
    append(&mut builder, extensions)?;
    builder
        .sign(&key, MessageDigest::sha256())
        .map_err(openssl("sign certificate"))?;
    Ok(Issued {
        certificate: builder.build(),
        key,
    })
}

/// A provider signing certificate following RFC 6109 §5.5, valid for three years from
/// a minute ago. See [`signing_certificate_for_period`] for the profile.
pub fn signing_certificate(
    ca: &Issued,
    domain: &str,
    provider_name: &str,
    bits: u32,
) -> Result<Issued, CertError> {
    let not_before = Timestamp::now() - SignedDuration::from_mins(1);
    let not_after = not_before + days(3 * 365 + 1);
    signing_certificate_for_period(ca, domain, provider_name, bits, not_before, not_after)
}

/// A provider signing certificate valid from `not_before` to `not_after` (tests use a
/// past period for expired certificates). The RFC 6109 §5.5 profile, as AgID issues it
/// (pec.md §9): subject `C=IT, O=<provider_name>, CN=Posta Certificata <provider_name>`;
/// KeyUsage critical digitalSignature only; SAN rfc822Name `posta-certificata@<domain>`;
/// EKU emailProtection; AKI keyid; SKI; no BasicConstraints; sha256WithRSAEncryption;
/// a random 16-byte serial.
pub fn signing_certificate_for_period(
    ca: &Issued,
    domain: &str,
    provider_name: &str,
    bits: u32,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<Issued, CertError> {
    check_dns_name(domain)?;
    let key = rsa_key(bits)?;
    let subject = x509_name(&[
        ("C", "IT"),
        ("O", provider_name),
        ("CN", &format!("Posta Certificata {provider_name}")),
    ])?;
    let mut builder = base_builder(&subject, &key, not_before, not_after)?;
    builder
        .set_issuer_name(ca.certificate.subject_name())
        .map_err(openssl("set issuer"))?;
    let context = builder.x509v3_context(Some(&ca.certificate), None);
    let extensions = [
        KeyUsage::new().critical().digital_signature().build(),
        SubjectAlternativeName::new()
            .email(&format!("posta-certificata@{domain}"))
            .build(&context),
        ExtendedKeyUsage::new().email_protection().build(),
        AuthorityKeyIdentifier::new().keyid(true).build(&context),
        SubjectKeyIdentifier::new().build(&context),
    ];
    append(&mut builder, extensions)?;
    builder
        .sign(&ca.key, MessageDigest::sha256())
        .map_err(openssl("sign certificate"))?;
    Ok(Issued {
        certificate: builder.build(),
        key,
    })
}

/// A TLS server certificate for `hostnames` (serverAuth), valid three years. Names that
/// parse as IP addresses become IP SANs, the others DNS SANs; the first is the CN.
pub fn tls_certificate(ca: &Issued, hostnames: &[&str], bits: u32) -> Result<Issued, CertError> {
    let first = hostnames.first().ok_or(CertError::NoHostnames)?;
    let mut names = SubjectAlternativeName::new();
    for host in hostnames {
        if host.parse::<IpAddr>().is_ok() {
            names.ip(host);
        } else {
            check_dns_name(host)?;
            names.dns(host);
        }
    }
    let key = rsa_key(bits)?;
    let subject = x509_name(&[("CN", first)])?;
    let not_before = Timestamp::now() - SignedDuration::from_mins(1);
    let not_after = not_before + days(3 * 365 + 1);
    let mut builder = base_builder(&subject, &key, not_before, not_after)?;
    builder
        .set_issuer_name(ca.certificate.subject_name())
        .map_err(openssl("set issuer"))?;
    let context = builder.x509v3_context(Some(&ca.certificate), None);
    let extensions = [
        BasicConstraints::new().build(),
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build(),
        ExtendedKeyUsage::new().server_auth().build(),
        names.build(&context),
        AuthorityKeyIdentifier::new().keyid(true).build(&context),
        SubjectKeyIdentifier::new().build(&context),
    ];
    append(&mut builder, extensions)?;
    builder
        .sign(&ca.key, MessageDigest::sha256())
        .map_err(openssl("sign certificate"))?;
    Ok(Issued {
        certificate: builder.build(),
        key,
    })
}

/// Reads a certificate and its private key from PEM files and checks they belong
/// together.
pub fn load_issued(cert_pem: &Path, key_pem: &Path) -> Result<Issued, CertError> {
    let certificate = X509::from_pem(&read(cert_pem)?).map_err(openssl("parse certificate"))?;
    let key = PKey::private_key_from_pem(&read(key_pem)?).map_err(openssl("parse private key"))?;
    let public = certificate
        .public_key()
        .map_err(openssl("read public key"))?;
    if !public.public_eq(&key) {
        return Err(CertError::KeyMismatch {
            certificate: cert_pem.to_path_buf(),
            key: key_pem.to_path_buf(),
        });
    }
    Ok(Issued { certificate, key })
}

/// `n` days of 24 hours (certificate validity is counted in absolute time).
fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn rsa_key(bits: u32) -> Result<PKey<Private>, CertError> {
    let rsa = Rsa::generate(bits).map_err(openssl("generate RSA key"))?;
    PKey::from_rsa(rsa).map_err(openssl("wrap RSA key"))
}

fn x509_name(entries: &[(&str, &str)]) -> Result<X509Name, CertError> {
    let mut name = X509Name::builder().map_err(openssl("build name"))?;
    for (field, value) in entries {
        name.append_entry_by_text(field, value)
            .map_err(openssl("add name entry (CN is at most 64 characters)"))?;
    }
    Ok(name.build())
}

/// Version 3, a random positive 16-byte serial, subject, key and validity.
fn base_builder(
    subject: &X509Name,
    key: &PKey<Private>,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<X509Builder, CertError> {
    let mut builder = X509Builder::new().map_err(openssl("start certificate"))?;
    builder.set_version(2).map_err(openssl("set version"))?;
    let serial = random_serial()?;
    builder
        .set_serial_number(&serial)
        .map_err(openssl("set serial"))?;
    builder
        .set_subject_name(subject)
        .map_err(openssl("set subject"))?;
    builder.set_pubkey(key).map_err(openssl("set public key"))?;
    let not_before = asn1_time(not_before)?;
    let not_after = asn1_time(not_after)?;
    builder
        .set_not_before(&not_before)
        .map_err(openssl("set notBefore"))?;
    builder
        .set_not_after(&not_after)
        .map_err(openssl("set notAfter"))?;
    Ok(builder)
}

/// A random 127-bit number with its top bit set: the DER INTEGER is then always 16
/// bytes long and positive (RFC 5280 §4.1.2.2 allows up to 20).
fn random_serial() -> Result<Asn1Integer, CertError> {
    let mut serial = BigNum::new().map_err(openssl("allocate serial"))?;
    serial
        .rand(127, MsbOption::ONE, false)
        .map_err(openssl("draw serial"))?;
    serial.to_asn1_integer().map_err(openssl("encode serial"))
}

fn asn1_time(time: Timestamp) -> Result<Asn1Time, CertError> {
    Asn1Time::from_unix(time.as_second()).map_err(openssl("encode time"))
}

fn append<const N: usize>(
    builder: &mut X509Builder,
    extensions: [Result<openssl::x509::X509Extension, ErrorStack>; N],
) -> Result<(), CertError> {
    for extension in extensions {
        let extension = extension.map_err(openssl("build extension"))?;
        builder
            .append_extension(extension)
            .map_err(openssl("add extension"))?;
    }
    Ok(())
}

/// Letters, digits, hyphens and dots only: the names end up in OpenSSL's textual
/// extension syntax, where a comma would smuggle in another entry.
fn check_dns_name(name: &str) -> Result<(), CertError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(CertError::InvalidName(name.to_owned()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn openssl(step: &'static str) -> impl Fn(ErrorStack) -> CertError {
    move |source| CertError::Openssl { step, source }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use openssl::x509::X509VerifyResult;

    use super::*;

    fn openssl_text(cert: &X509) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        fs::write(&path, cert.to_pem().unwrap()).unwrap();
        let output = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
            .unwrap_or_else(|error| panic!("the openssl binary is needed for this test: {error}"));
        assert!(output.status.success(), "openssl x509 failed: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The line after `header` in `openssl x509 -text` output, trimmed.
    fn value_after<'a>(text: &'a str, header: &str) -> &'a str {
        let mut lines = text.lines();
        lines
            .by_ref()
            .find(|line| line.contains(header))
            .unwrap_or_else(|| panic!("{header} missing in:\n{text}"));
        lines.next().unwrap().trim()
    }

    #[test]
    fn signing_certificate_follows_rfc6109_profile_per_openssl_binary() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let leaf = signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).unwrap();
        let text = openssl_text(&leaf.certificate);

        assert!(
            text.contains("Subject: C = IT, O = Gestore A, CN = Posta Certificata Gestore A"),
            "{text}"
        );
        assert!(text.contains("Issuer: CN = Gestore A Dev CA"), "{text}");
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
        assert_eq!(value_after(&text, "X509v3 Key Usage"), "Digital Signature");
        assert!(
            text.contains("X509v3 Subject Alternative Name: \n"),
            "{text}"
        );
        assert_eq!(
            value_after(&text, "X509v3 Subject Alternative Name"),
            "email:posta-certificata@pec-a.test"
        );
        assert!(text.contains("X509v3 Extended Key Usage: \n"), "{text}");
        assert_eq!(
            value_after(&text, "X509v3 Extended Key Usage"),
            "E-mail Protection"
        );
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier: \n"), "{text}");
        assert!(!text.contains("Basic Constraints"), "{text}");
        // Only KeyUsage is critical (RFC 6109 §5.5: any other extension non-critical).
        assert_eq!(text.matches("critical").count(), 1, "{text}");
    }

    #[test]
    fn signing_certificate_follows_rfc6109_profile_per_api() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let leaf = signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).unwrap();
        let cert = &leaf.certificate;

        assert_eq!(cert.version(), 2);
        assert_eq!(
            name_text(cert.subject_name()),
            "C=IT, O=Gestore A, CN=Posta Certificata Gestore A"
        );
        let names = cert.subject_alt_names().unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(
            names.get(0).unwrap().email(),
            Some("posta-certificata@pec-a.test")
        );
        assert!(cert.pathlen().is_none());
        assert!(cert.subject_key_id().is_some());
        assert_eq!(
            cert.authority_key_id().unwrap().as_slice(),
            ca.certificate.subject_key_id().unwrap().as_slice()
        );
        assert_eq!(cert.serial_number().to_bn().unwrap().num_bytes(), 16);
        assert_eq!(ca.certificate.issued(cert), X509VerifyResult::OK);
        assert!(cert.verify(&ca.key).unwrap());
        let now = Asn1Time::days_from_now(0).unwrap();
        assert!(cert.not_before() < now);
        let in_three_years = Asn1Time::days_from_now(3 * 365).unwrap();
        assert!(cert.not_after() > in_three_years);
        assert!(cert.not_after() < Asn1Time::days_from_now(3 * 365 + 2).unwrap());
    }

    #[test]
    fn dev_ca_is_a_critical_ca_with_cert_sign() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let text = openssl_text(&ca.certificate);
        assert!(text.contains("Subject: CN = Gestore A Dev CA"), "{text}");
        assert!(
            text.contains("X509v3 Basic Constraints: critical"),
            "{text}"
        );
        assert_eq!(value_after(&text, "X509v3 Basic Constraints"), "CA:TRUE");
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
        assert_eq!(
            value_after(&text, "X509v3 Key Usage"),
            "Certificate Sign, CRL Sign"
        );
        assert!(ca.certificate.verify(&ca.key).unwrap());
    }

    #[test]
    fn tls_certificate_names_hosts_and_addresses() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let tls = tls_certificate(&ca, &["localhost", "127.0.0.1", "mx.pec-a.test"], 2048).unwrap();
        let text = openssl_text(&tls.certificate);
        assert_eq!(
            value_after(&text, "X509v3 Subject Alternative Name"),
            "DNS:localhost, IP Address:127.0.0.1, DNS:mx.pec-a.test"
        );
        assert_eq!(
            value_after(&text, "X509v3 Extended Key Usage"),
            "TLS Web Server Authentication"
        );
        assert!(matches!(
            tls_certificate(&ca, &[], 2048),
            Err(CertError::NoHostnames)
        ));
    }

    #[test]
    fn names_that_would_inject_extension_syntax_are_refused() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let error = signing_certificate(&ca, "a.test,DNS:evil.test", "X", 2048).unwrap_err();
        assert!(matches!(error, CertError::InvalidName(_)), "{error}");
        let error = tls_certificate(&ca, &["ok.test", "bad host"], 2048).unwrap_err();
        assert!(matches!(error, CertError::InvalidName(_)), "{error}");
    }

    #[test]
    fn load_issued_round_trips_and_checks_the_pair() {
        let ca = dev_ca("Gestore A", 2048).unwrap();
        let leaf = signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("signing.pem");
        let key_path = dir.path().join("signing.key");
        let ca_key_path = dir.path().join("ca.key");
        fs::write(&cert_path, leaf.certificate_pem().unwrap()).unwrap();
        fs::write(&key_path, leaf.key_pem().unwrap()).unwrap();
        fs::write(&ca_key_path, ca.key_pem().unwrap()).unwrap();

        let loaded = load_issued(&cert_path, &key_path).unwrap();
        assert_eq!(
            loaded.certificate.to_der().unwrap(),
            leaf.certificate.to_der().unwrap()
        );
        let error = load_issued(&cert_path, &ca_key_path).unwrap_err();
        assert!(matches!(error, CertError::KeyMismatch { .. }), "{error}");
        assert!(!format!("{loaded:?}").contains("PRIVATE"));
    }
}
