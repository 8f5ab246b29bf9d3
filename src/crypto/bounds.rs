//! What a CMS signature from the network may be before it is decoded. RustCrypto's
//! `der` puts the elements of every SET OF it reads in order with an insertion sort
//! (re-encoding certificates to compare them), so one SET of many elements sent in
//! reverse order costs time that grows with the square of their number: a stranger's
//! signature of a few megabytes would hold a core for hours. A PEC signature has a few
//! of everything, and this walk over its TLVs, linear in its size, refuses any other
//! before anything sorts.

use x509_cert::der::Decode;
use x509_cert::der::Header;
use x509_cert::der::Reader;
use x509_cert::der::SliceReader;
use x509_cert::der::Tag;

/// The most bytes a signature may have: a gestore's certificate and its CA's, the
/// signed attributes and perhaps a time-stamp token come to a few kilobytes.
pub const MOST_BYTES: usize = 1 << 20;

/// The most elements of one set: a SET, or a set tagged implicitly (the embedded
/// certificates and CRLs, the signed and unsigned attributes).
pub const MOST_IN_A_SET: usize = 32;

/// The deepest nesting: a time-stamp token in an unsigned attribute nests a whole
/// SignedData, certificates included, some twenty levels down.
const DEEPEST: usize = 64;

/// Why a CMS structure is refused before it is decoded.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Larger than [`MOST_BYTES`].
    #[error("the CMS structure has {0} bytes, more than the {MOST_BYTES} a signature may have")]
    Size(usize),
    /// Not DER (perhaps BER, which only OpenSSL reads).
    #[error("the CMS structure is not DER: {0}")]
    NotDer(x509_cert::der::Error),
    /// Nested deeper than [`DEEPEST`].
    #[error("the CMS structure nests deeper than {DEEPEST} levels")]
    Depth,
    /// A set of more than [`MOST_IN_A_SET`] elements.
    #[error("a set in the CMS structure has {0} elements, more than {MOST_IN_A_SET}")]
    Set(usize),
}

/// Refuses DER larger than [`MOST_BYTES`], nested deeper than a signature is, or with a
/// set of more than [`MOST_IN_A_SET`] elements.
pub fn check(der: &[u8]) -> Result<(), Refusal> {
    check_size(der)?;
    elements(der, 0).map(|_| ())
}

/// Refuses a structure larger than [`MOST_BYTES`], in whatever encoding.
pub fn check_size(structure: &[u8]) -> Result<(), Refusal> {
    if structure.len() > MOST_BYTES {
        return Err(Refusal::Size(structure.len()));
    }
    Ok(())
}

/// How many elements `contents` holds, once each constructed one among them passed.
fn elements(contents: &[u8], depth: usize) -> Result<usize, Refusal> {
    if depth > DEEPEST {
        return Err(Refusal::Depth);
    }
    let mut reader = SliceReader::new(contents).map_err(Refusal::NotDer)?;
    let mut count = 0;
    while !reader.is_finished() {
        let header = Header::decode(&mut reader).map_err(Refusal::NotDer)?;
        let value = reader.read_slice(header.length).map_err(Refusal::NotDer)?;
        count += 1;
        if header.tag.is_constructed() {
            let inner = elements(value, depth + 1)?;
            if is_set(header.tag) && inner > MOST_IN_A_SET {
                return Err(Refusal::Set(inner));
            }
        }
    }
    Ok(count)
}

/// A SET, or what may be one tagged implicitly: SignedData and SignerInfo tag theirs
/// by context, and so do certificates their explicit fields, which hold one element.
fn is_set(tag: Tag) -> bool {
    tag == Tag::Set || tag.is_context_specific()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLV of `tag` around `value` (long-form lengths as DER wants them).
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        match len {
            0..=0x7f => out.push(len as u8),
            0x80..=0xff => out.extend([0x81, len as u8]),
            0x100..=0xffff => out.extend([0x82, (len >> 8) as u8, len as u8]),
            _ => out.extend([0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(value);
        out
    }

    /// A SET of `n` distinct OCTET STRINGs in descending order: the worst case of an
    /// insertion sort.
    fn reversed_set(tag: u8, n: usize) -> Vec<u8> {
        let elements: Vec<u8> = (0..n)
            .rev()
            .flat_map(|i| tlv(0x04, &(i as u32).to_be_bytes()))
            .collect();
        tlv(tag, &elements)
    }

    #[test]
    fn a_set_of_a_few_elements_passes_and_of_many_is_refused_wherever_it_nests() {
        assert!(check(&tlv(0x30, &reversed_set(0x31, MOST_IN_A_SET))).is_ok());
        for tag in [0x31, 0xa0, 0xa1] {
            let deep = tlv(0x30, &tlv(0x30, &reversed_set(tag, MOST_IN_A_SET + 1)));
            assert!(matches!(check(&deep), Err(Refusal::Set(33))));
        }
        // A SEQUENCE is read in one pass whatever its length (a CRL's revoked list).
        let mut sequence = reversed_set(0x31, 1000);
        sequence[0] = 0x30;
        assert!(check(&sequence).is_ok());
    }

    #[test]
    fn size_depth_and_broken_lengths_are_refused() {
        let big = tlv(0x04, &vec![0; MOST_BYTES]);
        assert!(matches!(check(&big), Err(Refusal::Size(_))));
        let deep = (0..=DEEPEST + 1).fold(Vec::new(), |inner, _| tlv(0x30, &inner));
        assert!(matches!(check(&deep), Err(Refusal::Depth)));
        let mut cut = tlv(0x30, &[0x04, 0x02, 0x01, 0x02]);
        cut.pop();
        assert!(matches!(check(&cut), Err(Refusal::NotDer(_))));
    }
}
