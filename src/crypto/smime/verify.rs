//! Verification of a detached PEC signature, reported as separate facts (pec.md §8
//! step 3, §9 "consequences"): does the signature cover the entity, who signed, which
//! digest, when, does the signer chain to an anchor, is the certificate inside its
//! validity period now and at signing time.
//!
//! RustCrypto `cms` reads the SignedData once and decides every fact: the signer's digest
//! algorithm, its signingTime attribute, and which embedded certificate is the signer.
//! That one certificate is then the only key the signature is checked with, on the fast
//! path or by OpenSSL's CMS code (`NOINTERN`: OpenSSL may not look for a signer of its
//! own), so "valid" and "who signed" are always facts about the same certificate. A
//! SignedData that leaves room for two readings is refused: several SignerInfos, several
//! embedded certificates matching the SignerInfo, a signed attribute present twice or
//! with several values, embedded content. The chain is checked separately against
//! [`Anchors`], ignoring time, so that expiry is reported only once, in
//! [`SignatureReport::expired`]. The index lookup (pec.md §8 step 2) is the caller's.

mod fast;
#[cfg(test)]
pub(crate) mod odd;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::OnceLock;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::EncapsulatedContentInfo;
use cms::signed_data::SignedData;
use cms::signed_data::SignerIdentifier;
use cms::signed_data::SignerInfo;
use jiff::Timestamp;
use openssl::asn1::Asn1Object;
use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::X509Ref;
use serde::Serialize;
use serde::Serializer;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::Encode;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use super::Anchors;
use crate::crypto::bounds;
use crate::crypto::identity::certificate_email;
use crate::crypto::identity::certificate_sha1_hex;
use crate::crypto::identity::hex;
use crate::crypto::identity::name_text;

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// What verifying one signature found. Each field is one fact; none implies another.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureReport {
    /// The signature verifies over the entity with the signer certificate's key,
    /// regardless of chain and time.
    pub valid: bool,
    /// The signer's digest algorithm, lowercase OpenSSL short name (`sha1`, `sha256`).
    pub digest: Option<String>,
    /// The certificate the signature names as its signer, when it is embedded.
    pub signer: Option<SignerCertificate>,
    /// The CMS signingTime attribute, if present (set by the signer, not proven).
    pub signing_time: Option<Timestamp>,
    /// Whether the signer certificate chains to an anchor, ignoring time.
    pub chain: ChainStatus,
    /// `now` is after the signer certificate's notAfter.
    pub expired: bool,
    /// `now` is before the signer certificate's notBefore.
    pub not_yet_valid: bool,
    /// Whether `signing_time` falls within the certificate's validity period; `None`
    /// without a signing time or a signer certificate.
    pub valid_at_signing_time: Option<bool>,
    /// Why `valid` is false: an unparsable signature, no signer certificate, a digest
    /// or signature mismatch.
    pub error: Option<String>,
}

/// The outcome of the chain check against [`Anchors`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ChainStatus {
    /// The signer certificate chains to an anchor.
    Trusted,
    /// It does not, or there was no signer certificate to check.
    Untrusted {
        /// OpenSSL's verification error, or why no check was possible.
        reason: String,
    },
}

/// The facts about a signer certificate a PEC check needs (pec.md §8 step 2).
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct SignerCertificate {
    /// Subject, `C=IT, O=…, CN=…` in certificate order.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// Serial number, uppercase hex as `openssl x509 -serial` prints it.
    pub serial: String,
    /// Lowercase hex SHA-1 of the DER, to look up in `providerCertificateHash`.
    pub sha1: String,
    /// Start of the validity period.
    pub not_before: Timestamp,
    /// End of the validity period.
    pub not_after: Timestamp,
    /// The SAN rfc822Name (`posta-certificata@<domain>`), if any.
    pub email: Option<String>,
    /// The certificate, DER (base64 when serialized).
    #[serde(serialize_with = "base64_bytes")]
    pub der: Vec<u8>,
}

/// Verifies the detached `signature_der` over `entity` and reports what holds, with
/// `now` for the validity period. Never panics and never fails: garbage input yields
/// `valid: false` with the reason in `error`.
///
/// A PEC signature has exactly one signer; a signature with several is reported as
/// not valid.
pub fn verify(
    entity: &[u8],
    signature_der: &[u8],
    anchors: &Anchors,
    now: Timestamp,
) -> SignatureReport {
    let mut report = SignatureReport {
        valid: false,
        digest: None,
        signer: None,
        signing_time: None,
        chain: ChainStatus::Untrusted {
            reason: String::from("no signer certificate to check"),
        },
        expired: false,
        not_yet_valid: false,
        valid_at_signing_time: None,
        error: None,
    };
    let (parsed, cms) = match parse(signature_der) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.error = Some(error);
            return report;
        }
    };
    report.digest = Some(parsed.digest);
    report.signing_time = parsed.signing_time;
    let Some((facts, signer)) = parsed.signer else {
        report.error = Some(String::from(
            "the signer certificate is not in the signature",
        ));
        return report;
    };
    report.expired = now > facts.not_after;
    report.not_yet_valid = now < facts.not_before;
    report.valid_at_signing_time = parsed
        .signing_time
        .map(|time| facts.not_before <= time && time <= facts.not_after);
    report.chain = anchors.chain_status(&signer, &parsed.certificates);
    report.signer = Some(facts);

    if fast::verifies(&parsed.signer_info, &parsed.content, entity, &signer) {
        report.valid = true;
        return report;
    }
    // Any other shape, or a mismatch: OpenSSL repeats the search for the signer, checks
    // the messageDigest attribute against the entity and the signature over the
    // attributes, and says what is wrong.
    let cms = match cms.map_or_else(|| CmsContentInfo::from_der(signature_der), Ok) {
        Ok(cms) => cms,
        Err(errors) => {
            report.error = Some(format!("not a CMS structure: {errors}"));
            return report;
        }
    };
    report.error = openssl_verdict(cms, entity, &signer).err();
    report.valid = report.error.is_none();
    report
}

/// The SignedData as RustCrypto reads it, with OpenSSL's reading when it took OpenSSL
/// to read it. RustCrypto reads DER, which nearly every gestore sends; OpenSSL also
/// reads BER (indefinite lengths, from some generators) and re-encodes it in DER.
/// What neither can parse is not a signature.
fn parse(signature_der: &[u8]) -> Result<(Parsed, Option<CmsContentInfo>), String> {
    // Nothing reads what is larger or shaped otherwise than a signature may be (BER
    // is not walked: OpenSSL reads it, and its DER is).
    match bounds::check(signature_der) {
        Ok(()) => {
            if let Ok(parsed) = Parsed::from_der(signature_der) {
                return Ok((parsed, None));
            }
        }
        Err(bounds::Refusal::NotDer(_)) => {}
        Err(refusal) => return Err(refusal.to_string()),
    }
    let cms = CmsContentInfo::from_der(signature_der)
        .map_err(|errors| format!("not a CMS structure: {errors}"))?;
    let der = cms
        .to_der()
        .map_err(|errors| format!("cannot re-encode the CMS structure: {errors}"))?;
    bounds::check(&der).map_err(|refusal| refusal.to_string())?;
    Ok((Parsed::from_der(&der)?, Some(cms)))
}

/// OpenSSL's verdict on the signature with `signer`'s key and no other: `NOINTERN`
/// keeps it from choosing a signer among the embedded certificates itself.
fn openssl_verdict(mut cms: CmsContentInfo, entity: &[u8], signer: &X509) -> Result<(), String> {
    let only_signer = Stack::new()
        .and_then(|mut stack| stack.push(signer.clone()).map(|()| stack))
        .map_err(|errors| format!("cannot hold the signer certificate: {errors}"))?;
    cms.verify(
        Some(&only_signer),
        None,
        Some(entity),
        None,
        CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY | CMSOptions::NOINTERN,
    )
    .map_err(|errors| format!("signature does not verify: {errors}"))
}

/// What RustCrypto `cms` reads from the SignedData.
struct Parsed {
    digest: String,
    signing_time: Option<Timestamp>,
    signer_info: SignerInfo,
    content: EncapsulatedContentInfo,
    signer: Option<(SignerCertificate, X509)>,
    certificates: Vec<X509>,
}

impl Parsed {
    fn from_der(der: &[u8]) -> Result<Parsed, String> {
        let info = ContentInfo::from_der(der)
            .map_err(|error| format!("not a CMS ContentInfo: {error}"))?;
        if info.content_type != SIGNED_DATA {
            return Err(format!(
                "CMS content is {}, not signedData",
                info.content_type
            ));
        }
        let signed: SignedData = info
            .content
            .decode_as()
            .map_err(|error| format!("not a CMS SignedData: {error}"))?;
        let signer_info = match signed.signer_infos.0.as_slice() {
            [one] => one,
            many => return Err(format!("{} signers instead of one", many.len())),
        };
        if signed.encap_content_info.econtent.is_some() {
            return Err(String::from(
                "the signature carries content of its own instead of signing the message part",
            ));
        }
        single_valued_attributes(signer_info)?;
        consistent_algorithms(&signed, signer_info)?;
        let embedded: Vec<&Certificate> = signed
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(certificate) => Some(certificate),
                CertificateChoices::Other(_) => None,
            })
            .collect();
        let signer = the_signer(signer_info, &embedded)?;
        let certificates = embedded
            .iter()
            .filter_map(|certificate| certificate.to_der().ok().and_then(decoded))
            .collect();
        Ok(Parsed {
            digest: digest_name(&signer_info.digest_alg.oid),
            signing_time: signing_time(signer_info),
            signer_info: signer_info.clone(),
            content: signed.encap_content_info,
            signer,
            certificates,
        })
    }
}

/// The one embedded certificate the SignerInfo names, if any: several that match
/// would let two readers disagree on who signed, so they are refused.
fn the_signer(
    signer_info: &SignerInfo,
    embedded: &[&Certificate],
) -> Result<Option<(SignerCertificate, X509)>, String> {
    let mut named = embedded
        .iter()
        .filter(|certificate| identifies(&signer_info.sid, certificate));
    let Some(certificate) = named.next() else {
        return Ok(None);
    };
    if named.next().is_some() {
        return Err(String::from(
            "several embedded certificates match the signer: which one signed is ambiguous",
        ));
    }
    let der = certificate
        .to_der()
        .map_err(|error| format!("cannot re-encode the signer certificate: {error}"))?;
    let x509 = decoded(der).ok_or("the signer certificate does not parse")?;
    Ok(Some((signer_facts(certificate, &x509), x509)))
}

/// An embedded certificate as OpenSSL's `X509`, decoded once per process: decoding one
/// is most of a verification's cost in OpenSSL 3.0, and every message from a provider
/// embeds the same few certificates. Bounded; cleared when full.
fn decoded(der: Vec<u8>) -> Option<X509> {
    const KEEP: usize = 1024;
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, X509>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = match cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(x509) = cache.get(&der) {
        return Some(x509.clone());
    }
    let x509 = X509::from_der(&der).ok()?;
    if cache.len() >= KEEP {
        cache.clear();
    }
    cache.insert(der, x509.clone());
    Some(x509)
}

/// Refuses signed attributes that could be read two ways: an attribute type present
/// twice, or one with several values (RFC 5652 §11 wants exactly one for contentType,
/// messageDigest and signingTime; PEC signers add nothing else that is multi-valued).
fn single_valued_attributes(signer_info: &SignerInfo) -> Result<(), String> {
    let attributes: Vec<_> = signer_info
        .signed_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .collect();
    for (at, attribute) in attributes.iter().enumerate() {
        if attributes[..at]
            .iter()
            .any(|seen| seen.oid == attribute.oid)
        {
            return Err(format!("signed attribute {} appears twice", attribute.oid));
        }
        if attribute.values.len() != 1 {
            return Err(format!(
                "signed attribute {} has {} values instead of one",
                attribute.oid,
                attribute.values.len()
            ));
        }
    }
    Ok(())
}

/// Refuses a SignerInfo whose parts name different things: a signature algorithm of
/// another digest than its digestAlgorithm, a digest the SignedData does not announce,
/// content other than data, or a contentType attribute other than the content's type
/// (RFC 5652 §5.3, §11.1).
fn consistent_algorithms(signed: &SignedData, signer_info: &SignerInfo) -> Result<(), String> {
    let digest = signer_info.digest_alg.oid;
    if fast::digest_of_signature(&signer_info.signature_algorithm.oid)
        .is_some_and(|named| named != digest)
    {
        return Err(String::from(
            "the signature algorithm names another digest than the signer's",
        ));
    }
    if !signed
        .digest_algorithms
        .iter()
        .any(|announced| announced.oid == digest)
    {
        return Err(String::from(
            "the signer's digest is not among the SignedData's digest algorithms",
        ));
    }
    if signed.encap_content_info.econtent_type != fast::DATA {
        return Err(String::from("the signed content is not of type data"));
    }
    let content_type = signer_info
        .signed_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .find(|attribute| attribute.oid == fast::CONTENT_TYPE);
    match (&signer_info.signed_attrs, content_type) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(String::from("the signed attributes lack contentType")),
        (Some(_), Some(attribute)) => {
            let named = attribute
                .values
                .get(0)
                .and_then(|value| value.decode_as::<ObjectIdentifier>().ok());
            if named == Some(fast::DATA) {
                Ok(())
            } else {
                Err(String::from("the contentType attribute is not data"))
            }
        }
    }
}

/// Whether `certificate` is the one the SignerInfo names, by issuer and serial or by
/// subject key identifier (RFC 5652 §5.3).
fn identifies(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    let tbs = &certificate.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(wanted) => tbs
            .extensions
            .iter()
            .flatten()
            .filter(|extension| extension.extn_id == SUBJECT_KEY_IDENTIFIER)
            .filter_map(|extension| {
                SubjectKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok()
            })
            .any(|found| found == *wanted),
    }
}

fn signer_facts(certificate: &Certificate, x509: &X509Ref) -> SignerCertificate {
    let validity = &certificate.tbs_certificate.validity;
    SignerCertificate {
        subject: name_text(x509.subject_name()),
        issuer: name_text(x509.issuer_name()),
        serial: serial_text(certificate.tbs_certificate.serial_number.as_bytes()),
        sha1: certificate_sha1_hex(x509),
        not_before: timestamp(validity.not_before),
        not_after: timestamp(validity.not_after),
        email: certificate_email(x509),
        der: x509.to_der().unwrap_or_default(),
    }
}

/// The digest as a lowercase OpenSSL short name, or the dotted OID when OpenSSL does
/// not know it.
fn digest_name(oid: &ObjectIdentifier) -> String {
    if let Some(name) = fast::digest_name(oid) {
        return name.to_owned();
    }
    let dotted = oid.to_string();
    Asn1Object::from_str(&dotted)
        .ok()
        .and_then(|object| object.nid().short_name().ok().map(str::to_ascii_lowercase))
        .unwrap_or(dotted)
}

fn signing_time(signer_info: &SignerInfo) -> Option<Timestamp> {
    let attribute = signer_info
        .signed_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .find(|attribute| attribute.oid == SIGNING_TIME)?;
    // Time is a CHOICE (UTCTime or GeneralizedTime), so it decodes from whole TLVs.
    let value = attribute.values.get(0)?.to_der().ok()?;
    let time = Time::from_der(&value).ok()?;
    Some(timestamp(time))
}

fn timestamp(time: Time) -> Timestamp {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    // X.509 times end in 9999, inside jiff's range; saturate rather than fail.
    Timestamp::from_second(seconds).unwrap_or(Timestamp::MAX)
}

/// Uppercase hex without the sign-padding zero byte DER adds to positive integers.
fn serial_text(bytes: &[u8]) -> String {
    let trimmed = match bytes {
        [0, next, ..] if *next >= 0x80 => &bytes[1..],
        _ => bytes,
    };
    hex(trimmed).to_ascii_uppercase()
}

fn base64_bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::sign_detached;
    use super::super::testing::aruba_2014;
    use super::super::testing::openssl_signed;
    use super::super::testing::pki;
    use super::*;
    use crate::crypto::identity::Signer;

    #[test]
    fn garbage_signatures_are_reported_never_panicked() {
        let anchors = Anchors::empty().unwrap();
        let good = sign_detached(&pki().signer, b"payload").unwrap();
        for garbage in [
            &b""[..],
            b"\x30\x80",
            b"not DER at all",
            &good[..good.len() / 2],
        ] {
            let report = verify(b"payload", garbage, &anchors, Timestamp::now());
            assert!(!report.valid);
            assert!(report.error.is_some());
            assert!(report.signer.is_none() && report.digest.is_none());
            assert!(matches!(report.chain, ChainStatus::Untrusted { .. }));
        }
    }

    #[test]
    fn signature_without_certificates_has_no_signer() {
        let der = openssl_signed(
            b"payload",
            CMSOptions::DETACHED | CMSOptions::BINARY | CMSOptions::CMS_NOCERTS,
        );
        let report = verify(
            b"payload",
            &der,
            &Anchors::empty().unwrap(),
            Timestamp::now(),
        );
        assert!(!report.valid);
        assert_eq!(report.digest.as_deref(), Some("sha256"));
        assert!(report.error.unwrap().contains("not in the signature"));
    }

    #[test]
    fn chain_certificates_travel_with_the_signature() {
        let leaf =
            crate::crypto::certs::signing_certificate(&pki().ca, "pec-a.test", "A", 2048).unwrap();
        let chain = vec![pki().ca.certificate.clone()];
        let signer = Signer::new(leaf.certificate, leaf.key, chain).unwrap();
        let der = sign_detached(&signer, b"payload").unwrap();
        let anchors = Anchors::from_certificates(vec![pki().ca.certificate.clone()]).unwrap();
        let report = verify(b"payload", &der, &anchors, Timestamp::now());
        assert!(report.valid, "{report:?}");
        assert_eq!(report.chain, ChainStatus::Trusted);
        assert_eq!(Parsed::from_der(&der).unwrap().certificates.len(), 2);
    }

    #[test]
    fn report_serializes_with_rfc3339_times_and_base64_der() {
        let der = sign_detached(&pki().signer, b"payload").unwrap();
        let report = verify(
            b"payload",
            &der,
            &Anchors::empty().unwrap(),
            Timestamp::now(),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["valid"], true);
        assert_eq!(json["chain"]["status"], "untrusted");
        let not_after = json["signer"]["not_after"].as_str().unwrap();
        assert!(not_after.parse::<Timestamp>().is_ok(), "{not_after}");
        assert!(json["signer"]["der"].as_str().unwrap().starts_with("MII"));
    }

    /// The 2014 chain is RSA-1024 leaf under an intermediate signed with SHA-1: with the
    /// embedded intermediate as anchor it must be trusted under OpenSSL 3, time aside.
    #[test]
    fn real_aruba_2014_chain_is_trusted_with_its_intermediate_as_anchor() {
        let Some(files) = aruba_2014() else { return };
        for file in files {
            let message = fs::read(&file).unwrap();
            let parts = super::super::split_signed(&message).unwrap();
            let der = CmsContentInfo::from_der(&parts.signature)
                .unwrap()
                .to_der()
                .unwrap();
            let parsed = Parsed::from_der(&der).unwrap();
            let intermediate = parsed
                .certificates
                .iter()
                .find(|cert| name_text(cert.subject_name()).contains("CN=DigitPA CA1"))
                .unwrap()
                .clone();
            let anchors = Anchors::from_certificates(vec![intermediate]).unwrap();
            let report = verify(&parts.entity, &parts.signature, &anchors, Timestamp::now());
            assert!(report.valid, "{file:?}: {report:?}");
            assert_eq!(report.chain, ChainStatus::Trusted, "{file:?}");
            assert!(report.expired);
        }
    }
}
