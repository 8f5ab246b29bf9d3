//! daticert.xml: real-provider bytes, golden files, quirks, and precise rejections.

use std::path::Path;
use std::path::PathBuf;

use super::Daticert;
use super::DaticertError;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ErrorCode;
use crate::pec::kind::ReceiptKind;
use crate::pec::kind::ReceiptType;
use crate::pec::kind::RecipientType;

const ARUBA_CONSEGNA: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"avvenuta-consegna\" errore=\"nessuno\">\n    <intestazione>\n        <mittente>l.battistini@pec.it</mittente>\n        <destinatari tipo=\"certificato\">thinkstudio@pec.it</destinatari>\n        <risposte>l.battistini@pec.it</risposte>\n        <oggetto>test private</oggetto>\n    </intestazione>\n    <dati>\n        <gestore-emittente>ARUBA PEC S.p.A.</gestore-emittente>\n        <data zona=\"+0100\">\n            <giorno>14/11/2014</giorno>\n            <ora>18:26:32</ora>\n        </data>\n        <identificativo>opec275.20141114182632.23219.07.1.48@pec.aruba.it</identificativo>\n        <msgid>&lt;1415985992.182905912399292.346704098667155-openerp-private@elbati-Vostro-3550&gt;</msgid>\n        <ricevuta tipo=\"completa\" />\n        <consegna>thinkstudio@pec.it</consegna>\n    </dati>\n</postacert>\n";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/daticert")
}

#[test]
fn writes_exactly_what_aruba_writes() {
    let parsed = Daticert::parse(ARUBA_CONSEGNA.as_bytes()).unwrap();
    assert_eq!(parsed.kind, DaticertKind::Receipt(ReceiptKind::Delivered));
    assert_eq!(
        parsed.data.msgid.as_deref(),
        Some("<1415985992.182905912399292.346704098667155-openerp-private@elbati-Vostro-3550>")
    );
    assert_eq!(parsed.data.receipt_type, Some(ReceiptType::Full));
    assert_eq!(parsed.to_xml(), ARUBA_CONSEGNA);
}

#[test]
fn real_daticerts_round_trip_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real/aruba-2014");
    if !dir.exists() {
        eprintln!("SKIP real_daticerts_round_trip_byte_for_byte: ../shared is absent");
        return;
    }
    for name in [
        "message1.eml",
        "message2.eml",
        "message2_accettazione.eml",
        "message2_consegna.eml",
    ] {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let xml = parsed
            .parts
            .iter()
            .find(|p| mail_parser::MimeHeaders::attachment_name(*p) == Some("daticert.xml"))
            .map(|p| p.contents().to_vec())
            .unwrap();
        let daticert = Daticert::parse(&xml).unwrap();
        assert_eq!(daticert.to_xml().as_bytes(), &xml[..], "{name}");
    }
}

#[test]
fn golden_files_cover_all_eight_kinds_and_round_trip() {
    let mut kinds = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.retain(|p| p.extension().is_some_and(|e| e == "xml"));
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let daticert =
            Daticert::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            daticert.to_xml().as_bytes(),
            &bytes[..],
            "{}",
            path.display()
        );
        kinds.push(daticert.kind);
    }
    for kind in DaticertKind::ALL {
        assert!(kinds.contains(&kind), "no golden daticert of tipo {kind}");
    }
}

#[test]
fn accepts_what_real_providers_send() {
    let quirky = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!DOCTYPE postacert SYSTEM \"daticert.dtd\">\r\n\
<Postacert TIPO=\"Errore-Consegna\" Errore=\"NO-DEST\">\r\n <intestazione>\r\n  <mittente>  a@pec-a.test </mittente>\r\n\
  <destinatari tipo=\"ESTERNO\"><![CDATA[b@x.it]]></destinatari>\r\n  <destinatari>c@pec-b.test</destinatari>\r\n\
  <risposte>a@pec-a.test</risposte>\r\n  <oggetto>Caff&#232; &amp; &quot;cornetto&quot;</oggetto>\r\n </intestazione>\r\n\
 <dati>\r\n  <gestore-emittente>Gestore B</gestore-emittente>\r\n  <data zona=\"+01:00\"><giorno>1/3/2026</giorno><ora>9:05:00</ora></data>\r\n\
  <identificativo>id@pec-a.test</identificativo>\r\n  <!-- a comment -->\r\n  <consegna>c@pec-b.test</consegna>\r\n\
  <errore-esteso><![CDATA[5.1.1 - Gestore B - indirizzo non valido]]></errore-esteso>\r\n </dati>\r\n</Postacert>\r\n";
    let d = Daticert::parse(quirky.as_bytes()).unwrap();
    assert_eq!(d.kind, DaticertKind::Receipt(ReceiptKind::DeliveryError));
    assert_eq!(d.error, ErrorCode::NoDest);
    assert_eq!(d.header.sender, "a@pec-a.test");
    assert_eq!(d.header.recipients[0].kind, RecipientType::External);
    assert_eq!(d.header.recipients[0].address, "b@x.it");
    assert_eq!(d.header.recipients[1].kind, RecipientType::Certified);
    assert_eq!(d.header.subject.as_deref(), Some("Caffè & \"cornetto\""));
    assert_eq!(d.data.time.giorno(), "01/03/2026");
    assert_eq!(
        d.data.extended_error.as_deref(),
        Some("5.1.1 - Gestore B - indirizzo non valido")
    );
    assert_eq!(Daticert::parse(d.to_xml().as_bytes()).unwrap(), d);
}

#[test]
fn rejects_what_the_dtd_forbids_with_a_precise_error() {
    let valid = ARUBA_CONSEGNA;
    let cases: Vec<(String, DaticertError)> = vec![
        (
            valid.replace("avvenuta-consegna", "mancata-consegna"),
            DaticertError::InvalidValue {
                element: "postacert",
                attribute: "tipo",
                value: "mancata-consegna".into(),
            },
        ),
        (
            valid.replace(" tipo=\"avvenuta-consegna\"", ""),
            DaticertError::MissingAttribute {
                element: "postacert",
                attribute: "tipo",
            },
        ),
        (
            valid.replace("errore=\"nessuno\"", "errore=\"boh\""),
            DaticertError::InvalidValue {
                element: "postacert",
                attribute: "errore",
                value: "boh".into(),
            },
        ),
        (
            valid.replace("<mittente>l.battistini@pec.it</mittente>", ""),
            DaticertError::Missing {
                parent: "intestazione",
                element: "mittente",
            },
        ),
        (
            valid.replace(
                "        <destinatari tipo=\"certificato\">thinkstudio@pec.it</destinatari>\n",
                "",
            ),
            DaticertError::Missing {
                parent: "intestazione",
                element: "destinatari",
            },
        ),
        (
            valid.replace(
                "<consegna>thinkstudio@pec.it</consegna>",
                "<consegna>a</consegna><consegna>b</consegna>",
            ),
            DaticertError::Unexpected {
                parent: "dati",
                found: "consegna".into(),
            },
        ),
        (
            valid.replace(
                "<ricevuta tipo=\"completa\" />\n        <consegna>thinkstudio@pec.it</consegna>",
                "<consegna>thinkstudio@pec.it</consegna><ricevuta tipo=\"completa\" />",
            ),
            DaticertError::Unexpected {
                parent: "dati",
                found: "ricevuta".into(),
            },
        ),
        (
            valid.replace("tipo=\"completa\"", "tipo=\"lunga\""),
            DaticertError::InvalidValue {
                element: "ricevuta",
                attribute: "tipo",
                value: "lunga".into(),
            },
        ),
        (
            valid.replace("<dati>", "<dati><colore>blu</colore>"),
            DaticertError::Missing {
                parent: "dati",
                element: "gestore-emittente",
            },
        ),
        (
            valid.replace("</dati>", "<colore/></dati>"),
            DaticertError::Unexpected {
                parent: "dati",
                found: "colore".into(),
            },
        ),
        (
            valid.replace(" zona=\"+0100\"", ""),
            DaticertError::MissingAttribute {
                element: "data",
                attribute: "zona",
            },
        ),
        (
            valid.replace("<giorno>14/11/2014</giorno>", "<giorno>2014-11-14</giorno>"),
            DaticertError::Time(crate::pec::time::TimeError::Day("2014-11-14".into())),
        ),
        (
            valid.replace("<intestazione>", "<intestazione>testo"),
            DaticertError::TextNotAllowed("intestazione"),
        ),
        (
            valid
                .replace("<postacert", "<ricevuta")
                .replace("</postacert>", "</ricevuta>"),
            DaticertError::Root("ricevuta".into()),
        ),
        (
            valid.replace(
                "<oggetto>test private</oggetto>",
                "<oggetto>a &nbsp; b</oggetto>",
            ),
            DaticertError::UnknownEntity("nbsp".into()),
        ),
        (
            valid.replace("<dati>", "<dati colore=\"blu\">"),
            DaticertError::UnknownAttribute {
                element: "dati",
                attribute: "colore".into(),
            },
        ),
        (
            format!("{valid}<postacert/>"),
            DaticertError::TrailingContent,
        ),
    ];
    for (xml, expected) in cases {
        assert_eq!(
            Daticert::parse(xml.as_bytes()),
            Err(expected.clone()),
            "{expected}"
        );
    }
    assert_eq!(Daticert::parse(b"\xff\xfe"), Err(DaticertError::NotUtf8));
    assert!(matches!(
        Daticert::parse(b"<postacert tipo='accettazione'><intestazione>"),
        Err(DaticertError::Xml(_))
    ));
    assert!(matches!(
        Daticert::parse(&vec![b' '; super::MAX_DATICERT_BYTES + 1]),
        Err(DaticertError::TooLarge(_))
    ));
    let mismatched = ARUBA_CONSEGNA.replace("</mittente>", "</risposte>");
    assert!(matches!(
        Daticert::parse(mismatched.as_bytes()),
        Err(DaticertError::Xml(_))
    ));
    let deep = format!("<postacert>{}", "<a>".repeat(64));
    assert_eq!(
        Daticert::parse(deep.as_bytes()),
        Err(DaticertError::TooDeep)
    );
}

#[test]
fn quirky_real_world_spellings_parse_and_round_trip() {
    let dir = data_dir().join("quirks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let parsed = Daticert::parse(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            Daticert::parse(parsed.to_xml().as_bytes()).unwrap(),
            parsed,
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 7, "quirk files missing from {}", dir.display());
}

#[test]
fn every_prefix_of_a_document_is_refused_without_panic() {
    let bytes = ARUBA_CONSEGNA.as_bytes();
    for end in 0..bytes.len() - 1 {
        assert!(
            Daticert::parse(&bytes[..end]).is_err(),
            "prefix of {end} bytes parsed"
        );
    }
}

#[test]
fn characters_xml_cannot_carry_are_refused_raw_or_as_references() {
    for bad in [
        "\u{ffff}", "\u{fffe}", "\u{1}", "&#xFFFF;", "&#xFFFE;", "&#1;",
    ] {
        let xml = ARUBA_CONSEGNA.replacen("</mittente>", &format!("{bad}</mittente>"), 1);
        assert!(xml.contains(bad));
        match Daticert::parse(xml.as_bytes()) {
            Err(DaticertError::Xml(message)) => {
                assert!(message.contains("not allowed"), "{bad}: {message}")
            }
            other => panic!("{bad:?} accepted: {other:?}"),
        }
    }
    // What the writer is given with such a character comes out as a space, and parses.
    let mut d = Daticert::parse(ARUBA_CONSEGNA.as_bytes()).unwrap();
    d.header.subject = Some("a\u{ffff}b\u{1}c".into());
    let again = Daticert::parse(d.to_xml().as_bytes()).unwrap();
    assert_eq!(again.header.subject.as_deref(), Some("a b c"));
}

#[test]
fn a_carriage_return_given_as_a_reference_survives_the_round_trip() {
    // XML readers turn a literal CR into a line feed, so the writer must keep the
    // reference the sender used; written raw, the reparse read another sender.
    let xml = ARUBA_CONSEGNA.replacen("</mittente>", "&#13;x</mittente>", 1);
    let first = Daticert::parse(xml.as_bytes()).unwrap();
    assert!(
        first.header.sender.ends_with("\rx"),
        "{:?}",
        first.header.sender
    );
    let written = first.to_xml();
    assert!(written.contains("&#13;x</mittente>"), "{written}");
    assert_eq!(Daticert::parse(written.as_bytes()).unwrap(), first);
    // A literal CR inside text reads as the line feed XML makes of it.
    let raw = ARUBA_CONSEGNA.replacen("</mittente>", "\rx</mittente>", 1);
    let read = Daticert::parse(raw.as_bytes()).unwrap();
    assert!(
        read.header.sender.ends_with("\nx"),
        "{:?}",
        read.header.sender
    );
}
