//! The usual PEC signature checked without OpenSSL's CMS code.
//!
//! Every gestore signs the same way: a detached SignedData, RSA PKCS #1 v1.5, signed
//! attributes carrying contentType and messageDigest (RFC 5652 §5.4, §11). For that
//! shape the check is two steps: the entity's digest equals messageDigest, and the RSA
//! signature covers the DER of the signed attributes. OpenSSL 3.0 spends most of a
//! verification decoding the CMS structure into its own objects, which this skips. It only ever says "verified"; anything else (another algorithm, no
//! signed attributes, a mismatch) goes to OpenSSL's `CMS_verify`, which decides and says
//! why, so the two paths cannot disagree about a signature that does not verify.

use cms::signed_data::EncapsulatedContentInfo;
use cms::signed_data::SignerInfo;
use openssl::hash::MessageDigest;
use openssl::hash::hash;
use openssl::pkey::Id;
use openssl::sign::Verifier;
use openssl::x509::X509Ref;
use x509_cert::der::Encode;
use x509_cert::der::Tag;
use x509_cert::der::Tagged;
use x509_cert::der::oid::ObjectIdentifier;

pub(super) const DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.1");
pub(super) const CONTENT_TYPE: ObjectIdentifier = oid("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = oid("1.2.840.113549.1.9.4");
const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");

/// The digests PEC signatures use: (OID, OpenSSL short name, the RSA signature
/// algorithm OID that names the same digest).
const DIGESTS: [(ObjectIdentifier, &str, ObjectIdentifier); 4] = [
    (oid("1.3.14.3.2.26"), "sha1", oid("1.2.840.113549.1.1.5")),
    (
        oid("2.16.840.1.101.3.4.2.1"),
        "sha256",
        oid("1.2.840.113549.1.1.11"),
    ),
    (
        oid("2.16.840.1.101.3.4.2.2"),
        "sha384",
        oid("1.2.840.113549.1.1.12"),
    ),
    (
        oid("2.16.840.1.101.3.4.2.3"),
        "sha512",
        oid("1.2.840.113549.1.1.13"),
    ),
];

/// An OID constant, checked at compile time.
const fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(dotted)
}

/// The OpenSSL short name of a digest PEC uses, without asking OpenSSL.
pub(super) fn digest_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    known(oid).map(|(_, name, _)| name)
}

/// The digest an RSA signature algorithm OID names, when it names one PEC uses.
pub(super) fn digest_of_signature(algorithm: &ObjectIdentifier) -> Option<ObjectIdentifier> {
    DIGESTS
        .iter()
        .find(|(_, _, rsa_with_digest)| rsa_with_digest == algorithm)
        .map(|(digest, _, _)| *digest)
}

fn known(digest: &ObjectIdentifier) -> Option<(ObjectIdentifier, &'static str, ObjectIdentifier)> {
    DIGESTS
        .iter()
        .copied()
        .find(|(known, _, _)| known == digest)
}

/// Whether the signature of `signer_info` over the detached `entity` verifies with the
/// key of `signer`, for the usual shape only; `false` means "ask OpenSSL".
pub(super) fn verifies(
    signer_info: &SignerInfo,
    content: &EncapsulatedContentInfo,
    entity: &[u8],
    signer: &X509Ref,
) -> bool {
    verify_usual(signer_info, content, entity, signer).unwrap_or(false)
}

fn verify_usual(
    signer_info: &SignerInfo,
    content: &EncapsulatedContentInfo,
    entity: &[u8],
    signer: &X509Ref,
) -> Option<bool> {
    if content.econtent.is_some() || content.econtent_type != DATA {
        return None;
    }
    let (_, name, rsa_with_digest) = known(&signer_info.digest_alg.oid)?;
    let algorithm = signer_info.signature_algorithm.oid;
    if algorithm != RSA_ENCRYPTION && algorithm != rsa_with_digest {
        return None;
    }
    let digest = MessageDigest::from_name(name)?;
    let attributes = signer_info.signed_attrs.as_ref()?;
    let single = |oid: ObjectIdentifier| {
        let mut found = attributes.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(attribute), None) if attribute.values.len() == 1 => attribute.values.get(0),
            _ => None,
        }
    };
    let content_type = single(CONTENT_TYPE)?;
    if content_type.tag() != Tag::ObjectIdentifier
        || ObjectIdentifier::from_bytes(content_type.value()).ok()? != DATA
    {
        return None;
    }
    let message_digest = single(MESSAGE_DIGEST)?;
    if message_digest.tag() != Tag::OctetString
        || *hash(digest, entity).ok()? != *message_digest.value()
    {
        return None;
    }
    // The signature covers the attributes as a DER SET OF (RFC 5652 §5.4), which
    // re-encoding a DER-decoded set gives back byte for byte.
    let signed = attributes.to_der().ok()?;
    let key = signer.public_key().ok()?;
    if key.id() != Id::RSA {
        return None;
    }
    let mut verifier = Verifier::new(digest, &key).ok()?;
    verifier.update(&signed).ok()?;
    verifier.verify(signer_info.signature.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use openssl::cms::CMSOptions;
    use openssl::cms::CmsContentInfo;

    use super::super::super::sign_detached;
    use super::super::super::testing::aruba_2014;
    use super::super::super::testing::openssl_signed;
    use super::super::super::testing::pki;
    use super::super::Parsed;
    use super::*;

    fn parsed(der: &[u8]) -> Parsed {
        Parsed::from_der(der).unwrap()
    }

    fn fast(der: &[u8], entity: &[u8]) -> bool {
        let parsed = parsed(der);
        let (_, signer) = parsed.signer.as_ref().unwrap();
        verifies(&parsed.signer_info, &parsed.content, entity, signer)
    }

    fn openssl(der: &[u8], entity: &[u8]) -> bool {
        let cms = CmsContentInfo::from_der(der).unwrap();
        let parsed = parsed(der);
        let (_, signer) = parsed.signer.as_ref().unwrap();
        super::super::openssl_verdict(cms, entity, signer).is_ok()
    }

    #[test]
    fn our_signatures_take_the_fast_path_and_a_changed_entity_does_not() {
        let der = sign_detached(&pki().signer, b"payload\r\n").unwrap();
        assert!(fast(&der, b"payload\r\n"));
        assert!(!fast(&der, b"payload\r\n\r\n"));
        assert!(!openssl(&der, b"payload\r\n\r\n"));
    }

    /// `der` with one bit flipped inside the single occurrence of `inside`.
    fn flipped(der: &[u8], inside: &[u8]) -> Vec<u8> {
        let at = der.windows(inside.len()).position(|w| w == inside).unwrap();
        let mut changed = der.to_vec();
        changed[at + inside.len() / 2] ^= 1;
        changed
    }

    #[test]
    fn a_changed_signature_or_message_digest_is_never_verified() {
        let der = sign_detached(&pki().signer, b"payload").unwrap();
        let signature = parsed(&der).signer_info.signature.as_bytes().to_vec();
        let bad_signature = flipped(&der, &signature);
        assert!(!fast(&bad_signature, b"payload"));
        assert!(!openssl(&bad_signature, b"payload"));
        let digest = hash(MessageDigest::sha256(), b"payload").unwrap();
        let bad_digest = flipped(&der, &digest);
        assert!(!fast(&bad_digest, b"payload"));
        assert!(!openssl(&bad_digest, b"payload"));
    }

    #[test]
    fn other_shapes_are_left_to_openssl() {
        // No signed attributes: the signature is over the content digest itself.
        let bare = openssl_signed(
            b"payload",
            CMSOptions::DETACHED | CMSOptions::BINARY | CMSOptions::NOATTR,
        );
        assert!(!fast(&bare, b"payload"));
        assert!(openssl(&bare, b"payload"));
        // Embedded content instead of detached is not a PEC signature at all.
        let attached = openssl_signed(b"payload", CMSOptions::BINARY);
        assert!(Parsed::from_der(&attached).is_err());
    }

    /// The real Aruba samples, signed by another gestore's software, take the fast
    /// path too, and it agrees with OpenSSL.
    #[test]
    fn real_aruba_signatures_take_the_fast_path() {
        let Some(files) = aruba_2014() else { return };
        for file in files {
            let message = fs::read(&file).unwrap();
            let parts = super::super::super::split_signed(&message).unwrap();
            let der = CmsContentInfo::from_der(&parts.signature)
                .unwrap()
                .to_der()
                .unwrap();
            assert!(openssl(&der, &parts.entity), "{file:?}");
            assert!(fast(&der, &parts.entity), "{file:?}");
            let mut changed = parts.entity.clone();
            changed.push(b'x');
            assert!(!fast(&der, &changed), "{file:?}");
        }
    }
}
