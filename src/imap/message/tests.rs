use std::num::NonZeroU32;
use std::path::PathBuf;

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::body::BodyStructure;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::fetch::Part;
use imap_codec::imap_types::fetch::Section;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::response::Response;

use super::*;

mod real;

/// The RFC 3501 §7.4.2 example message, shortened to three lines of body.
const RFC3501: &[u8] = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
line one\r\n\
line two\r\n\
line three\r\n";

/// A multipart/mixed with a text part, a base64 attachment and a message/rfc822 part.
const MIXED: &[u8] = b"From: Alice <alice@pec-a.test>\r\n\
To: bob@pec-b.test\r\n\
Subject: =?utf-8?q?perch=C3=A9?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caff=C3=A8 =\r\n\
lungo\r\n\
--XX\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
\r\n\
AAEC\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: carol@pec-c.test\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--XX--\r\n\
epilogue\r\n";

fn fetch_item(item: MessageDataItem<'static>) -> String {
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    let wire = String::from_utf8(ResponseCodec::default().encode(&response).dump()).unwrap();
    let inner = wire.strip_prefix("* 1 FETCH (").unwrap();
    let inner = inner.strip_suffix(")\r\n").unwrap();
    inner.split_once(' ').unwrap().1.to_string()
}

fn wire_structure(raw: &[u8], extended: bool) -> String {
    let structure = body_structure(raw, extended);
    if extended {
        fetch_item(MessageDataItem::BodyStructure(structure))
    } else {
        fetch_item(MessageDataItem::Body(structure))
    }
}

fn wire_envelope(raw: &[u8]) -> String {
    fetch_item(MessageDataItem::Envelope(envelope(raw)))
}

fn path(numbers: &[u32]) -> Vec<NonZeroU32> {
    numbers
        .iter()
        .map(|n| NonZeroU32::new(*n).unwrap())
        .collect()
}

fn part(numbers: &[u32]) -> Part {
    Part(Vec1::try_from(path(numbers)).unwrap())
}

fn names(names: &[&'static str]) -> Vec1<AString<'static>> {
    Vec1::try_from(
        names
            .iter()
            .map(|name| AString::try_from(*name).unwrap())
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn text(raw: &[u8], wanted: Option<Section<'_>>) -> String {
    String::from_utf8(section(raw, wanted.as_ref(), None)).unwrap()
}

#[test]
fn envelope_of_rfc3501_example_matches_the_rfc() {
    assert_eq!(
        wire_envelope(RFC3501),
        "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((NIL NIL \"imap\" \"cac.washington.edu\")) \
         ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) \
         NIL NIL \"<B27397-0100000@cac.washington.edu>\")"
    );
}

/// RFC 3501 shows `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)`;
/// subtype and parameter names come out lower-cased (mail-parser folds them), which
/// clients compare case-insensitively anyway. Lines are line feeds, as Dovecot counts.
#[test]
fn body_of_a_text_message_counts_octets_and_lines() {
    assert_eq!(
        wire_structure(RFC3501, false),
        "(\"TEXT\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 32 3)"
    );
    assert_eq!(
        wire_structure(RFC3501, true),
        "(\"TEXT\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 32 3 NIL NIL NIL NIL)"
    );
}

#[test]
fn message_without_content_type_is_us_ascii_text() {
    assert_eq!(
        wire_structure(b"Subject: x\r\n\r\nhi\r\n", false),
        "(\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1)"
    );
}

#[test]
fn body_structure_of_multipart_nests_parts_and_keeps_the_boundary() {
    let inner_envelope = "(NIL \"inner\" ((NIL NIL \"carol\" \"pec-c.test\")) \
        ((NIL NIL \"carol\" \"pec-c.test\")) ((NIL NIL \"carol\" \"pec-c.test\")) \
        NIL NIL NIL NIL NIL)";
    assert_eq!(
        wire_structure(MIXED, false),
        format!(
            "((\"TEXT\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 19 1)\
             (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4)\
             (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7bit\" 52 {inner_envelope} \
             (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) 3) \"mixed\")"
        )
    );
    assert_eq!(
        wire_structure(MIXED, true),
        format!(
            "((\"TEXT\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 19 1 NIL NIL NIL NIL)\
             (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4 NIL (\"attachment\" (\"filename\" \"a.bin\")) NIL NIL)\
             (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7bit\" 52 {inner_envelope} \
             (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \
             \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)"
        )
    );
}

#[test]
fn envelope_passes_encoded_words_through_and_defaults_sender_to_from() {
    assert_eq!(
        wire_envelope(MIXED),
        "(NIL \"=?utf-8?q?perch=C3=A9?=\" ((\"Alice\" NIL \"alice\" \"pec-a.test\")) \
         ((\"Alice\" NIL \"alice\" \"pec-a.test\")) ((\"Alice\" NIL \"alice\" \"pec-a.test\")) \
         ((NIL NIL \"bob\" \"pec-b.test\")) NIL NIL NIL NIL)"
    );
}

#[test]
fn envelope_marks_groups_and_encodes_raw_utf8_names() {
    let raw = "From: André <andre@pec-a.test>\r\n\
To: undisclosed-recipients:;\r\n\
Cc: Team: a@x.test, b@y.test;, c@z.test\r\n\
Reply-To: =?utf-8?q?Andr=C3=A9?= <andre@pec-a.test>\r\n\
Sender: relay@pec-a.test\r\n\r\n"
        .as_bytes();
    let wire = wire_envelope(raw);
    assert!(
        wire.contains("((\"=?utf-8?b?QW5kcsOp?=\" NIL \"andre\" \"pec-a.test\"))"),
        "{wire}"
    );
    // Encoded words travel as written, as the subject does.
    assert!(
        wire.contains("((\"=?utf-8?q?Andr=C3=A9?=\" NIL \"andre\" \"pec-a.test\"))"),
        "{wire}"
    );
    assert!(
        wire.contains("((NIL NIL \"relay\" \"pec-a.test\"))"),
        "{wire}"
    );
    assert!(
        wire.contains("((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"),
        "{wire}"
    );
    assert!(
        wire.contains(
            "((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"x.test\")(NIL NIL \"b\" \"y.test\")\
             (NIL NIL NIL NIL)(NIL NIL \"c\" \"z.test\"))"
        ),
        "{wire}"
    );
}

#[test]
fn sections_of_a_multipart_cut_the_stored_bytes() {
    assert_eq!(section(MIXED, None, None), MIXED);
    assert!(text(MIXED, Some(Section::Header(None))).ends_with("boundary=\"XX\"\r\n\r\n"));
    assert!(text(MIXED, Some(Section::Text(None))).starts_with("preamble\r\n--XX\r\n"));
    assert_eq!(
        text(MIXED, Some(Section::Part(part(&[1])))),
        "caff=C3=A8 =\r\nlungo"
    );
    assert_eq!(
        text(MIXED, Some(Section::Mime(part(&[2])))),
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
    );
    assert_eq!(
        text(MIXED, Some(Section::Part(part(&[3])))),
        "From: carol@pec-c.test\r\nSubject: inner\r\n\r\ninner body"
    );
}

#[test]
fn sections_under_a_message_part_read_the_encapsulated_message() {
    assert_eq!(
        text(MIXED, Some(Section::Header(Some(part(&[3]))))),
        "From: carol@pec-c.test\r\nSubject: inner\r\n\r\n"
    );
    assert_eq!(
        text(MIXED, Some(Section::Text(Some(part(&[3]))))),
        "inner body"
    );
    assert_eq!(
        text(MIXED, Some(Section::Part(part(&[3, 1])))),
        "inner body"
    );
    assert_eq!(
        text(MIXED, Some(Section::Mime(part(&[3])))),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    assert_eq!(
        text(
            MIXED,
            Some(Section::HeaderFields(Some(part(&[3])), names(&["SUBJECT"])))
        ),
        "Subject: inner\r\n\r\n"
    );
}

#[test]
fn header_fields_select_by_name_case_insensitively_and_keep_folding() {
    assert_eq!(
        text(
            RFC3501,
            Some(Section::HeaderFields(None, names(&["CC", "subject"])))
        ),
        "Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
         cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\r\n"
    );
    let rest = text(
        RFC3501,
        Some(Section::HeaderFieldsNot(
            None,
            names(&["Date", "From", "Subject", "To", "Cc", "Message-Id"]),
        )),
    );
    assert_eq!(
        rest,
        "MIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
    );
}

#[test]
fn header_fields_cut_odd_headers_as_written() {
    // A line that is no field, a tab continuation, bare LF line ends.
    let message =
        b"X-Junk\r\nSubject: uno\r\n\tdue\r\nFrom: a@pec-a.test\nTo: b@pec-a.test\n\nbody\n";
    assert_eq!(
        text(
            message,
            Some(Section::HeaderFields(
                None,
                names(&["subject", "to", "x-junk"])
            ))
        ),
        "Subject: uno\r\n\tdue\r\nTo: b@pec-a.test\n\r\n"
    );
    // A header without a blank line or a final line end is still cut.
    let header = b"From: a@pec-a.test\r\nSubject: tre";
    assert_eq!(
        text(
            header,
            Some(Section::HeaderFields(None, names(&["Subject"])))
        ),
        "Subject: tre\r\n\r\n"
    );
}

#[test]
fn single_part_message_has_its_body_as_part_one() {
    assert_eq!(
        text(RFC3501, Some(Section::Part(part(&[1])))),
        "line one\r\nline two\r\nline three\r\n"
    );
}

#[test]
fn missing_parts_read_as_empty() {
    for wanted in [
        Section::Part(part(&[9])),
        Section::Part(part(&[1, 1])),
        Section::Part(part(&[2, 1])),
        Section::Header(Some(part(&[1]))),
        Section::Text(Some(part(&[9, 9, 9]))),
        Section::Mime(part(&[4])),
    ] {
        assert_eq!(section(MIXED, Some(&wanted), None), b"", "{wanted:?}");
    }
    assert_eq!(binary(MIXED, &path(&[7]), None), Ok(Vec::new()));
}

#[test]
fn partial_ranges_are_truncated_at_the_end() {
    let length = |n| NonZeroU32::new(n).unwrap();
    let body = Section::Part(part(&[1]));
    assert_eq!(section(RFC3501, Some(&body), Some((5, length(3)))), b"one");
    assert_eq!(
        section(RFC3501, Some(&body), Some((29, length(100)))),
        b"e\r\n"
    );
    assert_eq!(section(RFC3501, Some(&body), Some((32, length(1)))), b"");
    assert_eq!(
        section(RFC3501, Some(&body), Some((u32::MAX, length(u32::MAX)))),
        b""
    );
}

#[test]
fn binary_undoes_the_transfer_encoding() {
    assert_eq!(
        binary(MIXED, &path(&[1]), None),
        Ok("caffè lungo".as_bytes().to_vec())
    );
    assert_eq!(binary(MIXED, &path(&[2]), None), Ok(vec![0, 1, 2]));
    assert_eq!(
        binary(MIXED, &path(&[2]), Some((1, NonZeroU32::MIN))),
        Ok(vec![1])
    );
    assert_eq!(binary_size(MIXED, &path(&[1])), Ok(12));
    assert_eq!(binary_size(MIXED, &path(&[2])), Ok(3));
    assert_eq!(binary(MIXED, &[], None), Ok(MIXED.to_vec()));
    assert_eq!(
        binary(MIXED, &path(&[3]), None).map(|data| data.len()),
        Ok(52)
    );
}

#[test]
fn binary_refuses_an_unknown_transfer_encoding() {
    let raw = b"Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n";
    let refused = Err(BinaryError::UnknownCte("x-uuencode".to_string()));
    assert_eq!(binary(raw, &path(&[1]), None), refused);
    assert_eq!(binary_size(raw, &path(&[1])), refused.map(|_: Vec<u8>| 0));
}

#[test]
fn base64_and_quoted_printable_decoding_is_lenient() {
    assert_eq!(section::decode_base64(b"aGVs\r\nbG8=\r\n"), b"hello");
    assert_eq!(section::decode_base64(b"a*GVsbG8"), b"hello");
    assert_eq!(section::decode_base64(b""), b"");
    assert_eq!(
        section::decode_quoted_printable(b"a=3Db  \r\nsoft=\r\nbreak=ZZ=\n"),
        b"a=b\r\nsoftbreak=ZZ"
    );
}

#[test]
fn multipart_without_delimiters_has_one_empty_part() {
    let raw = b"Content-Type: multipart/mixed; boundary=nope\r\n\r\njust text\r\n";
    assert_eq!(
        wire_structure(raw, false),
        "((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")"
    );
}

#[test]
fn lf_only_messages_split_the_same_way() {
    let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhello\n--b--\n";
    assert_eq!(
        wire_structure(raw, false),
        "((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\")"
    );
    assert_eq!(text(raw, Some(Section::Part(part(&[1])))), "hello");
}

#[test]
fn hostile_bytes_never_panic() {
    let deep = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".repeat(200);
    let inputs: [&[u8]; 8] = [
        b"",
        b"\r\n",
        b"\0\0\0",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"From: \"unterminated\r\nTo: <<<@@@>>>,,,;;;:\r\n",
        b"Content-Type: text/plain; charset*0*=utf-8''%ff%fe\r\n\r\n\xff\xfe",
        deep.as_bytes(),
    ];
    for raw in inputs {
        let _ = envelope(raw);
        let _ = body_structure(raw, true);
        let _ = body_structure(raw, false);
        for wanted in [
            None,
            Some(Section::Header(None)),
            Some(Section::Part(part(&[1, 1, 1]))),
            Some(Section::HeaderFields(Some(part(&[1])), names(&["From"]))),
        ] {
            let _ = section(raw, wanted.as_ref(), Some((3, NonZeroU32::MIN)));
        }
        let _ = binary(raw, &path(&[1, 1]), None);
        let _ = SearchText::parse(raw);
    }
}

#[test]
fn parsed_once_answers_like_the_free_functions() {
    let message = MimeMessage::parse(MIXED);
    assert_eq!(message.envelope(), envelope(MIXED));
    assert_eq!(message.body_structure(true), body_structure(MIXED, true));
    let wanted = Section::Part(part(&[3, 1]));
    assert_eq!(
        message.section(Some(&wanted), None),
        section(MIXED, Some(&wanted), None)
    );
    assert_eq!(message.binary(&path(&[2]), None), Ok(vec![0, 1, 2]));
    assert_eq!(message.binary_size(&path(&[1])), Ok(12));
}

/// Dovecot's rules, checked against its own `test-imap-bodystructure.c` vector while
/// writing this module (identical output apart from imap-codec's fixed upper-case
/// `"TEXT"` and `"MESSAGE" "RFC822"`): a text part without charset reports us-ascii,
/// a transfer encoding that is not a token reports 7bit, a folded quoted boundary is
/// unfolded, and every extension field is filled from its header.
#[test]
fn body_structure_follows_dovecot_for_defaults_and_extension_fields() {
    let raw = b"From: pec@pec-a.test\r\n\
Content-Type: multipart/mixed; boundary=\"one\r\n two\"\r\n\
\r\n\
--one two\r\n\
Content-Type: text/x-note; name=\"a\\\"b\"\r\n\
Content-ID: <n1@pec-a.test>\r\n\
Content-MD5: AAAA\r\n\
Content-Description: nota\r\n\
Content-Disposition: inline; size=3\r\n\
Content-Language: it, en\r\n\
Content-Location: http://pec-a.test/n\r\n\
\r\n\
abc\r\n\
--one two\r\n\
Content-Transfer-Encoding: ?odd\r\n\
\r\n\
x\r\n\
--one two--\r\n";
    assert_eq!(
        wire_structure(raw, true),
        "((\"TEXT\" \"x-note\" (\"charset\" \"us-ascii\" \"name\" \"a\\\"b\") \"<n1@pec-a.test>\" \
         \"nota\" \"7bit\" 3 0 \"AAAA\" (\"inline\" (\"size\" \"3\")) (\"it\" \"en\") \
         \"http://pec-a.test/n\")\
         (\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \
         \"mixed\" (\"boundary\" \"one two\") NIL NIL NIL)"
    );
    assert_eq!(
        binary(raw, &path(&[2]), None),
        Err(BinaryError::UnknownCte("?odd".to_string()))
    );
}

/// imaptest's fetch-envelope cases: a comment naming a bare address, groups with and
/// without members (one holding only a comment), a source route, empty fields.
#[test]
fn envelope_reads_comments_groups_and_source_routes() {
    let raw = b"From: user@domain (Real Name)\r\n\
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n\
Cc: group:;, group2: (foo) ;\r\n\
Sender: \r\n\r\nbody\r\n";
    assert_eq!(
        wire_envelope(raw),
        "(NIL NIL ((\"Real Name\" NIL \"user\" \"domain\")) \
         ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) \
         ((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")\
         (NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) \
         ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) \
         NIL NIL NIL)"
    );
    let routed = wire_envelope(b"From: <@route:user@domain>\r\n\r\n");
    assert!(
        routed.contains("((NIL \"@route\" \"user\" \"domain\"))"),
        "{routed}"
    );
}
