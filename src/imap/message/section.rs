//! BODY[section] (RFC 3501 §6.4.5) and BINARY[section] (RFC 3516 §4.2): bytes cut from
//! the stored message, and content-transfer decoding.

use std::num::NonZeroU32;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::Part;
use imap_codec::imap_types::fetch::Section;

use crate::imap::message::mime::Entity;
use crate::imap::message::mime::Kind;
use crate::imap::message::mime::fields;

/// Why BINARY cannot return a part decoded (RFC 3516 §4.3).
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum BinaryError {
    /// The part's `Content-Transfer-Encoding` is none we decode; the server answers
    /// `NO [UNKNOWN-CTE]`.
    #[error("unknown content-transfer-encoding {0:?}")]
    UnknownCte(String),
}

/// The bytes of `section` (`None` is `BODY[]`, the whole message).
pub(super) fn bytes(root: &Entity<'_>, raw: &[u8], section: Option<&Section<'_>>) -> Vec<u8> {
    let Some(section) = section else {
        return raw.to_vec();
    };
    match section {
        Section::Part(part) => root
            .find(path(part))
            .map(|entity| entity.body.to_vec())
            .unwrap_or_default(),
        Section::Mime(part) => root
            .find(path(part))
            .map(|entity| entity.header.to_vec())
            .unwrap_or_default(),
        Section::Header(part) => message(root, part.as_ref())
            .map(|message| message.header.to_vec())
            .unwrap_or_default(),
        Section::Text(part) => message(root, part.as_ref())
            .map(|message| message.body.to_vec())
            .unwrap_or_default(),
        Section::HeaderFields(part, names) => message(root, part.as_ref())
            .map(|message| header_fields(message.header, names.as_ref(), true))
            .unwrap_or_default(),
        Section::HeaderFieldsNot(part, names) => message(root, part.as_ref())
            .map(|message| header_fields(message.header, names.as_ref(), false))
            .unwrap_or_default(),
    }
}

/// The decoded content of the part at `path` (the whole message when empty).
pub(super) fn decoded(
    root: &Entity<'_>,
    raw: &[u8],
    path: &[NonZeroU32],
) -> Result<Vec<u8>, BinaryError> {
    if path.is_empty() {
        return Ok(raw.to_vec());
    }
    let Some(entity) = root.find(path) else {
        // Like BODY[], a part that is not there is empty rather than an error.
        return Ok(Vec::new());
    };
    content(entity)
}

/// The body of `entity` with its content-transfer-encoding undone.
pub(super) fn content(entity: &Entity<'_>) -> Result<Vec<u8>, BinaryError> {
    // Only leaves are encoded; multiparts and messages must be 7bit/8bit/binary
    // (RFC 2045 §6.4), so their bytes are returned as they are.
    if !matches!(entity.kind, Kind::Single) {
        return Ok(entity.body.to_vec());
    }
    let encoding = entity.transfer_encoding();
    match encoding.as_str() {
        "7bit" | "8bit" | "binary" => Ok(entity.body.to_vec()),
        "base64" => Ok(decode_base64(entity.body)),
        "quoted-printable" => Ok(decode_quoted_printable(entity.body)),
        _ => Err(BinaryError::UnknownCte(encoding)),
    }
}

/// The `<origin.length>` slice of `data` (RFC 3501 §6.4.5): truncated at the end, empty
/// when it starts beyond it.
pub(super) fn partial(mut data: Vec<u8>, partial: Option<(u32, NonZeroU32)>) -> Vec<u8> {
    let Some((origin, length)) = partial else {
        return data;
    };
    let start = usize::try_from(origin)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let length = usize::try_from(length.get()).unwrap_or(usize::MAX);
    let end = start.saturating_add(length).min(data.len());
    data.truncate(end);
    data.drain(..start);
    data
}

fn path(part: &Part) -> &[NonZeroU32] {
    part.0.as_ref()
}

/// The message a HEADER or TEXT section is about: the top one, or the message/rfc822
/// part named (RFC 3501 §6.4.5: these specifiers refer to an encapsulated message).
fn message<'e, 'a>(root: &'e Entity<'a>, part: Option<&Part>) -> Option<&'e Entity<'a>> {
    let Some(part) = part else {
        return Some(root);
    };
    match &root.find(path(part))?.kind {
        Kind::Message(inner) => Some(inner),
        _ => None,
    }
}

/// HEADER.FIELDS (`keep` true) or HEADER.FIELDS.NOT: the fields whose names match (or
/// not) case-insensitively, then the blank line, which "is included in all header
/// fetches".
pub(super) fn header_fields(header: &[u8], names: &[AString<'_>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    header_fields_into(header, names, keep, &mut out);
    out
}

/// [`header_fields`], appended to `out`.
pub(super) fn header_fields_into(
    header: &[u8],
    names: &[AString<'_>],
    keep: bool,
    out: &mut Vec<u8>,
) {
    for field in fields(header) {
        let listed = names
            .iter()
            .any(|name| name.as_ref().eq_ignore_ascii_case(field.name));
        if listed == keep {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Base64 (RFC 2045 §6.8), leniently: characters outside the alphabet are skipped
/// and decoding stops at the first `=`, so no input is an error.
pub(super) fn decode_base64(encoded: &[u8]) -> Vec<u8> {
    use base64::Engine;
    // The fast path: well-formed base64 once line breaks are taken out.
    let compact: Vec<u8> = encoded
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    if let Ok(decoded) = engine.decode(&compact) {
        return decoded;
    }
    decode_base64_leniently(encoded)
}

/// The slow path for damaged base64: bit by bit, skipping what is not base64.
fn decode_base64_leniently(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() / 4 * 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in encoded {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` octets, soft line breaks removed, trailing
/// whitespace of encoded lines dropped; a malformed `=` is kept as it is.
pub(super) fn decode_quoted_printable(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let lines = encoded.split_inclusive(|byte| *byte == b'\n');
    for line in lines {
        let (content, ending): (&[u8], &[u8]) = if let Some(content) = line.strip_suffix(b"\r\n") {
            (content, b"\r\n")
        } else if let Some(content) = line.strip_suffix(b"\n") {
            (content, b"\n")
        } else {
            (line, b"")
        };
        let content = match content
            .iter()
            .rposition(|byte| *byte != b' ' && *byte != b'\t')
        {
            Some(last) => content.get(..=last).unwrap_or_default(),
            None => &[],
        };
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(content) => (content, true),
            None => (content, false),
        };
        let mut index = 0;
        while let Some(byte) = content.get(index) {
            let escaped = (*byte == b'=')
                .then(|| {
                    Some((hex(*content.get(index + 1)?)? << 4) | hex(*content.get(index + 2)?)?)
                })
                .flatten();
            match escaped {
                Some(value) => {
                    out.push(value);
                    index += 3;
                }
                None => {
                    out.push(*byte);
                    index += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}
