//! Shared test material for the S/MIME tests: one development PKI per test run, a
//! provider message shaped like RFC 6109 §4.3, and the real signed samples.

use std::path::PathBuf;
use std::sync::OnceLock;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl::x509::X509;
use openssl::x509::X509Builder;
use openssl::x509::X509Ref;
use openssl::x509::extension::AuthorityKeyIdentifier;
use openssl::x509::extension::ExtendedKeyUsage;
use openssl::x509::extension::KeyUsage;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::extension::SubjectKeyIdentifier;

use crate::crypto::certs;
use crate::crypto::certs::Issued;
use crate::crypto::identity::Signer;
use crate::pec::compose::Unsigned;

/// A dev CA and a provider signing identity it issued.
pub struct Pki {
    pub ca: Issued,
    pub signer: Signer,
}

/// The PKI shared by all tests (RSA key generation is the slow part).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = certs::dev_ca("Gestore A", 2048).unwrap();
        let leaf = certs::signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).unwrap();
        let signer = Signer::new(leaf.certificate, leaf.key, Vec::new()).unwrap();
        Pki { ca, signer }
    })
}

/// A CMS signature (DER) of `data` by the test signer, made by OpenSSL with `options`:
/// for shapes other than the one [`sign_detached`](super::sign_detached) makes.
pub fn openssl_signed(data: &[u8], options: openssl::cms::CMSOptions) -> Vec<u8> {
    let signer = &pki().signer;
    openssl::cms::CmsContentInfo::sign(
        Some(signer.certificate()),
        Some(signer.private_key()),
        None,
        Some(data),
        options,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// A small `multipart/mixed` provider entity in canonical CRLF form.
pub fn unsigned() -> Unsigned {
    let entity = [
        "Content-Type: multipart/mixed; boundary=\"----------=_1415375521-3048-18\"",
        "",
        "This is a multi-part message in MIME format...",
        "",
        "------------=_1415375521-3048-18",
        "Content-Type: text/plain; charset=\"iso-8859-1\"",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Il messaggio =E8 stato accettato dal sistema.",
        "",
        "------------=_1415375521-3048-18",
        "Content-Type: application/xml; name=\"daticert.xml\"",
        "Content-Disposition: inline; filename=\"daticert.xml\"",
        "Content-Transfer-Encoding: base64",
        "",
        "PHBvc3RhY2VydCB0aXBvPSJhY2NldHRhemlvbmUiIGVycm9yZT0ibmVzc3VubyIvPg==",
        "",
        "------------=_1415375521-3048-18--",
        "",
    ]
    .join("\r\n")
    .into_bytes();
    let headers = [
        ("From", "posta-certificata@pec-a.test"),
        ("To", "alice@pec-a.test"),
        (
            "Subject",
            "=?iso-8859-1?Q?ACCETTAZIONE:_prova_di_un_oggetto_piuttosto_lungo?=\r\n =?iso-8859-1?Q?_che_va_ripiegato?=",
        ),
        ("Date", "Fri, 7 Nov 2014 16:52:00 +0100"),
        ("Message-ID", "<20141107.1@pec-a.test>"),
        ("X-Ricevuta", "accettazione"),
    ];
    Unsigned {
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        entity,
        daticert: None,
    }
}

/// The real Aruba 2014 samples (pec.md §9), or `None` with a printed reason when the
/// shared fixtures are not beside the project.
pub fn aruba_2014() -> Option<Vec<PathBuf>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real/aruba-2014");
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent, so the real-sample checks did not run",
            dir.display()
        );
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        4,
        "expected the four Aruba samples in {}",
        dir.display()
    );
    Some(files)
}

/// `haystack` with the single occurrence of `from` replaced by `to`.
pub fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut found = haystack
        .windows(from.len())
        .enumerate()
        .filter(|(_, window)| *window == from)
        .map(|(at, _)| at);
    let at = found.next().expect("pattern present");
    assert!(found.next().is_none(), "pattern occurs twice");
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

/// A certificate with the genuine one's issuer, serial, subject and dates but a new
/// key, signed by the same CA: what an attacker holding a CA-issued certificate
/// would swap in.
pub fn same_names_other_key(genuine: &X509Ref) -> X509 {
    let other_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut builder = same_names(genuine, &other_key);
    let context = builder.x509v3_context(Some(&pki().ca.certificate), None);
    let extensions = [
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .unwrap(),
        SubjectAlternativeName::new()
            .email("posta-certificata@pec-a.test")
            .build(&context)
            .unwrap(),
        ExtendedKeyUsage::new().email_protection().build().unwrap(),
        AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&context)
            .unwrap(),
        SubjectKeyIdentifier::new().build(&context).unwrap(),
    ];
    for extension in extensions {
        builder.append_extension(extension).unwrap();
    }
    builder
        .sign(&pki().ca.key, MessageDigest::sha256())
        .unwrap();
    builder.build()
}

/// A certificate builder for `key` with `genuine`'s serial number, subject, issuer
/// and validity: it answers to the genuine one's IssuerAndSerialNumber.
pub fn same_names(genuine: &X509Ref, key: &PKey<Private>) -> X509Builder {
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_serial_number(genuine.serial_number()).unwrap();
    builder.set_subject_name(genuine.subject_name()).unwrap();
    builder.set_issuer_name(genuine.issuer_name()).unwrap();
    builder.set_not_before(genuine.not_before()).unwrap();
    builder.set_not_after(genuine.not_after()).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
}
