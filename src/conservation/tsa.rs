//! RFC 3161 time stamps: the request we send, where the answer comes from (the built-in
//! authority of [`authority`] or a configured TSA over HTTP(S), [`client`]), and the
//! check of a stored response (`openssl ts -verify` accepts what [`Tsa::respond`]
//! writes). The ASN.1 is `x509-tsp`'s and `cms`'s, plus the few pieces they lack
//! ([`asn1`]); the signature checks are OpenSSL's.

mod asn1;
mod authority;
mod client;

use der::Decode;
use der::Encode;
use der::asn1::Int;
use der::asn1::OctetString;
use der::asn1::Uint;
use jiff::Timestamp;
use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::X509VerifyResult;
use openssl::x509::store::X509StoreBuilder;
use x509_tsp::MessageImprint;
use x509_tsp::TimeStampReq;
use x509_tsp::TimeStampResp;
use x509_tsp::TspVersion;

pub use authority::DEV_POLICY;
pub use authority::Tsa;

/// Why a time stamp could not be obtained or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// An OpenSSL operation (key, certificate, signature) failed.
    #[error("crypto: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// A structure could not be encoded or decoded.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// The clock is before 1970.
    #[error("the clock is before 1970")]
    Clock,
    /// The TSA could not be reached or did not answer in HTTP.
    #[error("TSA {url}: {source}")]
    Http {
        /// The TSA.
        url: String,
        /// The cause.
        source: Box<ureq::Error>,
    },
    /// The TSA answered with another status than 200.
    #[error("TSA {url}: HTTP status {status}")]
    Status {
        /// The TSA.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request does not parse.
    #[error("not a TimeStampReq: {0}")]
    Request(#[source] der::Error),
    /// The response does not parse.
    #[error("not a TimeStampResp: {0}")]
    Response(#[source] der::Error),
    /// The response is larger, or has larger sets, than a time stamp has.
    #[error("not shaped like a time stamp: {0}")]
    Shape(#[source] crate::crypto::bounds::Refusal),
    /// The TSA refused (status other than granted).
    #[error("the TSA did not grant the time stamp ({0:?})")]
    NotGranted(cmpv2::status::PkiStatus),
    /// A granted response without a token.
    #[error("no token")]
    NoToken,
    /// The token's signature does not verify with the TSA certificate.
    #[error("token signature does not verify: {0}")]
    Signature(#[source] openssl::error::ErrorStack),
    /// The TSA certificate does not chain to the trusted CAs.
    #[error("the TSA certificate does not chain to the CA: {0}")]
    Chain(#[source] X509VerifyResult),
    /// The signed content is not a TSTInfo.
    #[error("TSTInfo does not parse: {0}")]
    TstInfo(#[source] der::Error),
    /// The imprint is not a SHA-256 (32 bytes).
    #[error("the imprint is not a SHA-256")]
    Digest,
    /// The imprint is of other data.
    #[error("the time stamp is over other data")]
    OtherData,
}

/// The most bytes a TSA's answer may have: tokens are a few kilobytes (a signature and
/// a certificate chain), and a hostile TSA must not make us allocate without limit.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// A TimeStampReq (DER) for the SHA-256 of `data`, asking for the TSA certificate.
pub fn request(data: &[u8], nonce: u64) -> Result<Vec<u8>, TsaError> {
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: asn1::algorithm(asn1::SHA256),
            hashed_message: OctetString::new(openssl::sha::sha256(data).to_vec())?,
        },
        req_policy: None,
        nonce: Some(Int::from(Uint::new(&nonce.to_be_bytes())?)),
        cert_req: true,
        extensions: None,
    };
    Ok(request.to_der()?)
}

/// What the built-in TSA takes from a request.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    /// The MessageImprint, copied into the TSTInfo.
    pub imprint: MessageImprint,
    /// The nonce, echoed.
    pub nonce: Option<Int>,
}

/// The MessageImprint and nonce of a TimeStampReq over a SHA-256 imprint.
pub(crate) fn parse_request(request: &[u8]) -> Result<Asked, TsaError> {
    let request = TimeStampReq::from_der(request).map_err(TsaError::Request)?;
    let imprint = request.message_imprint;
    if imprint.hash_algorithm.oid != asn1::SHA256 || imprint.hashed_message.as_bytes().len() != 32 {
        return Err(TsaError::Digest);
    }
    Ok(Asked {
        imprint,
        nonce: request.nonce,
    })
}

/// Where time stamps come from.
#[derive(Debug)]
pub enum TimeSource {
    /// The built-in TSA.
    Builtin(Tsa),
    /// A TSA at this `http://` or `https://` URL (application/timestamp-query).
    Remote(String),
}

impl TimeSource {
    /// A TimeStampResp (DER) over `data`.
    pub fn stamp(&self, data: &[u8], now: Timestamp) -> Result<Vec<u8>, TsaError> {
        let mut nonce = [0u8; 8];
        openssl::rand::rand_bytes(&mut nonce)?;
        let request = request(data, u64::from_be_bytes(nonce) >> 1)?;
        match self {
            TimeSource::Builtin(tsa) => tsa.respond(&request, now),
            TimeSource::Remote(url) => client::post(url, &request, MAX_RESPONSE_BYTES),
        }
    }
}

/// What a verified time stamp says.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Stamped {
    /// genTime, as written (`YYYYMMDDhhmmss[.f]Z`).
    pub time: String,
}

/// What a TSTInfo says about the stamped data.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct Imprinted {
    /// The SHA-256 of the data.
    pub digest: Vec<u8>,
    /// When.
    pub stamped: Stamped,
}

/// Checks a TimeStampResp over `data`: granted, signed by `tsa` (whose certificate must
/// chain to one of `anchors` when any are given), and its imprint is the SHA-256 of `data`.
pub fn verify(
    response: &[u8],
    data: &[u8],
    tsa: &X509,
    anchors: &[X509],
) -> Result<Stamped, TsaError> {
    let token = granted_token(response)?;
    let tst_info = signed_content(&token, tsa)?;
    if !anchors.is_empty() {
        chain_check(tsa, anchors)?;
    }
    let imprinted = parse_tst_info(&tst_info)?;
    if imprinted.digest != openssl::sha::sha256(data) {
        return Err(TsaError::OtherData);
    }
    Ok(imprinted.stamped)
}

/// The token (DER ContentInfo) of a granted TimeStampResp.
pub(crate) fn granted_token(response: &[u8]) -> Result<Vec<u8>, TsaError> {
    use cmpv2::status::PkiStatus;
    crate::crypto::bounds::check(response).map_err(TsaError::Shape)?;
    let response = TimeStampResp::from_der(response).map_err(TsaError::Response)?;
    match response.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => {}
        other => return Err(TsaError::NotGranted(other)),
    }
    Ok(response
        .time_stamp_token
        .ok_or(TsaError::NoToken)?
        .to_der()?)
}

/// The TSTInfo a token's signature covers, if `tsa` made that signature.
fn signed_content(token: &[u8], tsa: &X509) -> Result<Vec<u8>, TsaError> {
    let mut cms = CmsContentInfo::from_der(token).map_err(TsaError::Signature)?;
    let mut certs = Stack::new()?;
    certs.push(tsa.clone())?;
    let mut tst_info = Vec::new();
    cms.verify(
        Some(&certs),
        None,
        None,
        Some(&mut tst_info),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(TsaError::Signature)?;
    Ok(tst_info)
}

fn chain_check(certificate: &X509, anchors: &[X509]) -> Result<(), TsaError> {
    let mut store = X509StoreBuilder::new()?;
    for anchor in anchors {
        store.add_cert(anchor.clone())?;
    }
    let store = store.build();
    let chain = Stack::new()?;
    let mut context = openssl::x509::X509StoreContext::new()?;
    let ok = context.init(&store, certificate, &chain, |c| c.verify_cert())?;
    if ok {
        Ok(())
    } else {
        Err(TsaError::Chain(context.error()))
    }
}

/// The SHA-256 imprint and genTime of a TSTInfo.
pub(crate) fn parse_tst_info(bytes: &[u8]) -> Result<Imprinted, TsaError> {
    let info = asn1::StampedInfo::from_der(bytes).map_err(TsaError::TstInfo)?;
    if !asn1::is_oid(&info.policy) {
        return Err(TsaError::TstInfo(der::Tag::ObjectIdentifier.value_error()));
    }
    if info.message_imprint.hash_algorithm.oid != asn1::SHA256 {
        return Err(TsaError::Digest);
    }
    Ok(Imprinted {
        digest: info.message_imprint.hashed_message.as_bytes().to_vec(),
        stamped: Stamped {
            time: info.gen_time.as_str().to_string(),
        },
    })
}

#[cfg(test)]
mod tests;
