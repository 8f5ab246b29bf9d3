//! Signatures made by filling in one that OpenSSL made.
//!
//! For a given identity, every detached signature of [`sign_detached`](super::sign_detached)
//! is the same DER but for three fixed-length values: signingTime (a UTCTime until
//! 2049), messageDigest (a SHA-256) and the RSA signature over the signed attributes
//! (as long as the modulus). So OpenSSL's `CMS_sign` makes one signature, once per
//! identity; each later signature copies it, writes the entity's digest and the time,
//! and signs the signed attributes with one RSA operation. `CMS_sign` spends a
//! noticeable share of a signature beyond that RSA operation (building the SignerInfo,
//! the capability list, algorithm lookups; docs/performance.md), and signing is most of
//! a PEC message's cost.
//!
//! The template is only used when its shape is exactly that: RSA key, SHA-256, one
//! signer, each value found once where it belongs, and a filled-in signature of a
//! second probe verifies with OpenSSL. Otherwise `CMS_sign` signs every time.

use std::ops::Range;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::sha::sha256;
use openssl::x509::store::X509StoreBuilder;
use x509_cert::der::Decode;
use x509_cert::der::Encode;
use x509_cert::der::Tag;
use x509_cert::der::Tagged;
use x509_cert::der::oid::ObjectIdentifier;

use crate::crypto::identity::Signer;

const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// The tag of the signed attributes inside a SignerInfo (`[0] IMPLICIT`) and the one
/// they are signed under (`SET OF`, RFC 5652 §5.4).
const IMPLICIT_ZERO: u8 = 0xa0;
const SET_OF: u8 = 0x31;
/// The length of a UTCTime value `YYMMDDHHMMSSZ`.
const UTC_TIME_LEN: usize = 13;

/// One signature by an identity, with where its changing values lie.
#[derive(Debug)]
pub(crate) struct Template {
    der: Vec<u8>,
    /// The signed attributes element, from its `[0]` tag to its end.
    attributes: Range<usize>,
    /// The signingTime UTCTime value (`YYMMDDHHMMSSZ`).
    time: Range<usize>,
    /// The messageDigest value.
    digest: Range<usize>,
    /// The signature value.
    signature: Range<usize>,
}

impl Template {
    /// Makes the template for `signer`, or `None` if its signatures are not of the
    /// shape this handles (see the module doc).
    pub(crate) fn new(signer: &Signer) -> Option<Template> {
        if signer.private_key().id() != Id::RSA {
            return None;
        }
        let der = openssl_signature(signer, b"pecd: signature template")?;
        let template = Template::locate(der, b"pecd: signature template")?;
        // A filled-in signature of other bytes must verify before any is trusted.
        let probe = b"pecd: signature template check";
        let filled = template.fill(signer, probe, Timestamp::now())?;
        verifies(&filled, probe).then_some(template)
    }

    /// Finds the changing values in `der`, a signature of `data`.
    fn locate(der: Vec<u8>, data: &[u8]) -> Option<Template> {
        let info = ContentInfo::from_der(&der).ok()?;
        let signed: SignedData = info.content.decode_as().ok()?;
        let [signer_info] = signed.signer_infos.0.as_slice() else {
            return None;
        };
        if signer_info.digest_alg.oid != SHA256 {
            return None;
        }
        let attributes = signer_info.signed_attrs.as_ref()?;
        let time = attributes
            .iter()
            .find(|attribute| attribute.oid == SIGNING_TIME)?
            .values
            .get(0)?;
        if time.tag() != Tag::UtcTime || time.value().len() != UTC_TIME_LEN {
            return None;
        }
        let mut encoded = attributes.to_der().ok()?;
        *encoded.first_mut()? = IMPLICIT_ZERO;
        let attributes = once(&der, &encoded)?;
        let at = |value: &[u8]| {
            let found = once(&der, value)?;
            (attributes.start <= found.start && found.end <= attributes.end).then_some(found)
        };
        Some(Template {
            time: at(time.value())?,
            digest: at(&sha256(data))?,
            signature: once(&der, signer_info.signature.as_bytes())?,
            attributes,
            der,
        })
    }

    /// The signature of `data` at `now`, or `None` when the template cannot express it
    /// (a time outside UTCTime's years, an RSA signature of another length).
    pub(crate) fn fill(&self, signer: &Signer, data: &[u8], now: Timestamp) -> Option<Vec<u8>> {
        let mut der = self.der.clone();
        der.get_mut(self.digest.clone())?
            .copy_from_slice(&sha256(data));
        der.get_mut(self.time.clone())?
            .copy_from_slice(utc_time(now)?.as_bytes());
        let mut attributes = der.get(self.attributes.clone())?.to_vec();
        *attributes.first_mut()? = SET_OF;
        let mut rsa =
            openssl::sign::Signer::new(MessageDigest::sha256(), signer.private_key()).ok()?;
        let signature = rsa.sign_oneshot_to_vec(&attributes).ok()?;
        let slot = der.get_mut(self.signature.clone())?;
        if slot.len() != signature.len() {
            return None;
        }
        slot.copy_from_slice(&signature);
        Some(der)
    }
}

/// OpenSSL's own detached signature of `data`, as [`sign_detached`](super::sign_detached)
/// asks for it.
fn openssl_signature(signer: &Signer, data: &[u8]) -> Option<Vec<u8>> {
    super::cms_sign(signer, data).ok()
}

/// Where `needle` occurs in `haystack`, if it occurs exactly once.
fn once(haystack: &[u8], needle: &[u8]) -> Option<Range<usize>> {
    if needle.is_empty() {
        return None;
    }
    let mut found = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at..at + needle.len());
    match (found.next(), found.next()) {
        (Some(range), None) => Some(range),
        _ => None,
    }
}

/// `now` as a UTCTime value (RFC 5652 §11.3: UTCTime for 1950 to 2049).
fn utc_time(now: Timestamp) -> Option<String> {
    let civil: DateTime = now.to_zoned(TimeZone::UTC).datetime();
    (1950..2050)
        .contains(&civil.year())
        .then(|| civil.strftime("%y%m%d%H%M%SZ").to_string())
}

/// Whether OpenSSL verifies `der` as a signature of `data` by the certificate it
/// carries (the signature alone: the chain is the verifier's business).
fn verifies(der: &[u8], data: &[u8]) -> bool {
    let Ok(mut cms) = CmsContentInfo::from_der(der) else {
        return false;
    };
    let Ok(store) = X509StoreBuilder::new().map(X509StoreBuilder::build) else {
        return false;
    };
    cms.verify(
        None,
        Some(&store),
        Some(data),
        None,
        CMSOptions::BINARY | CMSOptions::NO_SIGNER_CERT_VERIFY,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::pki;
    use super::*;

    #[test]
    fn filled_signatures_differ_from_openssl_only_in_time_and_signature() {
        let signer = &pki().signer;
        let template = Template::new(signer).expect("an RSA identity has a template");
        let data = b"Content-Type: text/plain\r\n\r\nbusta\r\n";
        let now = Timestamp::now();
        let filled = template.fill(signer, data, now).unwrap();
        let theirs = openssl_signature(signer, data).unwrap();
        assert_eq!(filled.len(), theirs.len());
        let differs: Vec<usize> = (0..filled.len())
            .filter(|&at| filled[at] != theirs[at])
            .collect();
        assert!(
            differs
                .iter()
                .all(|at| template.time.contains(at) || template.signature.contains(at)),
            "bytes outside signingTime and the signature differ"
        );
        assert!(verifies(&filled, data));
        assert!(!verifies(&filled, b"another entity"));
    }

    #[test]
    fn the_signing_time_is_the_given_utc_time() {
        let signer = &pki().signer;
        let template = Template::new(signer).unwrap();
        let at: Timestamp = "2026-12-02T06:30:05Z".parse().unwrap();
        let filled = template.fill(signer, b"x", at).unwrap();
        assert_eq!(&filled[template.time.clone()], b"261202063005Z");
        let late: Timestamp = "2050-01-01T00:00:00Z".parse().unwrap();
        assert!(template.fill(signer, b"x", late).is_none());
    }

    #[test]
    fn values_found_twice_or_not_at_all_give_no_template() {
        assert_eq!(once(b"abcab", b"ab"), None);
        assert_eq!(once(b"abc", b"x"), None);
        assert_eq!(once(b"abc", b"bc"), Some(1..3));
        assert_eq!(once(b"abc", b""), None);
        assert!(Template::locate(b"not DER".to_vec(), b"x").is_none());
    }
}
