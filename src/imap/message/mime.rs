//! The MIME tree of a raw message as IMAP numbers it (RFC 3501 §6.4.5): every entity is
//! a header and a body sliced out of the original bytes, so sections are returned
//! byte for byte as stored and sizes are octet counts of exactly those bytes.
//!
//! mail-parser is used only to read the structured fields (`Content-Type`,
//! `Content-Disposition`); the splitting is ours because IMAP fixes where a part ends
//! (before the CRLF that precedes the next boundary, RFC 2046 §5.1.1).

use std::num::NonZeroU32;

use mail_parser::HeaderName;
use mail_parser::HeaderValue;
use mail_parser::MessageParser;

/// Deeper nesting than this is treated as an opaque leaf, so hostile input cannot
/// exhaust the stack of the recursive walkers.
const MAX_DEPTH: usize = 32;

/// One MIME entity: a message, a body part or an encapsulated message.
pub(super) struct Entity<'a> {
    /// The header, including the blank line that ends it (when there is one).
    pub header: &'a [u8],
    /// Everything after the header.
    pub body: &'a [u8],
    /// What `Content-Type` and friends say (or their defaults).
    pub content: Content,
    /// Children, if the entity has any.
    pub kind: Kind<'a>,
}

/// Whether an entity contains others.
pub(super) enum Kind<'a> {
    /// A leaf: its body is the content.
    Single,
    /// `multipart/*`: at least one child (a synthetic empty one if none was found).
    Multipart(Vec<Entity<'a>>),
    /// `message/rfc822`: the encapsulated message.
    Message(Box<Entity<'a>>),
}

/// The MIME header fields BODYSTRUCTURE reports.
pub(super) struct Content {
    /// Media type, e.g. `text`.
    pub media_type: String,
    /// Media subtype, e.g. `plain`.
    pub subtype: String,
    /// `Content-Type` parameters, in order.
    pub parameters: Vec<(String, String)>,
    /// `Content-Disposition` value and parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
}

/// One header field, as sliced from the header.
pub(super) struct Field<'a> {
    /// The field name, as written.
    pub name: &'a [u8],
    /// Everything after the colon, folding kept, final line ending excluded.
    pub value: &'a [u8],
    /// The whole field including its final line ending.
    pub raw: &'a [u8],
}

impl<'a> Entity<'a> {
    /// Parses a whole message (or an encapsulated one).
    pub fn message(raw: &'a [u8]) -> Entity<'a> {
        Entity::parse(raw, DefaultType::Text, 0)
    }

    fn parse(raw: &'a [u8], default: DefaultType, depth: usize) -> Entity<'a> {
        let (header, body) = split_header(raw);
        let content = Content::read(header, default);
        let kind = if depth >= MAX_DEPTH {
            Kind::Single
        } else if content.is("multipart", None) {
            let children = content
                .parameter("boundary")
                .map(|boundary| split_multipart(body, boundary.as_bytes()))
                .unwrap_or_default();
            let child_default = if content.is("multipart", Some("digest")) {
                DefaultType::Message
            } else {
                DefaultType::Text
            };
            let mut children: Vec<Entity<'a>> = children
                .into_iter()
                .map(|part| Entity::parse(part, child_default, depth + 1))
                .collect();
            if children.is_empty() {
                // RFC 3501 needs one body per multipart; Dovecot shows an empty part.
                children.push(Entity::parse(b"", DefaultType::Text, depth + 1));
            }
            Kind::Multipart(children)
        } else if content.is("message", Some("rfc822")) {
            Kind::Message(Box::new(Entity::parse(body, DefaultType::Text, depth + 1)))
        } else {
            Kind::Single
        };
        Entity {
            header,
            body,
            content,
            kind,
        }
    }

    /// The entity a part path names, with the top-level rules of RFC 3501 §6.4.5: in a
    /// message that is not multipart, part 1 is the message's own body.
    pub fn find(&self, path: &[NonZeroU32]) -> Option<&Entity<'a>> {
        let (first, rest) = path.split_first()?;
        let mut current = self.message_part(*first)?;
        for number in rest {
            current = match &current.kind {
                Kind::Multipart(children) => nth(children, *number)?,
                Kind::Message(inner) => inner.message_part(*number)?,
                Kind::Single => return None,
            };
        }
        Some(current)
    }

    /// Part `number` of this entity taken as a message.
    fn message_part(&self, number: NonZeroU32) -> Option<&Entity<'a>> {
        match &self.kind {
            Kind::Multipart(children) => nth(children, number),
            _ if number.get() == 1 => Some(self),
            _ => None,
        }
    }

    /// The value of the first field with this name, unfolded and trimmed.
    pub fn field(&self, name: &str) -> Option<Vec<u8>> {
        fields(self.header)
            .find(|field| field.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|field| unfold(field.value))
    }

    /// `Content-Transfer-Encoding`, lower-cased; `7bit` when absent (RFC 2045 §6.1).
    pub fn transfer_encoding(&self) -> String {
        self.field("Content-Transfer-Encoding")
            .map(|value| String::from_utf8_lossy(&value).to_ascii_lowercase())
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| "7bit".to_string())
    }
}

impl Content {
    fn read(header: &[u8], default: DefaultType) -> Content {
        let parsed = MessageParser::new()
            .header_content_type(HeaderName::ContentType)
            .header_content_type(HeaderName::ContentDisposition)
            .default_header_ignore()
            .parse_headers(header);
        let mut content_type = None;
        let mut disposition = None;
        let headers = parsed
            .as_ref()
            .and_then(|message| message.parts.first())
            .map(|part| part.headers.as_slice())
            .unwrap_or_default();
        for header in headers {
            let HeaderValue::ContentType(value) = &header.value else {
                continue;
            };
            match header.name {
                HeaderName::ContentType if content_type.is_none() => content_type = Some(value),
                HeaderName::ContentDisposition if disposition.is_none() => {
                    disposition = Some(value)
                }
                _ => {}
            }
        }
        let disposition = disposition.map(|value| {
            (
                value.c_type.to_string(),
                attributes(value.attributes.as_deref()),
            )
        });
        match content_type {
            Some(value) if value.c_subtype.is_some() => Content {
                media_type: value.c_type.to_string(),
                subtype: value.c_subtype.as_deref().unwrap_or_default().to_string(),
                parameters: attributes(value.attributes.as_deref()),
                disposition,
            },
            // Absent or unusable: the default of RFC 2045 §5.2 (RFC 2046 §5.1.5 in a digest).
            _ => match default {
                DefaultType::Text => Content {
                    media_type: "text".to_string(),
                    subtype: "plain".to_string(),
                    parameters: vec![("charset".to_string(), "us-ascii".to_string())],
                    disposition,
                },
                DefaultType::Message => Content {
                    media_type: "message".to_string(),
                    subtype: "rfc822".to_string(),
                    parameters: Vec::new(),
                    disposition,
                },
            },
        }
    }

    /// Whether the media type (and subtype, if given) match, case-insensitively.
    pub fn is(&self, media_type: &str, subtype: Option<&str>) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
            && subtype.is_none_or(|subtype| self.subtype.eq_ignore_ascii_case(subtype))
    }

    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The header fields of a header, in order. Lines that are neither a field nor a
/// continuation are skipped. One search for line ends runs through the whole header
/// (a `memchr` per line cost more than the rest of a header FETCH's cut).
pub(super) fn fields(header: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut at = 0;
    let mut line_ends = memchr::memchr_iter(b'\n', header);
    std::iter::from_fn(move || {
        loop {
            let rest = header.get(at..).unwrap_or_default();
            if rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
                return None;
            }
            // The field ends after the first line end not followed by a continuation.
            let mut end = header.len();
            for line_end in line_ends.by_ref() {
                let next = line_end + 1;
                if !matches!(header.get(next), Some(b' ' | b'\t')) {
                    end = next;
                    break;
                }
            }
            let raw = header.get(at..end).unwrap_or_default();
            at = end;
            let Some(colon) = memchr::memchr(b':', raw) else {
                continue;
            };
            let name = trim(raw.get(..colon).unwrap_or_default());
            if name.is_empty() || name.contains(&b'\n') {
                continue;
            }
            let value = raw.get(colon + 1..).unwrap_or_default();
            let value = value
                .strip_suffix(b"\n")
                .map(|value| value.strip_suffix(b"\r").unwrap_or(value))
                .unwrap_or(value);
            return Some(Field { name, value, raw });
        }
    })
}

/// A header value with its line breaks removed and outer whitespace trimmed (the
/// unfolding of RFC 5322 §2.2.3).
pub(super) fn unfold(value: &[u8]) -> Vec<u8> {
    trim(value)
        .iter()
        .copied()
        .filter(|byte| *byte != b'\r' && *byte != b'\n')
        .collect()
}

/// Splits an entity into header (with its blank line) and body. Without a blank line
/// the whole entity is header, as RFC 3501 §6.4.5 allows.
pub(super) fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    crate::mail::header_index::split_header(raw)
}

/// The number of text lines of a body: its line feeds, as Dovecot counts them (a last
/// line without line ending does not count; the CRLF before a boundary is not the
/// part's).
pub(super) fn count_lines(body: &[u8]) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', body).count()).unwrap_or(u32::MAX)
}

/// The body parts of a multipart body (RFC 2046 §5.1.1): the bytes between each
/// delimiter line and the CRLF before the next one. Preamble and epilogue are dropped;
/// a missing close delimiter ends the last part at the end of the body.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for at in memchr::memmem::find_iter(body, &delimiter) {
        if at > 0 && body.get(at - 1) != Some(&b'\n') {
            continue;
        }
        let mut after = at + delimiter.len();
        let close = body
            .get(after..)
            .is_some_and(|rest| rest.starts_with(b"--"));
        if close {
            after += 2;
        }
        while body
            .get(after)
            .is_some_and(|byte| *byte == b' ' || *byte == b'\t')
        {
            after += 1;
        }
        let rest = body.get(after..).unwrap_or_default();
        let next = if rest.starts_with(b"\r\n") {
            after + 2
        } else if rest.starts_with(b"\n") {
            after + 1
        } else if rest.is_empty() {
            after
        } else {
            continue;
        };
        let end = if at >= 2 && body.get(at - 2..at) == Some(b"\r\n") {
            at - 2
        } else {
            at.saturating_sub(1)
        };
        if let Some(begin) = start {
            parts.push(body.get(begin..end.max(begin)).unwrap_or_default());
        }
        if close {
            return parts;
        }
        start = Some(next);
    }
    if let Some(begin) = start {
        parts.push(body.get(begin..).unwrap_or_default());
    }
    parts
}

/// What an entity without a usable `Content-Type` is.
#[derive(Clone, Copy)]
enum DefaultType {
    Text,
    Message,
}

fn nth<'e, 'a>(children: &'e [Entity<'a>], number: NonZeroU32) -> Option<&'e Entity<'a>> {
    children.get(usize::try_from(number.get() - 1).ok()?)
}

fn attributes(attributes: Option<&[mail_parser::Attribute<'_>]>) -> Vec<(String, String)> {
    attributes
        .unwrap_or_default()
        .iter()
        .map(|attribute| (attribute.name.to_string(), attribute.value.to_string()))
        .collect()
}

/// The offset just past the line ending that follows `from`, or the end.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |at| at + 1);
    bytes.get(start..end).unwrap_or_default()
}
