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
mod tests;
