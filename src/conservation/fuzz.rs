//! The entry points over the conservation parsers of untrusted bytes: what a TSA
//! answers (and an exported package carries: `verify-package` reads it offline), the
//! requests the built-in TSA reads, and the PIndex. Each must return normally for any
//! input; the test below mutates real inputs byte by byte, and the libFuzzer targets
//! `tsa_response` and `pindex` call them through `crate::fuzzing`.

use std::sync::OnceLock;

use openssl::x509::X509;

use crate::conservation::pindex;
use crate::conservation::tsa;

/// Every parser on `data`.
#[doc(hidden)]
pub fn parsers(data: &[u8]) {
    pindex_check(data);
    tsa_response(data);
}

/// The PIndex check of an exported package.
#[doc(hidden)]
pub fn pindex_check(data: &[u8]) {
    let _ = pindex::check(data);
}

/// A TimeStampResp as a TSA or a package holds it: the response, its token's
/// signature against a fixed certificate, the TSTInfo, and the request parser of the
/// built-in TSA.
#[doc(hidden)]
pub fn tsa_response(data: &[u8]) {
    if let Ok(token) = tsa::granted_token(data) {
        if let Some(certificate) = fixed_certificate() {
            let _ = tsa::verify(data, b"x", certificate, &[]);
        }
        let _ = tsa::parse_tst_info(&token);
    }
    let _ = tsa::parse_tst_info(data);
    let _ = tsa::parse_request(data);
}

/// A TSA certificate to check tokens against: made once (key generation is slow); any
/// certificate will do, the parsers are what is exercised.
fn fixed_certificate() -> Option<&'static X509> {
    static CERTIFICATE: OnceLock<Option<X509>> = OnceLock::new();
    CERTIFICATE
        .get_or_init(|| {
            tsa::Tsa::create(None)
                .ok()
                .map(|tsa| tsa.certificate().clone())
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::conservation::testing::pki;

    fn mutate(seed: &[u8]) {
        for cut in 0..seed.len().min(400) {
            parsers(&seed[..cut]);
        }
        let step = (seed.len() / 300).max(1);
        for at in (0..seed.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = seed.to_vec();
                bytes[at] ^= flip;
                parsers(&bytes);
            }
        }
    }

    #[test]
    fn mutated_real_inputs_never_panic() {
        let response = tsa::TimeSource::Builtin(pki().tsa.clone())
            .stamp(b"x", Timestamp::now())
            .unwrap();
        mutate(&response);
        mutate(&tsa::request(b"x", 7).unwrap());
        let index = pindex::write(&pindex::IndexInput {
            id: "i".into(),
            volume_id: "v".into(),
            volume_label: "l".into(),
            provider_name: "p".into(),
            mailbox: "m@x.test".into(),
            created: Timestamp::UNIX_EPOCH,
            groups: vec![pindex::IndexGroup {
                id: "g".into(),
                label: "l".into(),
                files: vec![],
            }],
        })
        .unwrap();
        mutate(index.as_bytes());
    }
}
