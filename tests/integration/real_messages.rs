//! The four real Aruba messages of 2014 (`../shared/fixtures/real/`): read, named by
//! kind, and verified: the signature holds although the certificate expired in 2017.

use pecd::crypto::validation::Validation;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::kind::ReceiptType;
use pecd::pec::reader;

use crate::support;

const FIXTURES: [(&str, Kind); 4] = [
    ("message1.eml", Kind::Transport),
    ("message2.eml", Kind::Transport),
    (
        "message2_accettazione.eml",
        Kind::Receipt(ReceiptKind::Acceptance),
    ),
    (
        "message2_consegna.eml",
        Kind::Receipt(ReceiptKind::Delivered),
    ),
];

fn fixture(name: &str) -> Option<Vec<u8>> {
    let shared = support::shared("real PEC fixtures")?;
    Some(std::fs::read(shared.join("fixtures/real/aruba-2014").join(name)).unwrap())
}

#[test]
fn real_messages_are_named_and_their_signatures_hold_with_expired_certificates() {
    for (name, kind) in FIXTURES {
        let Some(raw) = fixture(name) else { return };
        let validation = Validation::check(&raw, None, None, jiff::Timestamp::now()).unwrap();
        assert_eq!(validation.message.kind, kind, "{name}");
        assert!(
            validation.message.problems.is_empty(),
            "{name}: {:?}",
            validation.message.problems
        );
        let signature = validation.signature.as_ref().unwrap();
        assert!(signature.valid, "{name}: {:?}", signature.error);
        assert!(
            signature.expired,
            "{name}: the 2014 certificate expired in 2017"
        );
        assert_eq!(signature.digest.as_deref(), Some("sha1"), "{name}");
        let signer = signature.signer.as_ref().unwrap();
        assert_eq!(
            signer.email.as_deref(),
            Some("posta-certificata@pec.aruba.it"),
            "{name}"
        );
        assert_eq!(signature.valid_at_signing_time, Some(true), "{name}");
        assert!(
            validation.is_valid_pec(),
            "{name}: {:?}",
            validation.reasons()
        );
    }
}

#[test]
fn real_daticert_fields_are_extracted() {
    let Some(raw) = fixture("message2_consegna.eml") else {
        return;
    };
    let read = reader::read(&raw).unwrap();
    let daticert = read.daticert.unwrap();
    assert_eq!(daticert.data.issuer, "ARUBA PEC S.p.A.");
    assert_eq!(daticert.data.receipt_type, Some(ReceiptType::Full));
    assert_eq!(
        daticert.data.delivery.as_deref(),
        Some("thinkstudio@pec.it")
    );
    assert_eq!(
        daticert.data.id,
        "opec275.20141114182632.23219.07.1.48@pec.aruba.it"
    );
    assert_eq!(daticert.data.time.giorno(), "14/11/2014");
    assert!(
        read.original.is_some(),
        "a ricevuta completa carries postacert.eml"
    );

    let Some(raw) = fixture("message1.eml") else {
        return;
    };
    let read = reader::read(&raw).unwrap();
    assert_eq!(
        read.receipt_type,
        Some(ReceiptType::Full),
        "X-Tiporicevuta matched case-insensitively"
    );
    let original = String::from_utf8_lossy(read.original.as_deref().unwrap()).into_owned();
    assert!(
        original.contains("X-Riferimento-Message-ID"),
        "postacert.eml carries the client msgid"
    );
}

#[test]
fn a_real_signer_is_not_in_our_index() {
    let Some(raw) = fixture("message2.eml") else {
        return;
    };
    let validation =
        Validation::check(&raw, None, Some(&support::index()), jiff::Timestamp::now()).unwrap();
    let index = validation.index.as_ref().unwrap();
    assert!(!index.in_index);
    assert!(!validation.is_valid_pec());
    assert!(
        validation
            .reasons()
            .iter()
            .any(|r| r.contains("not in the providers index"))
    );
}
