//! LDIF reader and writer tests (RFC 2849, RFC 6109 §4.5 records).

use super::*;

fn one(input: &str) -> Entry {
    let mut entries = parse(input.as_bytes()).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.remove(0)
}

fn error_line(input: &str) -> usize {
    match parse(input.as_bytes()).unwrap_err() {
        LdifError::Syntax { line, .. }
        | LdifError::Base64 { line, .. }
        | LdifError::UrlValue { line, .. }
        | LdifError::ChangeType { line, .. }
        | LdifError::Version { line, .. } => line,
        other => panic!("no line in {other}"),
    }
}

#[test]
fn folded_lines_are_joined_without_the_leading_space() {
    let entry = one("dn: o=post\n acert\ndescription: una descri\n zione\n");
    assert_eq!(entry.dn, "o=postacert");
    assert_eq!(entry.first_str("description"), Some("una descrizione"));
}

#[test]
fn double_colon_values_are_base64_decoded() {
    let entry = one("dn:: bz1wb3N0YWNlcnQ=\ndescription:: Z2VzdG9yZSDDoA==\n");
    assert_eq!(entry.dn, "o=postacert");
    assert_eq!(entry.first_str("DESCRIPTION"), Some("gestore à"));
}

#[test]
fn values_match_type_case_insensitively_and_ignore_options() {
    let entry = one("dn: o=x\nproviderCertificate;binary:: AAE=\nPROVIDERCERTIFICATE:: Ag==\n");
    let values: Vec<&[u8]> = entry.values("providercertificate").collect();
    assert_eq!(values, [&[0u8, 1][..], &[2u8][..]]);
    assert!(entry.attributes[0].is_binary());
    assert!(!entry.attributes[1].is_binary());
}

#[test]
fn comments_and_folded_comments_are_dropped() {
    let input = "# head\n folded comment\nversion: 1\n\n# before\ndn: o=x\n# inside\n more\na: b\n";
    let entry = one(input);
    assert_eq!(entry.attributes.len(), 1);
    assert_eq!(entry.first_str("a"), Some("b"));
}

#[test]
fn crlf_blank_and_whitespace_lines_separate_records() {
    let input = "version: 1\r\n\r\ndn: a=1\r\nx: 1  \r\n\t \r\n \r\ndn: a=2\r\nx: 2\r\n\r\n\r\n";
    let entries = parse(input.as_bytes()).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].first_str("x"), Some("1"));
    assert_eq!(entries[1].dn, "a=2");
}

#[test]
fn version_line_may_directly_precede_the_first_record() {
    let entry = one("version: 1\ndn: o=x\na: b");
    assert_eq!(entry.dn, "o=x");
}

#[test]
fn changetype_add_is_a_plain_entry() {
    let entry = one("dn: o=x\nchangetype: add\na: b\n");
    assert_eq!(entry.attributes.len(), 1);
}

#[test]
fn other_changetypes_are_refused_with_their_line() {
    let error = parse(b"version: 1\n\ndn: o=x\nchangetype: modify\nreplace: a\n").unwrap_err();
    assert!(
        matches!(error, LdifError::ChangeType { line: 4, ref changetype } if changetype == "modify")
    );
}

#[test]
fn url_values_are_refused_clearly() {
    let error = parse(b"dn: o=x\njpegPhoto:< file:///etc/passwd\n").unwrap_err();
    assert!(error.to_string().contains("line 2: URL values"), "{error}");
}

#[test]
fn errors_carry_the_line_of_the_logical_line() {
    assert_eq!(error_line("dn: o=x\na: b\nno colon here\n"), 3);
    assert_eq!(error_line("dn: o=x\n\n a continuation\n"), 3);
    assert_eq!(error_line("dn: o=x\na:: !!!\n"), 2);
    assert_eq!(error_line("version: 2\n"), 1);
    assert_eq!(error_line("dn: o=x\na: b\ndn: o=y\nc: d\n"), 3);
    assert_eq!(error_line("a: b\n"), 1);
    assert_eq!(error_line("dn: o=x\n\ndn: o=y\n"), 1);
    assert_eq!(error_line("dn: o=x\nbad name: v\n"), 2);
    assert_eq!(error_line("dn: o=x\na: b\nchangetype: add\n"), 3);
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let input = vec![b'#'; MAX_INPUT_BYTES + 1];
    assert!(matches!(parse(&input), Err(LdifError::TooLarge { .. })));
}

#[test]
fn unsafe_and_binary_values_are_written_as_base64() {
    let mut entry = Entry {
        dn: "o=città".to_owned(),
        attributes: Vec::new(),
    };
    entry.push("a", "plain value");
    entry.push("b", " leading space");
    entry.push("c", "trailing space ");
    entry.push("d", ":colon");
    entry.push("e", "<angle");
    entry.push("f", "line\nbreak");
    entry.push("g;binary", "text but binary");
    entry.push("h", "");
    let written = write_entry(&entry);
    assert!(written.starts_with("dn:: "), "{written}");
    assert!(written.contains("\na: plain value\n"), "{written}");
    for name in ["b", "c", "d", "e", "f", "g;binary"] {
        assert!(
            written.contains(&format!("\n{name}:: ")),
            "{name}: {written}"
        );
    }
    assert!(written.ends_with("\nh:\n"), "{written}");
    assert_eq!(one(&written), entry);
}

#[test]
fn long_lines_are_folded_at_76_and_round_trip() {
    let mut entry = Entry {
        dn: "o=x".to_owned(),
        attributes: Vec::new(),
    };
    entry.push("description", "parola ".repeat(40).trim_end());
    entry.push("blob;binary", (0..=255u8).collect::<Vec<_>>());
    let written = write_entry(&entry);
    assert!(written.lines().all(|line| line.len() <= 76), "{written}");
    assert!(written.lines().filter(|line| line.starts_with(' ')).count() > 4);
    assert_eq!(one(&written), entry);
}

#[test]
fn written_files_parse_back_to_the_same_entries() {
    let entries = parse(include_bytes!(
        "../../../tests/data/index/two-providers.ldif"
    ))
    .unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(parse(write(&entries).as_bytes()).unwrap(), entries);
}

#[test]
fn fuzz_oracle_holds_on_the_corpus_seeds() {
    for seed in [
        &include_bytes!("../../../tests/data/index/two-providers.ldif")[..],
        b"version: 1\n\ndn:: IG89eCA=\na:: IA==\nb:\n",
        b"dn: o=x\r\nchangetype: add\r\na: \tb \t\r\n",
        b"\xff\xfe",
    ] {
        fuzz_ldif(seed);
    }
}
