//! Tests of the search index.

use super::*;
use crate::conservation::archive;
use crate::conservation::archive::Item;
use crate::conservation::archive::Sealing;
use crate::conservation::sip;
use crate::conservation::testing::pki;
use crate::conservation::tsa::TimeSource;

const MAILBOX: &str = "m@pec-a.test";

fn metadata(sip_id: &str, kind: &str, subject: &str, received: i64) -> Metadata {
    Metadata {
        sip_id: sip_id.into(),
        mailbox: MAILBOX.into(),
        kind: kind.into(),
        subject: Some(subject.into()),
        from: Some("Mario Rossi <mario.rossi@pec-b.test>".into()),
        recipients: vec![MAILBOX.into()],
        attachments: vec!["atto.pdf".into()],
        received: Timestamp::from_second(received).unwrap(),
        pec_id: Some(format!("opec-{sip_id}")),
        ..Metadata::default()
    }
}

fn words(index: &SearchIndex, mailbox: &str, text: &str) -> Vec<String> {
    let parse =
        |t: &str| Timestamp::from_second(t.parse().map_err(|_| "bad")?).map_err(|e| e.to_string());
    let query = Query::parse(text, parse).unwrap();
    index
        .search(mailbox, &query)
        .unwrap()
        .into_iter()
        .map(|h| h.sip_id)
        .collect()
}

/// An index holding three messages of `MAILBOX` and one of another mailbox.
fn sample(dir: &Path) -> SearchIndex {
    let index = SearchIndex::open(dir).unwrap();
    let first = metadata(
        "pdv-1",
        "posta-certificata",
        "Atto di citazione, perché urgente",
        100,
    );
    let second = metadata(
        "pdv-2",
        "avvenuta-consegna",
        "CONSEGNA: Atto di citazione",
        200,
    );
    let third = metadata(
        "pdv-3",
        "accettazione",
        "ACCETTAZIONE: Decreto ingiuntivo",
        300,
    );
    let other = Metadata {
        mailbox: "x@pec-a.test".into(),
        ..metadata("pdv-9", "posta-certificata", "Atto riservato", 150)
    };
    let doc = |metadata, body: &str| Document {
        metadata,
        body: body.into(),
    };
    index
        .add(&[
            (
                "pda-1",
                MAILBOX,
                vec![
                    doc(&first, "In allegato le fatture e le ricevute."),
                    doc(&second, "Ricevuta di avvenuta consegna"),
                ],
            ),
            (
                "pda-2",
                MAILBOX,
                vec![doc(&third, "Il decreto è esecutivo")],
            ),
            ("pda-3", "x@pec-a.test", vec![doc(&other, "riservatissimo")]),
        ])
        .unwrap();
    index
}

#[test]
fn words_are_stemmed_folded_and_all_required() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    assert_eq!(words(&index, MAILBOX, "citazione URGENTE"), ["pdv-1"]);
    assert_eq!(words(&index, MAILBOX, "perche fattura"), ["pdv-1"]);
    assert_eq!(words(&index, MAILBOX, "perché"), ["pdv-1"]);
    // `ricevuta` finds `ricevute` (and `Ricevuta`), the stems are the same.
    assert_eq!(words(&index, MAILBOX, "ricevuta"), ["pdv-1", "pdv-2"]);
    assert_eq!(words(&index, MAILBOX, "citazione"), ["pdv-1", "pdv-2"]);
    assert_eq!(
        words(&index, MAILBOX, "citazione decreto"),
        Vec::<String>::new()
    );
    assert_eq!(words(&index, MAILBOX, "esecutivi"), ["pdv-3"]);
    // Sender, recipients, attachment names.
    assert_eq!(words(&index, MAILBOX, "rossi").len(), 3);
    assert_eq!(words(&index, MAILBOX, "mario.rossi@pec-b.test").len(), 3);
    assert_eq!(words(&index, MAILBOX, "atto.pdf").len(), 3);
    assert_eq!(words(&index, MAILBOX, "m@pec-a.test").len(), 3);
    assert_eq!(words(&index, MAILBOX, "nulla"), Vec::<String>::new());
}

#[test]
fn kind_and_date_filters() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    assert_eq!(words(&index, MAILBOX, "citazione kind:avvenuta"), ["pdv-2"]);
    assert_eq!(words(&index, MAILBOX, "kind:posta-certificata"), ["pdv-1"]);
    assert_eq!(words(&index, MAILBOX, "kind:Accettazione"), ["pdv-3"]);
    assert_eq!(
        words(&index, MAILBOX, "citazione kind:accettazione"),
        Vec::<String>::new()
    );
    assert_eq!(words(&index, MAILBOX, "since:200"), ["pdv-2", "pdv-3"]);
    assert_eq!(words(&index, MAILBOX, "until:200"), ["pdv-1", "pdv-2"]);
    assert_eq!(words(&index, MAILBOX, "since:150 until:250"), ["pdv-2"]);
    assert_eq!(
        words(&index, MAILBOX, "atto since:301"),
        Vec::<String>::new()
    );
    let hits = index
        .search(
            MAILBOX,
            &Query::parse("decreto", |_| Err::<Timestamp, &str>("no")).unwrap(),
        )
        .unwrap();
    assert_eq!(
        hits,
        [Hit {
            package: "pda-2".into(),
            sip_id: "pdv-3".into(),
            kind: "accettazione".into(),
            received: Timestamp::from_second(300).unwrap(),
            from: Some("Mario Rossi <mario.rossi@pec-b.test>".into()),
            subject: Some("ACCETTAZIONE: Decreto ingiuntivo".into()),
            pec_id: Some("opec-pdv-3".into()),
        }]
    );
}

#[test]
fn a_mailbox_sees_only_its_own_messages() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    assert_eq!(words(&index, MAILBOX, "riservato"), Vec::<String>::new());
    assert_eq!(words(&index, "x@pec-a.test", "riservato"), ["pdv-9"]);
    assert_eq!(words(&index, "X@PEC-A.test", "atto"), ["pdv-9"]);
    assert_eq!(
        words(&index, "nobody@pec-a.test", "atto"),
        Vec::<String>::new()
    );
    assert_eq!(index.len().unwrap(), 4);
}

#[test]
fn indexing_a_package_again_replaces_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    let again = metadata("pdv-3", "accettazione", "Decreto", 300);
    let doc = Document {
        metadata: &again,
        body: String::new(),
    };
    index.add(&[("pda-2", MAILBOX, vec![doc])]).unwrap();
    assert_eq!(index.len().unwrap(), 4);
    assert_eq!(words(&index, MAILBOX, "esecutivo"), Vec::<String>::new());
    assert_eq!(words(&index, MAILBOX, "decreto"), ["pdv-3"]);
}

/// A package of two messages with distinct bodies, built and sealed in `root`.
fn package(root: &Path) -> PackageRecord {
    let pki = pki();
    let source = TimeSource::Builtin(pki.tsa.clone());
    let sealing = Sealing {
        signer: &pki.signer,
        time: &source,
        provider_name: "Gestore A",
        certificates: vec![],
    };
    let items: Vec<Item> = [(1, "Sollecito di pagamento"), (2, "Verbale di assemblea")]
        .into_iter()
        .map(|(n, body)| {
            let raw = format!(
                "From: a@b.test\r\nTo: {MAILBOX}\r\nSubject: pratica {n}\r\n\r\n{body}\r\n"
            )
            .into_bytes();
            let sip::Checked::Accepted(metadata) = sip::check(
                &format!("pdv-{n}"),
                MAILBOX,
                &raw,
                Timestamp::now(),
                &[sip::RFC822.to_string()],
                None,
                None,
            ) else {
                panic!("refused")
            };
            Item {
                metadata: *metadata,
                raw,
            }
        })
        .collect();
    archive::build(root, "pda-r-1", MAILBOX, &items, &sealing, Timestamp::now()).unwrap()
}

#[test]
fn a_missing_or_lagging_index_is_rebuilt_from_the_packages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("packages");
    std::fs::create_dir_all(&root).unwrap();
    let record = package(&root);
    let at = dir.path().join("index");
    let index = SearchIndex::open(&at).unwrap();
    assert!(!index.is_synced());
    assert_eq!(words(&index, MAILBOX, "pagamento"), Vec::<String>::new());
    assert_eq!(index.sync(std::slice::from_ref(&record), &root).unwrap(), 1);
    assert!(index.is_synced());
    assert_eq!(words(&index, MAILBOX, "pagamenti"), ["pdv-1"]);
    assert_eq!(words(&index, MAILBOX, "pratica verbali"), ["pdv-2"]);
    // Up to date: nothing to do.
    assert_eq!(index.sync(std::slice::from_ref(&record), &root).unwrap(), 0);
    drop(index);

    // The index folder is deleted: opened again, it is empty, and the sync refills it.
    std::fs::remove_dir_all(&at).unwrap();
    let index = SearchIndex::open(&at).unwrap();
    assert!(index.is_empty().unwrap());
    assert_eq!(index.sync(std::slice::from_ref(&record), &root).unwrap(), 1);
    assert_eq!(words(&index, MAILBOX, "sollecito"), ["pdv-1"]);
    drop(index);

    // A damaged index is replaced by an empty one, refilled the same way.
    std::fs::write(at.join("meta.json"), b"not json").unwrap();
    let index = SearchIndex::open(&at).unwrap();
    assert!(index.is_empty().unwrap());
    assert_eq!(index.sync(std::slice::from_ref(&record), &root).unwrap(), 1);
    assert_eq!(words(&index, MAILBOX, "assemblea").len(), 1);
}
