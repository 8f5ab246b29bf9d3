//! Every message a provider emits: built, signed, compared with its golden file, checked
//! by the real `openssl smime -verify` and `xmllint --dtdvalid`, and read back.

use std::path::PathBuf;

use pecd::crypto::smime;
use pecd::crypto::validation::Validation;
use pecd::pec::compose::Facts;
use pecd::pec::compose::Unsigned;
use pecd::pec::envelope;
use pecd::pec::envelope::Original;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::kind::ReceiptType;
use pecd::pec::kind::RecipientType;
use pecd::pec::reader;
use pecd::pec::receipt;
use pecd::pec::receipt::DeliveryFailure;
use pecd::pec::receipt::Timeout;

use crate::support;
use crate::support::TestProvider;

/// One builder output to check.
pub struct Case {
    pub name: &'static str,
    pub signer: TestProvider,
    pub unsigned: Unsigned,
    pub kind: Kind,
}

/// The submission's facts as provider A certifies them.
pub fn facts() -> (Original, Facts) {
    let original = Original::parse(support::SUBMISSION).unwrap();
    let index = support::index();
    let id = pecd::pec::id::pec_msgid(&support::stamp(0, "").time, 1, "pec-a.test");
    let facts = original.facts("alice@pec-a.test", &id, |address| {
        if index.is_certified(address) {
            RecipientType::Certified
        } else {
            RecipientType::External
        }
    });
    (original, facts)
}

/// Every builder, with fixed stamps so the output is reproducible.
pub fn cases() -> Vec<Case> {
    let (a, b) = (TestProvider::a(), TestProvider::b());
    let (original, facts) = facts();
    let postacert = original.postacert(&facts);
    let mail_receipt_a = a.issuer.service_address();
    let ordinary = b"From: someone@example.com\r\nTo: bob@pec-b.test\r\nSubject: ciao\r\nMessage-ID: <plain-1@example.com>\r\n\r\nhello\r\n";
    let s = support::stamp;
    let mut breve_facts = facts.clone();
    breve_facts.subject = Some("Atto breve".into());
    vec![
        Case {
            name: "01-posta-certificata",
            kind: Kind::Transport,
            unsigned: envelope::transport(&a.issuer, &facts, &original, &s(1, "pec-a.test")),
            signer: TestProvider::a(),
        },
        Case {
            name: "02-accettazione",
            kind: Kind::Receipt(ReceiptKind::Acceptance),
            unsigned: receipt::acceptance(&a.issuer, &facts, &s(2, "pec-a.test")),
            signer: TestProvider::a(),
        },
        Case {
            name: "03-non-accettazione",
            kind: Kind::Receipt(ReceiptKind::NonAcceptance),
            unsigned: receipt::non_acceptance(
                &a.issuer,
                &facts,
                "destinatari in copia nascosta (Bcc) non ammessi",
                &s(3, "pec-a.test"),
            ),
            signer: TestProvider::a(),
        },
        Case {
            name: "04-non-accettazione-virus",
            kind: Kind::Receipt(ReceiptKind::NonAcceptance),
            unsigned: receipt::non_acceptance_virus(
                &a.issuer,
                &facts,
                "Eicar-Signature",
                &s(4, "pec-a.test"),
            ),
            signer: TestProvider::a(),
        },
        Case {
            name: "05-presa-in-carico",
            kind: Kind::Receipt(ReceiptKind::TakenInCharge),
            unsigned: receipt::taken_in_charge(
                &b.issuer,
                &facts,
                &["bob@pec-b.test".into(), "dave@pec-b.test".into()],
                &mail_receipt_a,
                &s(5, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "06-anomalia",
            kind: Kind::Anomaly,
            unsigned: envelope::anomaly(
                &b.issuer,
                ordinary,
                "messaggio non firmato da un gestore di posta certificata",
                &s(6, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "07-consegna-completa",
            kind: Kind::Receipt(ReceiptKind::Delivered),
            unsigned: receipt::delivered(
                &b.issuer,
                &facts,
                "bob@pec-b.test",
                ReceiptType::Full,
                &postacert,
                &s(7, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "08-consegna-breve",
            kind: Kind::Receipt(ReceiptKind::Delivered),
            unsigned: receipt::delivered(
                &b.issuer,
                &breve_facts,
                "bob@pec-b.test",
                ReceiptType::Short,
                &postacert,
                &s(8, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "09-consegna-sintetica",
            kind: Kind::Receipt(ReceiptKind::Delivered),
            unsigned: receipt::delivered(
                &b.issuer,
                &facts,
                "dave@pec-b.test",
                ReceiptType::Summary,
                &postacert,
                &s(9, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "10-errore-consegna",
            kind: Kind::Receipt(ReceiptKind::DeliveryError),
            unsigned: receipt::delivery_error(
                &b.issuer,
                &facts,
                "bob@pec-b.test",
                &DeliveryFailure::UnknownMailbox,
                &s(10, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "11-preavviso-12h",
            kind: Kind::Receipt(ReceiptKind::DeliveryWarning),
            unsigned: receipt::delivery_warning(
                &a.issuer,
                &facts,
                "bob@pec-b.test",
                Timeout::Warning12h,
                &s(11, "pec-a.test"),
            ),
            signer: TestProvider::a(),
        },
        Case {
            name: "12-avviso-24h",
            kind: Kind::Receipt(ReceiptKind::DeliveryWarning),
            unsigned: receipt::delivery_warning(
                &a.issuer,
                &facts,
                "bob@pec-b.test",
                Timeout::Final24h,
                &s(12, "pec-a.test"),
            ),
            signer: TestProvider::a(),
        },
        Case {
            name: "13-rilevazione-virus",
            kind: Kind::Receipt(ReceiptKind::VirusDetected),
            unsigned: receipt::virus_detected(
                &b.issuer,
                &facts,
                "bob@pec-b.test",
                "Eicar-Signature",
                &mail_receipt_a,
                &s(13, "pec-b.test"),
            ),
            signer: TestProvider::b(),
        },
        Case {
            name: "14-errore-consegna-virus",
            kind: Kind::Receipt(ReceiptKind::DeliveryError),
            unsigned: receipt::delivery_error_virus(
                &a.issuer,
                &facts,
                "bob@pec-b.test",
                "Eicar-Signature",
                &s(14, "pec-a.test"),
            ),
            signer: TestProvider::a(),
        },
    ]
}

/// The signed bytes of every case.
pub fn signed_cases() -> Vec<(Case, Vec<u8>)> {
    cases()
        .into_iter()
        .map(|case| {
            let signed = smime::sign(&case.signer.signer, &case.unsigned).unwrap();
            (case, signed)
        })
        .collect()
}

/// Masks the per-run values of a signed message: the outer boundary and the signature.
fn mask(signed: &[u8]) -> String {
    let text = String::from_utf8_lossy(signed).into_owned();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    let text = text.replace(&boundary, "{{BOUNDARY}}");
    let marker = "filename=\"smime.p7s\"\r\n\r\n";
    match (text.find(marker), text.rfind("\r\n--{{BOUNDARY}}--")) {
        (Some(start), Some(end)) if start + marker.len() <= end => {
            format!(
                "{}{{{{SIGNATURE}}}}{}",
                &text[..start + marker.len()],
                &text[end..]
            )
        }
        _ => text,
    }
}

#[test]
fn every_builder_matches_its_golden_file() {
    let dir = support::root().join("tests/data/messages");
    let daticert_dir = support::root().join("tests/data/daticert");
    let bless = std::env::var_os("PECD_BLESS").is_some();
    let mut failures = Vec::new();
    for (case, signed) in signed_cases() {
        if bless {
            // Seeds for the fuzzers that read whole messages.
            for target in ["message_reader", "smime_verify"] {
                let seeds = support::root().join("fuzz/corpus").join(target);
                std::fs::create_dir_all(&seeds).unwrap();
                std::fs::write(seeds.join(format!("{}.eml", case.name)), &signed).unwrap();
            }
        }
        let mut outputs = vec![(
            dir.join(format!("{}.expected.eml", case.name)),
            mask(&signed).into_bytes(),
        )];
        if let Some(xml) = support::daticert_bytes(&signed) {
            outputs.push((daticert_dir.join(format!("{}.xml", case.name)), xml));
        }
        for (expected_path, output) in outputs {
            if bless {
                std::fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
                std::fs::write(&expected_path, &output).unwrap();
                continue;
            }
            let expected = std::fs::read(&expected_path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run with PECD_BLESS=1 to create it)",
                    expected_path.display()
                )
            });
            if expected != output {
                let actual = expected_path.with_extension("actual");
                std::fs::write(&actual, &output).unwrap();
                failures.push(actual);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "output differs from the golden files; see {failures:?}"
    );
}

#[test]
fn every_builder_passes_openssl_and_xmllint() {
    let dir = tempfile::tempdir().unwrap();
    for (case, signed) in signed_cases() {
        let path = dir.path().join(format!("{}.eml", case.name));
        std::fs::write(&path, &signed).unwrap();
        let content = support::openssl_smime_verify(&path, &case.signer.ca());
        assert_eq!(
            content, case.unsigned.entity,
            "{}: openssl saw other signed bytes",
            case.name
        );
        if case.kind == Kind::Anomaly {
            assert!(
                support::daticert_bytes(&signed).is_none(),
                "an anomaly carries no daticert"
            );
            continue;
        }
        let xml: PathBuf = dir.path().join(format!("{}.daticert.xml", case.name));
        std::fs::write(&xml, support::daticert_bytes(&signed).unwrap()).unwrap();
        support::xmllint_daticert(&xml);
    }
}

#[test]
fn every_builder_reads_back_as_what_it_is() {
    let (original, facts) = facts();
    let (index, anchors) = (support::index(), support::anchors());
    for (case, signed) in signed_cases() {
        let read = reader::read(&signed).unwrap();
        assert_eq!(read.kind, case.kind, "{}", case.name);
        assert!(
            read.problems.is_empty(),
            "{}: {:?}",
            case.name,
            read.problems
        );
        let validation = Validation::check(
            &signed,
            Some(&anchors),
            Some(&index),
            jiff::Timestamp::now(),
        )
        .unwrap();
        assert!(
            validation.is_valid_pec(),
            "{}: {:?}",
            case.name,
            validation.reasons()
        );
        if case.kind == Kind::Anomaly {
            assert!(read.original.is_some());
            continue;
        }
        let daticert = read.daticert.unwrap();
        // What the builder says the message carries is what a reader parses back (the
        // provider relies on it instead of parsing its own notices).
        assert_eq!(
            case.unsigned.daticert.as_ref(),
            Some(&daticert),
            "{}",
            case.name
        );
        assert_eq!(daticert.header.sender, facts.sender, "{}", case.name);
        assert_eq!(
            daticert.header.recipients, facts.recipients,
            "{}",
            case.name
        );
        assert_eq!(daticert.data.id, facts.id, "{}", case.name);
        assert_eq!(daticert.data.msgid, facts.msgid, "{}", case.name);
        assert_eq!(read.reference_message_id, facts.msgid, "{}", case.name);
        assert_eq!(
            daticert.data.time,
            support::stamp(0, "").time,
            "{}",
            case.name
        );
        match case.kind {
            Kind::Transport => {
                assert_eq!(
                    read.original.as_deref(),
                    Some(&original.postacert(&facts)[..])
                );
                assert_eq!(daticert.data.receipt_type, Some(ReceiptType::Full));
            }
            Kind::Receipt(ReceiptKind::TakenInCharge) => {
                assert_eq!(
                    daticert.data.receptions,
                    ["bob@pec-b.test", "dave@pec-b.test"]
                );
            }
            Kind::Receipt(
                ReceiptKind::Delivered
                | ReceiptKind::DeliveryError
                | ReceiptKind::DeliveryWarning
                | ReceiptKind::VirusDetected,
            ) => {
                assert!(daticert.data.delivery.is_some(), "{}", case.name);
            }
            _ => {}
        }
    }
}

#[test]
fn delivery_receipts_carry_the_original_as_their_type_says() {
    let by_name = |name: &str| {
        signed_cases()
            .into_iter()
            .find(|(c, _)| c.name == name)
            .unwrap()
            .1
    };
    let full = reader::read(&by_name("07-consegna-completa")).unwrap();
    assert!(
        full.original
            .as_deref()
            .is_some_and(|o| o.windows(12).any(|w| w == b"JVBERi0xLjQK"))
    );
    let short = reader::read(&by_name("08-consegna-breve")).unwrap();
    let short_original = String::from_utf8(short.original.unwrap()).unwrap();
    assert!(short_original.contains("atto.pdf.hash") && !short_original.contains("JVBERi0xLjQK"));
    assert_eq!(
        short.daticert.unwrap().data.receipt_type,
        Some(ReceiptType::Short)
    );
    let summary = reader::read(&by_name("09-consegna-sintetica")).unwrap();
    assert!(summary.original.is_none());
}

#[test]
fn cc_recipients_get_summary_receipts() {
    let to = ["bob@pec-b.test".to_string()];
    let cc = ["dave@pec-b.test".to_string(), "bob@pec-b.test".to_string()];
    assert_eq!(
        receipt::effective_receipt_type(ReceiptType::Full, "dave@pec-b.test", &to, &cc),
        ReceiptType::Summary
    );
    assert_eq!(
        receipt::effective_receipt_type(ReceiptType::Short, "BOB@pec-b.test", &to, &cc),
        ReceiptType::Short
    );
    assert_eq!(
        receipt::effective_receipt_type(ReceiptType::Full, "eve@pec-b.test", &to, &cc),
        ReceiptType::Full
    );
}

#[test]
fn headers_follow_the_rules() {
    for (case, signed) in signed_cases() {
        let read = reader::read(&signed).unwrap();
        let from = read.from.clone().unwrap();
        assert_eq!(
            from,
            format!("posta-certificata@{}", case.signer.issuer.domain),
            "{}",
            case.name
        );
        let text = String::from_utf8_lossy(&signed);
        match case.kind {
            Kind::Transport => {
                assert!(
                    text.contains(
                        "From: \"Per conto di: alice@pec-a.test\" <posta-certificata@pec-a.test>"
                    ),
                    "{text}"
                );
                assert!(
                    text.contains("Reply-To: alice@pec-a.test")
                        || text.contains("Reply-To: <alice@pec-a.test>"),
                    "{text}"
                );
                assert!(text.contains("X-Trasporto: posta-certificata\r\n"));
                assert!(text.contains("X-TipoRicevuta: completa\r\n"));
            }
            Kind::Receipt(ReceiptKind::TakenInCharge | ReceiptKind::VirusDetected) => {
                assert_eq!(
                    read.to,
                    ["posta-certificata@pec-a.test"],
                    "{}: to the sender provider's mailReceipt",
                    case.name
                );
            }
            Kind::Receipt(_) => assert_eq!(
                read.to,
                ["alice@pec-a.test"],
                "{}: to the sender",
                case.name
            ),
            _ => {}
        }
        if case.kind == Kind::Receipt(ReceiptKind::VirusDetected) {
            assert_eq!(read.original_sender.as_deref(), Some("alice@pec-a.test"));
        }
        if case.name.contains("virus") && case.kind != Kind::Receipt(ReceiptKind::VirusDetected) {
            assert!(read.security_error, "{}: X-VerificaSicurezza", case.name);
        }
    }
}
