//! LDIF (RFC 2849), the text form of the providers index (RFC 6109 §4.5, spec pec.md §8).
//!
//! The central system distributes the "Indice dei gestori PEC" as one LDIF file, and each
//! provider publishes its own record the same way. This module owns the syntax only:
//! [`parse`] turns bytes into [`Entry`] values and [`write_entry`] writes them back.
//! What the entries mean belongs to [`crate::pec::index`]; signature checks to
//! `crate::crypto::trust`. Pure code: no I/O.
//!
//! Accepted beyond the strict grammar, because real exports do it: `\r\n` or `\n` line
//! ends, UTF-8 in plain values, whitespace-only separator lines, and trailing spaces or
//! tabs after plain values (dropped; [`write_entry`] base64-encodes any value that ends
//! in whitespace, so nothing is lost on a round trip). Refused with a precise
//! [`LdifError`]: `:<` URL values, change records other than `changetype: add`, LDAP
//! controls, and input over [`MAX_INPUT_BYTES`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The largest input [`parse`] accepts: the whole Italian index is a few MiB.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Output lines are folded at this many bytes (RFC 2849 note 2 suggests 76).
const FOLD_WIDTH: usize = 76;

/// One LDIF record: a distinguished name and its attribute values, in file order.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Entry {
    /// The distinguished name, as written (RFC 4514 escapes kept).
    pub dn: String,
    /// One item per `name: value` line; a multi-valued attribute appears several times.
    pub attributes: Vec<Attribute>,
}

/// One attribute value.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Attribute {
    /// The attribute description as written, options included
    /// (`providerCertificate;binary`).
    pub name: String,
    /// The value: decoded bytes for `::` lines, the text for `:` lines.
    pub value: Vec<u8>,
}

/// Why LDIF input was refused. Line numbers count physical lines from 1.
#[derive(Debug, thiserror::Error)]
pub enum LdifError {
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("LDIF input is {size} bytes, limit is {limit}")]
    TooLarge {
        /// The input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A line that does not follow the RFC 2849 grammar.
    #[error("LDIF line {line}: {reason}")]
    Syntax {
        /// Where the logical line starts.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `::` value that is not valid base64.
    #[error("LDIF line {line}: invalid base64 in {attribute}: {source}")]
    Base64 {
        /// Where the logical line starts.
        line: usize,
        /// The attribute (or `dn`).
        attribute: String,
        /// The decoder's complaint.
        source: base64::DecodeError,
    },
    /// A `:<` value: pecd never fetches URLs named inside the index.
    #[error("LDIF line {line}: URL values (`{attribute}:<`) are not supported")]
    UrlValue {
        /// Where the logical line starts.
        line: usize,
        /// The attribute.
        attribute: String,
    },
    /// A change record other than `changetype: add`.
    #[error("LDIF line {line}: changetype `{changetype}` is not supported (only `add`)")]
    ChangeType {
        /// Where the logical line starts.
        line: usize,
        /// The change type as written.
        changetype: String,
    },
    /// A `version:` other than 1.
    #[error("LDIF line {line}: unsupported LDIF version `{version}`")]
    Version {
        /// Where the logical line starts.
        line: usize,
        /// The version as written.
        version: String,
    },
}

impl Entry {
    /// The values of attribute type `name`: case-insensitive, options (`;binary`) ignored.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.attributes
            .iter()
            .filter(move |attribute| attribute.kind().eq_ignore_ascii_case(name))
            .map(|attribute| attribute.value.as_slice())
    }

    /// The first value of `name` as text, or `None` when absent or not UTF-8.
    pub fn first_str(&self, name: &str) -> Option<&str> {
        self.values(name)
            .next()
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Appends one value of `name`.
    pub fn push(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.attributes.push(Attribute {
            name: name.to_owned(),
            value: value.into(),
        });
    }
}

impl Attribute {
    /// The attribute type without options: `providerCertificate` for
    /// `providerCertificate;binary`.
    pub fn kind(&self) -> &str {
        self.name.split(';').next().unwrap_or_default()
    }

    /// Whether the `binary` transfer option is present.
    pub fn is_binary(&self) -> bool {
        self.name
            .split(';')
            .skip(1)
            .any(|option| option.eq_ignore_ascii_case("binary"))
    }
}

/// Parses a whole LDIF file (content records, optionally `changetype: add` records).
pub fn parse(input: &[u8]) -> Result<Vec<Entry>, LdifError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(LdifError::TooLarge {
            size: input.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let records = records(input)?;
    let mut entries = Vec::with_capacity(records.len());
    for (index, mut record) in records.into_iter().enumerate() {
        if index == 0 && take_version(&mut record)? && record.is_empty() {
            continue;
        }
        entries.push(parse_record(&record)?);
    }
    Ok(entries)
}

/// Writes one entry as an LDIF record ending in `\n` (no blank line after it).
///
/// Values that are not RFC 2849 SAFE-STRINGs, and every `;binary` value, are written
/// with `::` base64; lines are folded at 76 bytes. The output is ASCII.
pub fn write_entry(entry: &Entry) -> String {
    let mut out = String::new();
    write_line(&mut out, "dn", entry.dn.as_bytes(), false);
    for attribute in &entry.attributes {
        write_line(
            &mut out,
            &attribute.name,
            &attribute.value,
            attribute.is_binary(),
        );
    }
    out
}

/// Writes a whole file: `version: 1` and the entries separated by blank lines.
pub fn write(entries: &[Entry]) -> String {
    let mut out = String::from("version: 1\n");
    for entry in entries {
        out.push('\n');
        out.push_str(&write_entry(entry));
    }
    out
}

/// The fuzz oracle: whatever parses must survive its own serialization unchanged.
#[doc(hidden)]
#[allow(clippy::panic, clippy::expect_used)]
pub fn fuzz_ldif(data: &[u8]) {
    let _ = crate::pec::index::ProvidersIndex::from_ldif(data);
    let Ok(first) = parse(data) else { return };
    for entry in &first {
        let written = write_entry(entry);
        let again = parse(written.as_bytes()).expect("own output parses");
        assert_eq!(again.as_slice(), std::slice::from_ref(entry), "{written}");
    }
    let again = parse(write(&first).as_bytes()).expect("own file parses");
    assert_eq!(again, first);
}

/// A logical line (folding undone) and the physical line it starts on.
struct Line {
    number: usize,
    text: Vec<u8>,
}

/// Splits the input into records of logical lines, dropping comments.
fn records(input: &[u8]) -> Result<Vec<Vec<Line>>, LdifError> {
    let mut records: Vec<Vec<Line>> = Vec::new();
    let mut current: Vec<Line> = Vec::new();
    // Whether the previous physical line was a comment (its continuations are dropped).
    let mut in_comment = false;
    let mut physical = input.split(|&byte| byte == b'\n').peekable();
    let mut number = 0;
    while let Some(raw) = physical.next() {
        number += 1;
        // `split` yields one empty piece after a final `\n`: that is not a line.
        if raw.is_empty() && physical.peek().is_none() {
            break;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix(b" ") {
            if in_comment {
                continue;
            }
            if let Some(last) = current.last_mut() {
                last.text.extend_from_slice(rest);
                continue;
            }
            if !is_blank(raw) {
                return Err(LdifError::Syntax {
                    line: number,
                    reason: "continuation line with no line to continue",
                });
            }
        }
        in_comment = raw.first() == Some(&b'#');
        if in_comment {
            continue;
        }
        if is_blank(raw) {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push(Line {
            number,
            text: raw.to_vec(),
        });
    }
    if !current.is_empty() {
        records.push(current);
    }
    Ok(records)
}

/// Consumes a leading `version: 1` line, if any.
fn take_version(record: &mut Vec<Line>) -> Result<bool, LdifError> {
    let Some(first) = record.first() else {
        return Ok(false);
    };
    let Some((name, value)) = split_line(first)? else {
        return Ok(false);
    };
    if !name.eq_ignore_ascii_case("version") {
        return Ok(false);
    }
    let version = plain_text(first, "version", &value)?;
    if version != "1" {
        return Err(LdifError::Version {
            line: first.number,
            version,
        });
    }
    record.remove(0);
    Ok(true)
}

/// Parses one record: `dn`, optional `changetype: add`, then attribute values.
fn parse_record(record: &[Line]) -> Result<Entry, LdifError> {
    let mut lines = record.iter();
    let Some(first) = lines.next() else {
        return Err(LdifError::Syntax {
            line: 0,
            reason: "empty record",
        });
    };
    let dn = match split_line(first)? {
        Some((name, value)) if name.eq_ignore_ascii_case("dn") => plain_text(first, "dn", &value)?,
        _ => {
            return Err(LdifError::Syntax {
                line: first.number,
                reason: "a record must start with `dn:`",
            });
        }
    };
    let mut entry = Entry {
        dn,
        attributes: Vec::new(),
    };
    for (position, line) in lines.enumerate() {
        let Some((name, value)) = split_line(line)? else {
            return Err(LdifError::Syntax {
                line: line.number,
                reason: "`-` separators belong to modify records, which are not supported",
            });
        };
        if name.eq_ignore_ascii_case("changetype") {
            if position != 0 {
                return Err(syntax(line, "`changetype:` must directly follow `dn:`"));
            }
            let changetype = plain_text(line, "changetype", &value)?;
            if !changetype.eq_ignore_ascii_case("add") {
                return Err(LdifError::ChangeType {
                    line: line.number,
                    changetype,
                });
            }
            continue;
        }
        if name.eq_ignore_ascii_case("control") {
            return Err(syntax(line, "LDAP controls are not supported"));
        }
        if name.eq_ignore_ascii_case("dn") {
            return Err(syntax(
                line,
                "second `dn:` in a record (missing blank line?)",
            ));
        }
        let value = value.decode(line, &name)?;
        entry.attributes.push(Attribute { name, value });
    }
    if entry.attributes.is_empty() {
        return Err(syntax(first, "a record needs at least one attribute value"));
    }
    Ok(entry)
}

/// The value part of a line, before decoding.
enum RawValue<'a> {
    /// `name: text`
    Plain(&'a [u8]),
    /// `name:: base64`
    Base64(&'a [u8]),
}

impl RawValue<'_> {
    fn decode(&self, line: &Line, attribute: &str) -> Result<Vec<u8>, LdifError> {
        match self {
            RawValue::Plain(text) => {
                if text.iter().any(|&byte| byte == 0 || byte == b'\r') {
                    return Err(syntax(line, "NUL or CR in a plain value (use `::` base64)"));
                }
                Ok(text.to_vec())
            }
            RawValue::Base64(text) => STANDARD.decode(text).map_err(|source| LdifError::Base64 {
                line: line.number,
                attribute: attribute.to_owned(),
                source,
            }),
        }
    }
}

/// Splits `name: value`, `name:: value`; `None` for a lone `-`.
fn split_line(line: &Line) -> Result<Option<(String, RawValue<'_>)>, LdifError> {
    let text = line.text.as_slice();
    if text == b"-" {
        return Ok(None);
    }
    let Some(colon) = text.iter().position(|&byte| byte == b':') else {
        return Err(syntax(line, "expected `name: value`"));
    };
    let (name, rest) = text.split_at(colon);
    let rest = rest.get(1..).unwrap_or_default();
    if !is_attribute_description(name) {
        return Err(syntax(line, "invalid attribute name"));
    }
    // Checked ASCII by `is_attribute_description`.
    let name = String::from_utf8_lossy(name).into_owned();
    let value = match rest.first() {
        Some(b':') => RawValue::Base64(trim(rest.get(1..).unwrap_or_default())),
        Some(b'<') => {
            return Err(LdifError::UrlValue {
                line: line.number,
                attribute: name,
            });
        }
        _ => RawValue::Plain(trim(rest)),
    };
    Ok(Some((name, value)))
}

/// A value that must be text (`dn`, `version`, `changetype`).
fn plain_text(line: &Line, name: &str, value: &RawValue<'_>) -> Result<String, LdifError> {
    let bytes = value.decode(line, name)?;
    String::from_utf8(bytes).map_err(|_| syntax(line, "value is not valid UTF-8"))
}

/// RFC 2849 `AttributeDescription`: a name or OID, then `;option`s.
fn is_attribute_description(name: &[u8]) -> bool {
    let mut parts = name.split(|&byte| byte == b';');
    let kind = parts.next().unwrap_or_default();
    let is_name = kind.first().is_some_and(u8::is_ascii_alphabetic)
        && kind.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-');
    let is_oid = kind.first().is_some_and(u8::is_ascii_digit)
        && kind.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    (is_name || is_oid)
        && parts.all(|option| {
            !option.is_empty()
                && option
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Drops the FILL spaces after the colon and trailing whitespace.
fn trim(mut value: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(|&byte| byte == b' ' || byte == b'\t')
}

fn syntax(line: &Line, reason: &'static str) -> LdifError {
    LdifError::Syntax {
        line: line.number,
        reason,
    }
}

/// RFC 2849 SAFE-STRING, plus: no trailing whitespace (the reader drops it).
fn is_safe(value: &[u8]) -> bool {
    let starts_ok = !matches!(value.first(), Some(b' ' | b':' | b'<'));
    let ends_ok = !matches!(value.last(), Some(b' ' | b'\t'));
    starts_ok
        && ends_ok
        && value
            .iter()
            .all(|&byte| byte.is_ascii() && !matches!(byte, 0 | b'\r' | b'\n'))
}

/// Appends `name: value` (or `name:: base64`), folded.
fn write_line(out: &mut String, name: &str, value: &[u8], binary: bool) {
    let mut line = String::with_capacity(name.len() + value.len() + 3);
    line.push_str(name);
    if binary || !is_safe(value) {
        line.push_str(":: ");
        line.push_str(&STANDARD.encode(value));
    } else if value.is_empty() {
        line.push(':');
    } else {
        line.push_str(": ");
        // `is_safe` checked that every byte is ASCII.
        line.push_str(&String::from_utf8_lossy(value));
    }
    fold(out, &line);
}

/// Appends `line` folded at [`FOLD_WIDTH`]; `line` is ASCII, so byte splits are safe.
fn fold(out: &mut String, line: &str) {
    let mut rest = line;
    let mut width = FOLD_WIDTH;
    loop {
        let (head, tail) = rest.split_at(width.min(rest.len()));
        out.push_str(head);
        out.push('\n');
        if tail.is_empty() {
            break;
        }
        out.push(' ');
        rest = tail;
        width = FOLD_WIDTH - 1;
    }
}

#[cfg(test)]
mod tests {
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
        let input =
            "# head\n folded comment\nversion: 1\n\n# before\ndn: o=x\n# inside\n more\na: b\n";
        let entry = one(input);
        assert_eq!(entry.attributes.len(), 1);
        assert_eq!(entry.first_str("a"), Some("b"));
    }

    #[test]
    fn crlf_blank_and_whitespace_lines_separate_records() {
        let input =
            "version: 1\r\n\r\ndn: a=1\r\nx: 1  \r\n\t \r\n \r\ndn: a=2\r\nx: 2\r\n\r\n\r\n";
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
        let entries = parse(include_bytes!("../../tests/data/index/two-providers.ldif")).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(parse(write(&entries).as_bytes()).unwrap(), entries);
    }

    #[test]
    fn fuzz_oracle_holds_on_the_corpus_seeds() {
        for seed in [
            &include_bytes!("../../tests/data/index/two-providers.ldif")[..],
            b"version: 1\n\ndn:: IG89eCA=\na:: IA==\nb:\n",
            b"dn: o=x\r\nchangetype: add\r\na: \tb \t\r\n",
            b"\xff\xfe",
        ] {
            fuzz_ldif(seed);
        }
    }
}
