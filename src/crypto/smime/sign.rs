//! Signing: the detached CMS signature and the `multipart/signed` message around it
//! (RFC 6109 §2.1 and §4.3, RFC 5751 §3.4.3, pec.md §3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::rand::rand_bytes;
use openssl::stack::Stack;

use super::SmimeError;
use crate::crypto::identity::Signer;
use crate::crypto::identity::hex;
use crate::pec::compose::Unsigned;

mod template;

pub(crate) use template::Template;

/// The preamble real providers write before the first part (pec.md §3).
const PREAMBLE: &str = "This is an S/MIME signed message";
/// Header fields [`sign`] writes itself; a caller supplying them would produce a
/// message with two of each.
const RESERVED_HEADERS: [&str; 3] = ["MIME-Version", "Content-Type", "Content-Transfer-Encoding"];
/// Length of a base64 line in the signature part (RFC 2045 §6.8 maximum).
const BASE64_LINE: usize = 76;

/// Signs `message` and returns the complete `multipart/signed` message (RFC 5751
/// §3.4.3): `message.headers`, then `MIME-Version` and the `multipart/signed`
/// `Content-Type`, the preamble, the entity verbatim and `smime.p7s`. All lines end in
/// CRLF. The signature covers exactly `message.entity`.
pub fn sign(signer: &Signer, message: &Unsigned) -> Result<Vec<u8>, SmimeError> {
    for (name, value) in &message.headers {
        check_header(name, value)?;
    }
    let signature = sign_detached(signer, &message.entity)?;
    let boundary = boundary_for(&message.entity)?;
    let encoded = STANDARD.encode(&signature);

    // Assembled by hand rather than with mail-builder: the signed layout must be exact
    // (the entity byte for byte between the delimiters, our preamble, one known
    // Content-Type), and there is nothing here a builder would encode for us.
    let mut out = Vec::with_capacity(message.entity.len() + encoded.len() * 2 + 1024);
    for (name, value) in &message.headers {
        push_line(&mut out, &format!("{name}: {value}"));
    }
    push_line(&mut out, "MIME-Version: 1.0");
    // micalg names the digest OpenSSL 3 uses by default for RSA keys in CMS_sign;
    // the tests pin that the signature really is SHA-256.
    push_line(
        &mut out,
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";",
    );
    push_line(
        &mut out,
        &format!("\tmicalg=\"sha-256\"; boundary=\"{boundary}\""),
    );
    push_line(&mut out, "");
    push_line(&mut out, PREAMBLE);
    push_line(&mut out, "");
    push_line(&mut out, &format!("--{boundary}"));
    out.extend_from_slice(&message.entity);
    // This CRLF belongs to the delimiter (RFC 2046 §5.1.1), not to the entity.
    push_line(&mut out, "");
    push_line(&mut out, &format!("--{boundary}"));
    push_line(
        &mut out,
        "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"",
    );
    push_line(&mut out, "Content-Transfer-Encoding: base64");
    push_line(
        &mut out,
        "Content-Disposition: attachment; filename=\"smime.p7s\"",
    );
    push_line(&mut out, "");
    for line in encoded.as_bytes().chunks(BASE64_LINE) {
        out.extend_from_slice(line);
        push_line(&mut out, "");
    }
    push_line(&mut out, &format!("--{boundary}--"));
    Ok(out)
}

/// A detached CMS SignedData (DER) over exactly `data`: SHA-256 with RSA, signed
/// attributes (contentType, signingTime, messageDigest, smimeCapabilities), the signer
/// certificate and its chain included. Filled in from the identity's
/// [`Template`] when it has one, else made by OpenSSL's `CMS_sign`: the same DER but
/// for the signing time and the signature.
pub fn sign_detached(signer: &Signer, data: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let template = signer.template().get_or_init(|| Template::new(signer));
    if let Some(der) = template
        .as_ref()
        .and_then(|template| template.fill(signer, data, Timestamp::now()))
    {
        return Ok(der);
    }
    cms_sign(signer, data)
}

/// The signature of [`sign_detached`] made by OpenSSL. `BINARY` keeps OpenSSL from
/// canonicalizing line endings, so what is signed is what the caller passed.
fn cms_sign(signer: &Signer, data: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let mut chain = Stack::new().map_err(SmimeError::Sign)?;
    for certificate in signer.chain() {
        chain.push(certificate.clone()).map_err(SmimeError::Sign)?;
    }
    let cms = CmsContentInfo::sign(
        Some(signer.certificate()),
        Some(signer.private_key()),
        Some(&chain),
        Some(data),
        CMSOptions::DETACHED | CMSOptions::BINARY,
    )
    .map_err(SmimeError::Sign)?;
    cms.to_der().map_err(SmimeError::Sign)
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A field name is printable ASCII without a colon; a value may contain CRLF only as
/// folding (CRLF followed by a space or tab), and no NUL.
fn check_header(name: &str, value: &str) -> Result<(), SmimeError> {
    if RESERVED_HEADERS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        return Err(SmimeError::ReservedHeader {
            name: name.to_owned(),
        });
    }
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    let bytes = value.as_bytes();
    let value_ok = bytes.iter().enumerate().all(|(at, &byte)| match byte {
        0 => false,
        b'\r' => {
            bytes.get(at + 1) == Some(&b'\n') && matches!(bytes.get(at + 2), Some(b' ' | b'\t'))
        }
        b'\n' => at > 0 && bytes[at - 1] == b'\r',
        _ => true,
    });
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(SmimeError::InvalidHeader {
            name: name.to_owned(),
        })
    }
}

/// A random boundary that does not occur in `entity` (RFC 2046 §5.1.1 requires the
/// delimiter not to appear inside the encapsulated parts). With 128 random bits a
/// collision is essentially impossible; the check makes it certain.
fn boundary_for(entity: &[u8]) -> Result<String, SmimeError> {
    for _ in 0..4 {
        let mut random = [0u8; 16];
        rand_bytes(&mut random).map_err(SmimeError::Sign)?;
        let boundary = format!("----pecd-{}", hex(&random));
        if !contains(entity, boundary.as_bytes()) {
            return Ok(boundary);
        }
    }
    Err(SmimeError::Boundary)
}

/// Whether `needle` occurs in `haystack`. Scans for the first byte and compares only
/// there: our boundaries start with `-`, which base64 bodies never contain, so this is
/// a single pass where comparing every window cost more than the signature itself.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .iter()
        .enumerate()
        .any(|(at, &byte)| byte == first && haystack[at + 1..].starts_with(rest))
}

#[cfg(test)]
mod tests {
    use super::super::testing::pki;
    use super::super::testing::unsigned;
    use super::*;

    #[test]
    fn header_injection_and_reserved_headers_are_refused() {
        let mut message = unsigned();
        message
            .headers
            .push(("Subject".into(), "x\r\nBcc: evil@example.com".into()));
        let error = sign(&pki().signer, &message).unwrap_err();
        assert!(matches!(error, SmimeError::InvalidHeader { .. }), "{error}");

        let mut message = unsigned();
        message.headers.push(("Bad Name".into(), "x".into()));
        assert!(matches!(
            sign(&pki().signer, &message),
            Err(SmimeError::InvalidHeader { .. })
        ));

        let mut message = unsigned();
        message
            .headers
            .push(("content-type".into(), "text/plain".into()));
        assert!(matches!(
            sign(&pki().signer, &message),
            Err(SmimeError::ReservedHeader { .. })
        ));
    }

    #[test]
    fn boundary_search_finds_only_whole_occurrences() {
        assert!(contains(b"ab----pecd-1234cd", b"----pecd-1234"));
        assert!(contains(b"----pecd-1234", b"----pecd-1234"));
        assert!(!contains(b"----pecd-123", b"----pecd-1234"));
        assert!(!contains(b"---pecd-1234", b"----pecd-1234"));
        assert!(contains(b"anything", b""));
        let boundary = boundary_for(&unsigned().entity).unwrap();
        assert!(boundary.starts_with("----pecd-") && boundary.len() == 41);
    }
}
