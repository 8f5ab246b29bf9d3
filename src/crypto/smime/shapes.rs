//! SignedData reshaped after signing: certificates repeated and reordered, SignerInfos
//! repeated, signed attributes repeated or given more values. The verifier's tests
//! (`verify/odd.rs`) and the structure-aware fuzz target (`smime_shapes`) build their
//! odd signatures with these edits, so the fuzzer starts from the shapes the tests pin
//! down and explores around them.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::CertificateSet;
use cms::signed_data::SignedData;
use cms::signed_data::SignerInfos;
use x509_cert::attr::Attribute;
use x509_cert::der::Any;
use x509_cert::der::Decode;
use x509_cert::der::Encode;
use x509_cert::der::asn1::OctetString;
use x509_cert::der::asn1::SetOfVec;
use x509_cert::der::asn1::UtcTime;

/// A DER SignedData could not be decoded, edited into a valid SET OF, or encoded.
pub type ShapeError = x509_cert::der::Error;

/// `der` (a ContentInfo holding SignedData) with its SignedData changed by `edit`.
pub fn edit_signed_data(
    der: &[u8],
    edit: impl FnOnce(&mut SignedData) -> Result<(), ShapeError>,
) -> Result<Vec<u8>, ShapeError> {
    let info = ContentInfo::from_der(der)?;
    let mut signed: SignedData = info.content.decode_as()?;
    edit(&mut signed)?;
    ContentInfo {
        content_type: info.content_type,
        content: Any::encode_from(&signed)?,
    }
    .to_der()
}

/// The signed attributes of the SignerInfo at `index` changed by `edit`; nothing
/// happens when there is no such SignerInfo or it has no signed attributes.
pub fn edit_signed_attributes(
    signed: &mut SignedData,
    index: usize,
    edit: impl FnOnce(&mut Vec<Attribute>) -> Result<(), ShapeError>,
) -> Result<(), ShapeError> {
    let mut infos = signed.signer_infos.0.clone().into_vec();
    let Some(info) = infos.get_mut(index) else {
        return Ok(());
    };
    let Some(attributes) = info.signed_attrs.clone() else {
        return Ok(());
    };
    let mut attributes = attributes.into_vec();
    edit(&mut attributes)?;
    info.signed_attrs = Some(SetOfVec::try_from(attributes)?);
    signed.signer_infos = SignerInfos(SetOfVec::try_from(infos)?);
    Ok(())
}

/// A copy of the SignerInfo at `index` added, its signature's first byte XORed with
/// `flip` (0 keeps it, which DER's SET OF refuses as a duplicate).
pub fn add_signer_copy(signed: &mut SignedData, index: usize, flip: u8) -> Result<(), ShapeError> {
    let mut infos = signed.signer_infos.0.clone().into_vec();
    let Some(mut copy) = infos.get(index).cloned() else {
        return Ok(());
    };
    let mut signature = copy.signature.as_bytes().to_vec();
    if let Some(first) = signature.first_mut() {
        *first ^= flip;
    }
    copy.signature = OctetString::new(signature)?;
    infos.push(copy);
    signed.signer_infos = SignerInfos(SetOfVec::try_from(infos)?);
    Ok(())
}

/// The embedded certificates replaced by the ones at `picks` (indices into the
/// present ones, modulo their number; repeats allowed). DER sorts a SET OF, so the
/// order on the wire is changed with [`swapped`] instead.
pub fn pick_certificates(signed: &mut SignedData, picks: &[u8]) -> Result<(), ShapeError> {
    let present: Vec<CertificateChoices> = signed
        .certificates
        .as_ref()
        .map(|set| set.0.as_slice().to_vec())
        .unwrap_or_default();
    if present.is_empty() {
        return Ok(());
    }
    let picked: Vec<CertificateChoices> = picks
        .iter()
        .filter_map(|&pick| present.get(usize::from(pick) % present.len()).cloned())
        .collect();
    signed.certificates = Some(CertificateSet(SetOfVec::try_from(picked)?));
    Ok(())
}

/// `der` with the DER of `first` and `second`, adjacent in that order, swapped; `None`
/// when they are not adjacent there.
pub fn swapped(der: &[u8], first: &[u8], second: &[u8]) -> Option<Vec<u8>> {
    let pair = [first, second].concat();
    let at = der.windows(pair.len()).position(|window| window == pair)?;
    Some([&der[..at], second, first, &der[at + pair.len()..]].concat())
}

/// A signing-time attribute value (UTCTime) for midnight, 1 January of `year`
/// (1970–2049).
pub fn signing_time_value(year: u16) -> Result<Any, ShapeError> {
    let years = u64::from(year.clamp(1970, 2049) - 1970);
    // Whole days up to 1 January of the year: 365 a year plus one per leap day passed.
    let days = years * 365 + (years + 1) / 4;
    let utc = UtcTime::from_unix_duration(std::time::Duration::from_secs(days * 86_400))?;
    Any::encode_from(&utc)
}

/// A ContentInfo whose SignedData lists `n` distinct digest algorithms in descending
/// order, the worst case of the insertion sort RustCrypto's `der` runs on every SET OF
/// it decodes, and has no signer: what a stranger sends to make a verifier sort
/// ([`crate::crypto::bounds`]).
pub fn unsorted_set_signature(n: u32) -> Result<Vec<u8>, ShapeError> {
    use x509_cert::der::Tag;
    use x509_cert::der::oid::ObjectIdentifier;
    use x509_cert::spki::AlgorithmIdentifierOwned;

    let mut algorithms = (0..n)
        .map(|i| {
            let oid = ObjectIdentifier::new(&format!("1.2.3.{i}"))?;
            AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            }
            .to_der()
        })
        .collect::<Result<Vec<_>, _>>()?;
    algorithms.sort_unstable_by(|a, b| b.cmp(a));
    let data = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1").to_der()?;
    let signed = [
        1u8.to_der()?,
        tlv(Tag::Set, &algorithms.concat())?,
        tlv(Tag::Sequence, &data)?,
        tlv(Tag::Set, &[])?,
    ];
    ContentInfo {
        content_type: ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2"),
        content: Any::from_der(&tlv(Tag::Sequence, &signed.concat())?)?,
    }
    .to_der()
}

/// `value` with the header of `tag`, as written by hand where the encoder would sort.
fn tlv(tag: x509_cert::der::Tag, value: &[u8]) -> Result<Vec<u8>, ShapeError> {
    use x509_cert::der::Header;
    use x509_cert::der::Length;
    let mut out = Header::new(tag, Length::try_from(value.len())?)?.to_der()?;
    out.extend_from_slice(value);
    Ok(out)
}
