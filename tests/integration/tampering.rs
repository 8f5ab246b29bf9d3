//! Tampering: one flipped byte in the signed part, a swapped signer, a certificate not
//! in the index. Each is reported as what it is, never as something else.

use pecd::crypto::smime;
use pecd::crypto::validation::Validation;
use pecd::pec::index::ProvidersIndex;

use crate::builders;
use crate::support;
use crate::support::TestProvider;

fn envelope() -> (builders::Case, Vec<u8>) {
    builders::signed_cases().into_iter().next().unwrap()
}

fn check(raw: &[u8], index: &ProvidersIndex) -> Validation {
    Validation::check(
        raw,
        Some(&support::anchors()),
        Some(index),
        jiff::Timestamp::now(),
    )
    .unwrap()
}

#[test]
fn a_flipped_byte_in_the_signed_part_breaks_the_signature_only() {
    let (_, mut signed) = envelope();
    let at = signed.windows(9).position(|w| w == b"Buongiorn").unwrap();
    signed[at] = b'b';
    let validation = check(&signed, &support::index());
    let signature = validation.signature.as_ref().unwrap();
    assert!(!signature.valid);
    assert!(signature.signer.is_some(), "the signer is still reported");
    assert!(
        validation.index.as_ref().unwrap().in_index,
        "the signer is still listed"
    );
    assert!(
        validation
            .reasons()
            .iter()
            .any(|r| r.starts_with("bad signature")),
        "{:?}",
        validation.reasons()
    );
}

#[test]
fn a_swapped_signer_is_reported_as_a_domain_mismatch() {
    // B signs a message that claims to come from A's service address.
    let (case, _) = envelope();
    let forged = smime::sign(&TestProvider::b().signer, &case.unsigned).unwrap();
    let validation = check(&forged, &support::index());
    assert!(
        validation.signature.as_ref().unwrap().valid,
        "the signature itself is B's and verifies"
    );
    let index = validation.index.as_ref().unwrap();
    assert_eq!(index.provider.as_deref(), Some("Gestore B S.p.A."));
    assert!(!index.from_domain_managed);
    assert!(!validation.is_valid_pec());
    assert!(
        validation
            .reasons()
            .iter()
            .any(|r| r.contains("From domain is not managed"))
    );
}

#[test]
fn a_signature_moved_from_another_message_does_not_verify() {
    let cases = builders::signed_cases();
    let (first, second) = (&cases[0].1, &cases[1].1);
    let theirs = smime::split_signed(second).unwrap();
    let ours = smime::split_signed(first).unwrap();
    let report = smime::verify(
        &ours.entity,
        &theirs.signature,
        &support::anchors(),
        jiff::Timestamp::now(),
    );
    assert!(!report.valid);
    assert!(report.error.is_some());
}

#[test]
fn a_certificate_not_in_the_index_is_reported_as_unlisted() {
    let (_, signed) = envelope();
    let only_b =
        ProvidersIndex::from_ldif(TestProvider::b().provider().to_ldif().as_bytes()).unwrap();
    let validation = check(&signed, &only_b);
    assert!(validation.signature.as_ref().unwrap().valid);
    assert!(!validation.index.as_ref().unwrap().in_index);
    assert_eq!(
        validation.reasons(),
        ["the signer is not in the providers index"]
    );
}

#[test]
fn an_unsigned_pec_lookalike_is_not_valid() {
    let (case, _) = envelope();
    let mut raw = Vec::new();
    for (name, value) in &case.unsigned.headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"MIME-Version: 1.0\r\n");
    raw.extend_from_slice(&case.unsigned.entity);
    let validation = check(&raw, &support::index());
    assert!(validation.signature.is_none());
    assert!(
        validation
            .message
            .problems
            .iter()
            .any(|p| p.contains("not an S/MIME"))
    );
}
