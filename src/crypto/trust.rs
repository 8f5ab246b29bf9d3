//! Loading the providers index from disk, plain or signed (RFC 6109 §4.5, spec pec.md §8).
//!
//! The index is distributed as LDIF signed in PKCS#7 (`.p7m`, `application/pkcs7-mime;
//! smime-type=signed-data`) and each provider keeps a local copy refreshed daily. The
//! copy is the root of trust for "is this message PEC?" (§7: tampering with certificates
//! or domains compromises the provider), so [`load_index`] verifies the signature before
//! reading a single LDIF line, then refuses an index whose certificates do not match
//! their own `providerCertificateHash` values, or that lists no provider at all.
//!
//! The LDIF syntax and the lookups live in [`crate::pec::ldif`] and
//! [`crate::pec::index`]; this module adds the signature and the file.

use std::io;
use std::path::Path;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkcs7::Pkcs7;
use openssl::pkcs7::Pkcs7Flags;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::X509NameRef;
use openssl::x509::store::X509Store;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::store::X509StoreRef;

use crate::pec::index::IndexError;
use crate::pec::index::ProvidersIndex;
use crate::pec::ldif::MAX_INPUT_BYTES;

/// The largest index file [`load_index_file`] reads: the LDIF limit, plus room for
/// base64 or PEM armour and the signature.
pub const MAX_INDEX_FILE_BYTES: u64 = (MAX_INPUT_BYTES as u64) * 3 / 2;

/// An index ready for use, and who signed it.
#[derive(Debug)]
pub struct LoadedIndex {
    /// The providers.
    pub index: ProvidersIndex,
    /// The signer's subject (`C=IT, O=…, CN=…`) when the file was a `.p7m`; `None` for
    /// plain LDIF. Callers that require a signed index check this.
    pub signed_by: Option<String>,
    /// The signature's signingTime attribute, when the file was a `.p7m` that has one:
    /// signed, so it orders the indexes one authority published.
    pub signed_at: Option<jiff::Timestamp>,
}

/// Why an index could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The bytes look like PKCS#7 (DER, PEM or base64) but do not decode as such.
    #[error("providers index: malformed PKCS#7: {0}")]
    Pkcs7(#[source] ErrorStack),
    /// A PKCS#7 structure of another type (enveloped, digested…).
    #[error("providers index: PKCS#7 is `{0}`, expected signed-data")]
    NotSignedData(String),
    /// The signature, or with anchors the signer's chain, does not verify; the content
    /// was not read. A detached signature (no embedded content) lands here too.
    #[error("providers index: signature does not verify: {0}")]
    IndexSignature(#[source] ErrorStack),
    /// The (verified) content is not a valid index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The index has no provider record: most likely a truncated download, and using
    /// it would make every PEC message look like ordinary mail.
    #[error("providers index lists no provider")]
    Empty,
    /// Certificates that do not match the record's hashes (see
    /// [`verify_certificate_hashes`]).
    #[error("providers index: certificates do not match their hashes: {}", .0.join("; "))]
    CertificateHash(Vec<String>),
    /// The file is larger than [`MAX_INDEX_FILE_BYTES`].
    #[error("providers index is {size} bytes, limit is {limit}")]
    TooLarge {
        /// The file size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Reading the file failed.
    #[error("cannot read the providers index: {0}")]
    Io(#[from] io::Error),
    /// Any of the above, for the file at `path`.
    #[error("{}: {source}", path.display())]
    File {
        /// The index file.
        path: PathBuf,
        /// What went wrong.
        source: Box<TrustError>,
    },
}

/// Loads an index from plain LDIF or a signed `.p7m` (DER, PEM `PKCS7`, or base64 DER).
///
/// For a `.p7m`, the signature is verified first, over the embedded content:
/// * with `anchors`, the signer's certificate chain must lead to one of them (OpenSSL
///   `PKCS7_verify`, S/MIME signing purpose);
/// * without `anchors`, only the signature's integrity is checked
///   (`PKCS7_NOVERIFY`): anyone can produce such a file, so this proves the content
///   was not altered since signing, not who signed it.
///
/// Plain LDIF is accepted unsigned, with `signed_by: None`.
pub fn load_index(bytes: &[u8], anchors: Option<&X509Store>) -> Result<LoadedIndex, TrustError> {
    let (content, signed_by, signed_at) = match open_p7m(bytes)? {
        Some(p7m) => {
            let (content, signer) = verify_p7m(&p7m, anchors)?;
            (content, Some(signer), signing_time(&p7m))
        }
        None => (bytes.to_vec(), None, None),
    };
    let index = ProvidersIndex::from_ldif(&content)?;
    if index.providers().is_empty() {
        return Err(TrustError::Empty);
    }
    let problems = verify_certificate_hashes(&index);
    if !problems.is_empty() {
        return Err(TrustError::CertificateHash(problems));
    }
    Ok(LoadedIndex {
        index,
        signed_by,
        signed_at,
    })
}

/// [`load_index`] on a file; every error names the path.
pub fn load_index_file(
    path: &Path,
    anchors: Option<&X509Store>,
) -> Result<LoadedIndex, TrustError> {
    let load = || {
        let size = std::fs::metadata(path)?.len();
        if size > MAX_INDEX_FILE_BYTES {
            return Err(TrustError::TooLarge {
                size,
                limit: MAX_INDEX_FILE_BYTES,
            });
        }
        load_index(&std::fs::read(path)?, anchors)
    };
    load().map_err(|source| TrustError::File {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Checks every provider certificate against the record's `providerCertificateHash`
/// values and returns the problems, one human-readable line each (empty: all good).
///
/// A certificate whose SHA-1 is not listed could never be found by the origin check
/// (a lookup by hash, then a comparison of the certificates), so it means a damaged or
/// tampered record; [`load_index`] refuses such an index. A listed hash without a
/// certificate is not reported: lookups by it find a record with nothing to compare,
/// and the origin check fails on its own.
pub fn verify_certificate_hashes(index: &ProvidersIndex) -> Vec<String> {
    let mut problems = Vec::new();
    for provider in index.providers() {
        let label = match &provider.unit {
            Some(unit) => format!("{} ({unit})", provider.name),
            None => provider.name.clone(),
        };
        for (position, der) in provider.certificates.iter().enumerate() {
            let number = position + 1;
            if X509::from_der(der).is_err() {
                problems.push(format!(
                    "{label}: providerCertificate #{number} is not a DER X.509 certificate"
                ));
            }
            let hash = sha1_hex(der);
            let listed = provider
                .certificate_hashes
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(&hash));
            if !listed {
                problems.push(format!(
                    "{label}: providerCertificate #{number} has SHA-1 {hash}, \
                     which is not among its providerCertificateHash values"
                ));
            }
        }
    }
    problems
}

/// SHA-1 of `der` as lowercase hex: the `providerCertificateHash` form.
pub fn sha1_hex(der: &[u8]) -> String {
    hex::encode(openssl::sha::sha1(der))
}

/// Recognizes the signed forms; `None` means "treat as LDIF".
fn open_p7m(bytes: &[u8]) -> Result<Option<Pkcs7>, TrustError> {
    // DER starts with a SEQUENCE tag; LDIF never starts with `0`.
    if bytes.first() == Some(&0x30) {
        return Pkcs7::from_der(bytes).map(Some).map_err(TrustError::Pkcs7);
    }
    let text = bytes.trim_ascii();
    if text.starts_with(b"-----BEGIN PKCS7-----") {
        return Pkcs7::from_pem(text).map(Some).map_err(TrustError::Pkcs7);
    }
    let is_base64 = |byte: &u8| byte.is_ascii_alphanumeric() || b"+/=".contains(byte);
    if text.is_empty() || !text.iter().all(|b| is_base64(b) || b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let compact: Vec<u8> = text.iter().copied().filter(is_base64).collect();
    match STANDARD.decode(compact) {
        Ok(der) if der.first() == Some(&0x30) => {
            Pkcs7::from_der(&der).map(Some).map_err(TrustError::Pkcs7)
        }
        // Not base64 DER after all: the LDIF parser will say what is wrong.
        _ => Ok(None),
    }
}

/// Verifies the signature and returns the embedded content and the signer's subject.
fn verify_p7m(p7m: &Pkcs7, anchors: Option<&X509Store>) -> Result<(Vec<u8>, String), TrustError> {
    let kind = p7m.type_().map(|object| object.nid());
    if kind != Some(Nid::PKCS7_SIGNED) {
        let name = kind
            .and_then(|nid| nid.long_name().ok())
            .unwrap_or("unknown");
        return Err(TrustError::NotSignedData(name.to_owned()));
    }
    let extra = Stack::<X509>::new().map_err(TrustError::IndexSignature)?;
    let empty: X509Store;
    let (store, flags): (&X509StoreRef, Pkcs7Flags) = match anchors {
        Some(anchors) => (anchors, Pkcs7Flags::empty()),
        None => {
            empty = X509StoreBuilder::new()
                .map_err(TrustError::IndexSignature)?
                .build();
            (&empty, Pkcs7Flags::NOVERIFY)
        }
    };
    let mut content = Vec::new();
    p7m.verify(&extra, store, None, Some(&mut content), flags)
        .map_err(TrustError::IndexSignature)?;
    let signers = p7m
        .signers(&extra, flags)
        .map_err(TrustError::IndexSignature)?;
    let subjects: Vec<String> = signers
        .iter()
        .map(|signer| subject(signer.subject_name()))
        .collect();
    Ok((content, subjects.join("; ")))
}

/// The signingTime signed attribute of the (verified) signature's first signer.
fn signing_time(p7m: &Pkcs7) -> Option<jiff::Timestamp> {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use x509_cert::der::Decode;
    use x509_cert::der::Encode;
    use x509_cert::der::oid::ObjectIdentifier;
    use x509_cert::time::Time;
    const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
    let der = p7m.to_der().ok()?;
    crate::crypto::bounds::check(&der).ok()?;
    let signed: SignedData = ContentInfo::from_der(&der).ok()?.content.decode_as().ok()?;
    let signer = signed.signer_infos.0.as_slice().first()?;
    let attribute = signer
        .signed_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .find(|attribute| attribute.oid == SIGNING_TIME)?;
    let time = Time::from_der(&attribute.values.get(0)?.to_der().ok()?).ok()?;
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).ok()?;
    jiff::Timestamp::from_second(seconds).ok()
}

/// `C=IT, O=…, CN=…`, in certificate order.
fn subject(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let kind = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_default();
            format!("{kind}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use openssl::x509::X509Builder;
    use openssl::x509::X509NameBuilder;

    use super::*;
    use crate::pec::index::Provider;

    const SAMPLE: &[u8] = include_bytes!("../../tests/data/index/two-providers.ldif");

    /// A throwaway RSA key and self-signed certificate.
    fn identity(common_name: &str) -> (PKey<Private>, X509) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("C", "IT").unwrap();
        name.append_entry_by_text("O", "Indice di prova").unwrap();
        name.append_entry_by_text("CN", common_name).unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
        builder.set_serial_number(&serial).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        builder.set_pubkey(&key).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        (key, builder.build())
    }

    fn provider_ldif(certificate: &X509) -> String {
        let der = certificate.to_der().unwrap();
        Provider {
            name: "Gestore di prova".to_owned(),
            unit: None,
            certificate_hashes: vec![sha1_hex(&der)],
            certificates: vec![der],
            mail_receipt: "posta-certificata@pec.prova.example".to_owned(),
            managed_domains: vec!["pec.prova.example".to_owned()],
            description: None,
            ldif_location_url: None,
        }
        .to_ldif()
    }

    fn sign(content: &[u8], key: &PKey<Private>, certificate: &X509, flags: Pkcs7Flags) -> Pkcs7 {
        let extra = Stack::new().unwrap();
        Pkcs7::sign(
            certificate,
            key,
            &extra,
            content,
            flags | Pkcs7Flags::BINARY,
        )
        .unwrap()
    }

    fn store(certificate: &X509) -> X509Store {
        let mut builder = X509StoreBuilder::new().unwrap();
        builder.add_cert(certificate.clone()).unwrap();
        builder.build()
    }

    #[test]
    fn signed_index_loads_from_der_pem_and_base64() {
        let (key, certificate) = identity("Indice PEC");
        let p7m = sign(
            provider_ldif(&certificate).as_bytes(),
            &key,
            &certificate,
            Pkcs7Flags::empty(),
        );
        let der = p7m.to_der().unwrap();
        let base64 = STANDARD.encode(&der).into_bytes();
        for bytes in [der, p7m.to_pem().unwrap(), base64] {
            let loaded = load_index(&bytes, None).unwrap();
            assert_eq!(
                loaded.signed_by.as_deref(),
                Some("C=IT, O=Indice di prova, CN=Indice PEC")
            );
            assert!(loaded.index.is_certified("mario@pec.prova.example"));
            let signed_at = loaded.signed_at.unwrap();
            assert!((jiff::Timestamp::now() - signed_at).get_seconds().abs() < 300);
        }
    }

    #[test]
    fn flipped_content_byte_is_an_index_signature_error() {
        let (key, certificate) = identity("Indice PEC");
        let p7m = sign(
            provider_ldif(&certificate).as_bytes(),
            &key,
            &certificate,
            Pkcs7Flags::empty(),
        );
        let mut der = p7m.to_der().unwrap();
        let at = der.windows(11).position(|w| w == b"mailReceipt").unwrap();
        der[at] ^= 0x01;
        assert!(matches!(
            load_index(&der, None),
            Err(TrustError::IndexSignature(_))
        ));
    }

    #[test]
    fn anchors_decide_whose_signature_is_trusted() {
        let (key, certificate) = identity("Indice PEC");
        let (_, stranger) = identity("Sconosciuto");
        let p7m = sign(
            provider_ldif(&certificate).as_bytes(),
            &key,
            &certificate,
            Pkcs7Flags::empty(),
        );
        let der = p7m.to_der().unwrap();
        assert!(load_index(&der, Some(&store(&certificate))).is_ok());
        let refused = load_index(&der, Some(&store(&stranger)));
        assert!(matches!(refused, Err(TrustError::IndexSignature(_))));
    }

    #[test]
    fn detached_signature_is_refused() {
        let (key, certificate) = identity("Indice PEC");
        let p7m = sign(
            provider_ldif(&certificate).as_bytes(),
            &key,
            &certificate,
            Pkcs7Flags::DETACHED,
        );
        let refused = load_index(&p7m.to_der().unwrap(), None);
        assert!(matches!(refused, Err(TrustError::IndexSignature(_))));
    }

    #[test]
    fn malformed_der_is_a_pkcs7_error() {
        assert!(matches!(
            load_index(&[0x30, 0x03, 0x01], None),
            Err(TrustError::Pkcs7(_))
        ));
    }

    #[test]
    fn plain_ldif_loads_unsigned_and_its_hashes_match() {
        let loaded = load_index(SAMPLE, None).unwrap();
        assert_eq!(loaded.signed_by, None);
        assert_eq!(loaded.index.providers().len(), 3);
        let alpha = &loaded.index.providers()[0];
        assert_eq!(
            sha1_hex(&alpha.certificates[0]),
            "8e9d30fbbb9ce5967d6a576c57ea309d95fede9d"
        );
        assert!(verify_certificate_hashes(&loaded.index).is_empty());
    }

    #[test]
    fn certificate_not_matching_its_hash_is_refused() {
        let (_, certificate) = identity("Gestore");
        let (_, other) = identity("Altro");
        let forged = provider_ldif(&certificate).replace(
            &sha1_hex(&certificate.to_der().unwrap()),
            &sha1_hex(&other.to_der().unwrap()),
        );
        let index = ProvidersIndex::from_ldif(forged.as_bytes()).unwrap();
        assert_eq!(verify_certificate_hashes(&index).len(), 1);
        let error = load_index(forged.as_bytes(), None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("Gestore di prova: providerCertificate #1"),
            "{error}"
        );
    }

    #[test]
    fn index_without_providers_is_refused() {
        let root = b"version: 1\n\ndn: o=postacert\nobjectClass: organization\no: postacert\n";
        assert!(matches!(load_index(root, None), Err(TrustError::Empty)));
        assert!(matches!(load_index(b"", None), Err(TrustError::Empty)));
    }

    #[test]
    fn file_errors_name_the_path() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("indice.ldif.p7m");
        let error = load_index_file(&path, None).unwrap_err();
        assert!(
            error.to_string().starts_with(&path.display().to_string()),
            "{error}"
        );

        std::fs::write(&path, b"dn: o=x\nbroken\n").unwrap();
        let error = load_index_file(&path, None).unwrap_err().to_string();
        assert!(
            error.contains("indice.ldif.p7m") && error.contains("line 2"),
            "{error}"
        );

        std::fs::write(&path, SAMPLE).unwrap();
        assert_eq!(
            load_index_file(&path, None)
                .unwrap()
                .index
                .providers()
                .len(),
            3
        );
    }
}
