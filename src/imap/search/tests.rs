use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::search::SearchKey;

use super::*;

const RAW: &[u8] = b"Date: Tue, 1 Dec 2026 23:30:00 -0100\r\n\
From: =?utf-8?q?Andr=C3=A9?= <andre@pec-a.test>\r\n\
To: Bob <bob@pec-b.test>\r\n\
Cc: carol@pec-c.test\r\n\
Bcc: dave@pec-d.test\r\n\
Subject: =?utf-8?q?Atto_di_citazione,_perch=C3=A9_urgente?=\r\n\
X-Ricevuta: avvenuta-consegna\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Il messaggio =E8 stato consegnato\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: originale segreto\r\n\
\r\n\
testo nascosto\r\n\
--b--\r\n";

const BOUNDS: Bounds = Bounds {
    max_seq: 10,
    max_uid: 200,
};

/// The key a client's `SEARCH <criteria>` parses to (several criteria are an AND).
fn key(criteria: &str) -> SearchKey<'static> {
    let line = format!("A SEARCH {criteria}\r\n");
    let (_, command) = CommandCodec::default()
        .decode_static(line.as_bytes())
        .unwrap();
    let CommandBody::Search { criteria, .. } = command.body else {
        panic!("not a SEARCH: {criteria}");
    };
    let mut keys = criteria.into_inner();
    if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys.try_into().unwrap())
    }
}

fn flags(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// Message 5, UID 105, received 2026-12-02 00:30 UTC, 1000 octets, MODSEQ 7.
fn candidate<'a>(flags: &'a [String], raw: &'a [u8]) -> Candidate<'a> {
    Candidate {
        seq: 5,
        uid: 105,
        flags,
        recent: true,
        internal_date: "2026-12-02T00:30:00Z".parse().unwrap(),
        size: 1000,
        modseq: 7,
        header: None,
        raw,
    }
}

fn check(candidate: &Candidate<'_>, cases: &[(&str, bool)]) {
    for (criteria, expected) in cases {
        assert_eq!(
            matches(&key(criteria), candidate, BOUNDS),
            *expected,
            "SEARCH {criteria}"
        );
    }
}

#[test]
fn flag_keys_read_the_stored_flags() {
    let stored = flags(&["\\Seen", "\\Answered", "$PecRicevuta"]);
    check(
        &candidate(&stored, RAW),
        &[
            ("ALL", true),
            ("SEEN", true),
            ("UNSEEN", false),
            ("ANSWERED", true),
            ("UNANSWERED", false),
            ("FLAGGED", false),
            ("UNFLAGGED", true),
            ("DELETED", false),
            ("UNDELETED", true),
            ("DRAFT", false),
            ("UNDRAFT", true),
            ("KEYWORD $pecricevuta", true),
            ("KEYWORD $PecAltro", false),
            ("UNKEYWORD $PecAltro", true),
            ("UNKEYWORD $PecRicevuta", false),
        ],
    );
}

#[test]
fn recent_new_and_old_combine_recent_and_seen() {
    let seen = flags(&["\\Seen"]);
    check(
        &candidate(&seen, RAW),
        &[("RECENT", true), ("OLD", false), ("NEW", false)],
    );
    let unseen = flags(&[]);
    check(&candidate(&unseen, RAW), &[("NEW", true)]);
    let old = Candidate {
        recent: false,
        ..candidate(&unseen, RAW)
    };
    check(&old, &[("RECENT", false), ("OLD", true), ("NEW", false)]);
}

#[test]
fn sizes_compare_strictly() {
    let none = flags(&[]);
    check(
        &candidate(&none, RAW),
        &[
            ("LARGER 999", true),
            ("LARGER 1000", false),
            ("SMALLER 1001", true),
            ("SMALLER 1000", false),
        ],
    );
}

#[test]
fn sequence_sets_resolve_star_to_the_mailbox_bounds() {
    let none = flags(&[]);
    let message = candidate(&none, RAW);
    check(
        &message,
        &[
            ("5", true),
            ("1:4", false),
            ("4:*", true),
            ("*", false),
            ("*:5", true),
            ("1,3,5", true),
            ("UID 100:110", true),
            ("UID 106:*", false),
            ("UID 105", true),
        ],
    );
    // "UID 300:*" still names the last message, whose UID is below 300 (RFC 3501 §6.4.8).
    let last = Candidate {
        uid: 200,
        ..message
    };
    check(&last, &[("UID 300:*", true), ("UID *", true)]);
}

#[test]
fn internal_date_keys_compare_utc_days() {
    let none = flags(&[]);
    check(
        &candidate(&none, RAW),
        &[
            ("BEFORE 2-Dec-2026", false),
            ("BEFORE 3-Dec-2026", true),
            ("ON 2-Dec-2026", true),
            ("ON 1-Dec-2026", false),
            ("SINCE 2-Dec-2026", true),
            ("SINCE 3-Dec-2026", false),
        ],
    );
}

#[test]
fn sent_keys_use_the_date_field_in_its_own_zone() {
    let none = flags(&[]);
    check(
        &candidate(&none, RAW),
        &[
            ("SENTON 1-Dec-2026", true),
            ("SENTON 2-Dec-2026", false),
            ("SENTBEFORE 1-Dec-2026", false),
            ("SENTBEFORE 2-Dec-2026", true),
            ("SENTSINCE 1-Dec-2026", true),
            ("SENTSINCE 2-Dec-2026", false),
        ],
    );
    let undated = b"Subject: x\r\n\r\nbody\r\n";
    check(
        &candidate(&none, undated),
        &[
            ("SENTON 1-Dec-2026", false),
            ("SENTBEFORE 1-Jan-3000", false),
            ("SENTSINCE 1-Jan-1970", false),
        ],
    );
}

#[test]
fn address_and_subject_keys_match_decoded_values_case_insensitively() {
    let none = flags(&[]);
    let message = candidate(&none, RAW);
    check(
        &message,
        &[
            ("FROM ANDRE@PEC-A", true),
            ("FROM bob", false),
            ("TO \"Bob <bob\"", true),
            ("CC carol", true),
            ("BCC dave", true),
            ("SUBJECT citazione", true),
            ("SUBJECT segreto", false),
        ],
    );
    let utf8 = |text: &str| AString::try_from(text.to_string()).unwrap();
    let accented = SearchKey::Subject(utf8("PERCHÉ"));
    assert!(matches(&accented, &message, BOUNDS));
    let name = SearchKey::From(utf8("André"));
    assert!(matches(&name, &message, BOUNDS));
}

#[test]
fn header_key_matches_any_field_and_empty_string_means_present() {
    let none = flags(&[]);
    check(
        &candidate(&none, RAW),
        &[
            ("HEADER X-Ricevuta consegna", true),
            ("HEADER x-ricevuta CONSEGNA", true),
            ("HEADER X-Ricevuta accettazione", false),
            ("HEADER X-Ricevuta \"\"", true),
            ("HEADER X-Riferimento-Message-ID \"\"", false),
        ],
    );
}

#[test]
fn body_searches_decoded_text_and_text_adds_the_header() {
    let none = flags(&[]);
    let message = candidate(&none, RAW);
    check(
        &message,
        &[
            ("BODY consegnato", true),
            ("BODY segreto", true),
            ("BODY nascosto", true),
            ("BODY avvenuta-consegna", false),
            ("TEXT avvenuta-consegna", true),
            ("TEXT nascosto", true),
            ("TEXT assente", false),
        ],
    );
    let decoded = SearchKey::Body(AString::try_from("è stato".to_string()).unwrap());
    assert!(matches(&decoded, &message, BOUNDS));
}

#[test]
fn not_or_and_lists_compose() {
    let seen = flags(&["\\Seen"]);
    check(
        &candidate(&seen, RAW),
        &[
            ("NOT SEEN", false),
            ("NOT FLAGGED", true),
            ("OR FLAGGED SEEN", true),
            ("OR FLAGGED DELETED", false),
            ("(SEEN FLAGGED)", false),
            ("(SEEN LARGER 10)", true),
            ("SEEN LARGER 10 FROM andre", true),
            ("SEEN LARGER 10 FROM nobody", false),
            ("NOT (OR FLAGGED (DELETED SEEN))", true),
        ],
    );
}

#[test]
fn modseq_matches_at_or_above_the_value() {
    let none = flags(&[]);
    check(
        &candidate(&none, RAW),
        &[
            ("MODSEQ 7", true),
            ("MODSEQ 8", false),
            ("MODSEQ \"/flags/\\\\draft\" all 5", true),
        ],
    );
}

#[test]
fn needs_body_only_for_keys_that_read_the_message() {
    for (criteria, expected) in [
        ("SEEN LARGER 3 UID 1:* 1:5 SINCE 1-Jan-2020", false),
        ("NOT (OR DELETED MODSEQ 4)", false),
        ("OR SEEN FROM x", true),
        ("NOT BODY x", true),
        ("SENTON 1-Dec-2026", true),
        ("HEADER X-Ricevuta \"\"", true),
        ("(SUBJECT x)", true),
    ] {
        assert_eq!(needs_body(&key(criteria)), expected, "SEARCH {criteria}");
    }
}

#[test]
fn keys_that_do_not_need_the_message_ignore_its_bytes() {
    let none = flags(&[]);
    let garbage = candidate(&none, b"\xff\x00 not a message");
    check(
        &garbage,
        &[("ALL", true), ("SUBJECT x", false), ("TEXT \"\"", true)],
    );
}

#[test]
fn civil_days_count_from_the_unix_epoch() {
    assert_eq!(CivilDay::from_ymd(1970, 1, 1), CivilDay(0));
    assert_eq!(CivilDay::from_ymd(2000, 3, 1), CivilDay(11_017));
    assert_eq!(CivilDay::from_ymd(1969, 12, 31), CivilDay(-1));
    let noon: jiff::Timestamp = "2000-03-01T12:00:00Z".parse().unwrap();
    assert_eq!(CivilDay::of_timestamp(noon), CivilDay(11_017));
    let before: jiff::Timestamp = "1969-12-31T23:59:59Z".parse().unwrap();
    assert_eq!(CivilDay::of_timestamp(before), CivilDay(-1));
}

/// A delivery receipt as pecd writes it: its own header, the QP text, daticert.xml
/// (base64) and the original in postacert.eml are all searchable.
#[test]
fn pec_delivery_receipt_is_searchable_through_every_part() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/messages/07-consegna-completa.expected.eml");
    let raw = std::fs::read(path).unwrap();
    let none = flags(&[]);
    let receipt = candidate(&none, &raw);
    check(
        &receipt,
        &[
            ("HEADER X-Ricevuta avvenuta-consegna", true),
            ("SUBJECT \"CONSEGNA: Atto\"", true),
            ("SENTON 2-Mar-2026", true),
            ("BODY \"Ricevuta di avvenuta consegna\"", true),
            ("BODY \"<consegna>bob@pec-b.test</consegna>\"", true),
            ("BODY \"X-TipoRicevuta: completa\"", true),
            ("BODY \"in allegato l'atto\"", true),
            ("FROM alice", false),
            ("BODY \"from: alice rossi\"", true),
        ],
    );
    let accented = SearchKey::Body(AString::try_from("Cordialità".to_string()).unwrap());
    assert!(matches(&accented, &receipt, BOUNDS));
    let decoded = SearchKey::Subject(AString::try_from("perché".to_string()).unwrap());
    assert!(matches(&decoded, &receipt, BOUNDS));
}

/// Messages that stress header decoding: encoded words (Q and B, several charsets, a
/// broken one), folded fields, repeated fields, address comments and groups, no
/// `Date:` or an unreadable one, no header at all, LF line ends.
const VARIED: &[&[u8]] = &[
    RAW,
    b"Subject: =?iso-8859-1?q?Perch=E8_no?=\r\n =?utf-8?b?4oKs?= finale\r\n\
      From: <user-from (comment)@ (comment) pec-a.test>\r\n\
      To: gruppo: uno@pec-b.test, Due <due@pec-b.test>;, tre@pec-c.test\r\n\
      X-Tag: Primo\r\nx-tag: SECONDO\r\nX-Empty:\r\n\
      Date: not a date\r\n\r\nbody\r\n",
    b"subject:Sans espace\nfrom: \"Rossi, Mario\" <MARIO@PEC-A.TEST>\ncc: =?utf-8?q?broken=ZZ?=\n\
      Date: Wed, 2 Dec 2026 01:00:00 +0200\n\nlf only\n",
    b"no header here, just text",
    b"\r\nonly a body\r\n",
    b"Subject: =?utf-8?q?=F0=9F=93=A7_Posta?= Certificata\r\n\
      Bcc: nascosto@pec-d.test (Nascosto)\r\n\
      References: <a@b>\r\n\t<c@d>\r\n\r\n",
];

/// Keys whose answer comes from the header: each must give the same answer whether
/// the message's header index or its raw bytes are read.
const HEADER_KEYS: &[&str] = &[
    "SUBJECT {7}\r\nperché",
    "SUBJECT {14}\r\nPERCHÈ NO €",
    "SUBJECT {13}\r\nno € finale",
    "SUBJECT citazione",
    "SUBJECT sans",
    "SUBJECT \"\"",
    "SUBJECT posta",
    "FROM {6}\r\nandré",
    "FROM user-from@pec-a.test",
    "FROM comment",
    "FROM \"rossi, mario\"",
    "FROM mario@pec-a.test",
    "TO gruppo",
    "TO due@pec-b",
    "TO \"due <due\"",
    "TO bob",
    "CC broken",
    "CC carol",
    "BCC nascosto",
    "BCC dave",
    "HEADER X-TAG primo",
    "HEADER x-tag secondo",
    "HEADER X-Empty \"\"",
    "HEADER X-Ricevuta consegna",
    "HEADER references c@d",
    "HEADER Content-Type multipart",
    "HEADER Date \"\"",
    "SENTON 2-Dec-2026",
    "SENTON 1-Dec-2026",
    "SENTBEFORE 2-Dec-2026",
    "SENTSINCE 2-Dec-2026",
    "OR SUBJECT segreto NOT FROM bob",
    "NOT HEADER subject \"\"",
];

#[test]
fn header_keys_agree_between_the_index_and_the_message() {
    let none: Vec<String> = Vec::new();
    let mut hits = 0;
    for raw in VARIED {
        let index = HeaderIndex::of_message(raw);
        let view = index.view();
        let from_raw = candidate(&none, raw);
        let from_index = Candidate {
            header: Some(&view),
            raw: b"",
            ..from_raw
        };
        for criteria in HEADER_KEYS {
            let key = key(criteria);
            assert_eq!(reads(&key), Reads::Header, "{criteria}");
            let expected = matches(&key, &from_raw, BOUNDS);
            hits += usize::from(expected);
            assert_eq!(
                matches(&key, &from_index, BOUNDS),
                expected,
                "SEARCH {criteria} on {}",
                String::from_utf8_lossy(raw)
            );
        }
    }
    // The keys are not all trivially false.
    assert!(hits > 20, "{hits}");
}
