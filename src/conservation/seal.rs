//! Detached CMS signatures in the CAdES-BES profile: OpenSSL's `CMS_CADES` flag (no
//! named constant in rust-openssl) adds the signing-certificate-v2 attribute
//! (RFC 5035) to the usual contentType, signingTime and messageDigest.

use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use crate::conservation::ConservationError;
use crate::crypto::identity::Signer;

/// Why a detached signature does not hold.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The bytes are not a DER CMS structure.
    #[error("not CMS: {0}")]
    NotCms(#[source] openssl::error::ErrorStack),
    /// The trust anchors could not be set up.
    #[error("trust anchors: {0}")]
    Anchors(#[source] openssl::error::ErrorStack),
    /// The signature, or the signer's chain to the anchors, does not verify.
    #[error("signature does not verify: {0}")]
    Signature(#[source] openssl::error::ErrorStack),
}

/// OpenSSL's `CMS_CADES` (openssl/cms.h, since 3.0).
const CMS_CADES: u32 = 0x10_0000;

/// A detached CAdES-BES signature (DER) over exactly `data`.
pub fn sign(signer: &Signer, data: &[u8]) -> Result<Vec<u8>, ConservationError> {
    let mut chain = Stack::new()?;
    for certificate in signer.chain() {
        chain.push(certificate.clone())?;
    }
    let flags = CMSOptions::DETACHED | CMSOptions::BINARY | CMSOptions::from_bits_retain(CMS_CADES);
    let cms = CmsContentInfo::sign(
        Some(signer.certificate()),
        Some(signer.private_key()),
        Some(&chain),
        Some(data),
        flags,
    )?;
    Ok(cms.to_der()?)
}

/// Verifies a detached signature over `data`. With `anchors`, the signer certificate
/// must chain to one of them; without, only the signature itself is checked.
pub fn verify(signature: &[u8], data: &[u8], anchors: &[X509]) -> Result<(), SealError> {
    let mut cms = CmsContentInfo::from_der(signature).map_err(SealError::NotCms)?;
    let mut store = X509StoreBuilder::new().map_err(SealError::Anchors)?;
    for anchor in anchors {
        store.add_cert(anchor.clone()).map_err(SealError::Anchors)?;
    }
    let store = store.build();
    let mut flags = CMSOptions::BINARY;
    if anchors.is_empty() {
        flags |= CMSOptions::NO_SIGNER_CERT_VERIFY;
    }
    cms.verify(None, Some(&store), Some(data), None, flags)
        .map_err(SealError::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conservation::testing::pki;

    #[test]
    fn signs_and_verifies_detached() {
        let pki = pki();
        let signature = sign(&pki.signer, b"index").unwrap();
        verify(
            &signature,
            b"index",
            std::slice::from_ref(&pki.ca.certificate),
        )
        .unwrap();
        verify(&signature, b"index", &[]).unwrap();
        assert!(verify(&signature, b"other", &[]).is_err());
        assert!(verify(b"junk", b"index", &[]).is_err());
    }
}
