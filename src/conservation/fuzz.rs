//! One entry point over every conservation parser of untrusted bytes (an exported
//! package is untrusted input to `verify-package`): the PIndex check, the DER reader,
//! TimeStampReq and TSTInfo parsing. It must return normally for any input; the test
//! below mutates real inputs byte by byte. (A libFuzzer target can call it too.)

use crate::conservation::der;
use crate::conservation::pindex;
use crate::conservation::tsa;

/// Runs every parser on `data`.
#[doc(hidden)]
pub fn parsers(data: &[u8]) {
    let _ = pindex::check(data);
    let _ = tsa::parse_request(data);
    let _ = tsa::parse_tst_info(data);
    walk(data, 0);
}

/// Walks nested DER as deep as it goes (bounded).
fn walk(data: &[u8], depth: usize) {
    if depth > 32 {
        return;
    }
    let mut reader = der::Reader::new(data);
    while let Some(element) = reader.next_element() {
        if element.tag & 0x20 != 0 {
            walk(element.content, depth + 1);
        }
        if element.tag == der::OID {
            let _ = der::oid_text(element.content);
        }
    }
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
        });
        mutate(index.as_bytes());
    }
}
