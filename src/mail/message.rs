//! A received RFC 5322 message: its raw bytes plus header access, wrapping mail-parser.
//! Header names match case-insensitively (providers write `X-Tiporicevuta` too).

use std::borrow::Cow;

use mail_parser::HeaderValue;
use mail_parser::MessageParser;
use mail_parser::PartType;

/// Why bytes are not a message we can read.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum MessageError {
    /// mail-parser found no header section at all.
    #[error("not an RFC 5322 message")]
    NotAMessage,
    /// The message exceeds the size pecd reads.
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES} byte limit")]
    TooLarge(usize),
    /// Messages attached to messages deeper than pecd reads.
    #[error("message/rfc822 parts nested {0} deep, deeper than the {MAX_NESTING_DEPTH} pecd reads")]
    TooDeep(usize),
    /// An attached message (a `message/…` part, or a part of a digest) with a base64
    /// or quoted-printable transfer encoding, which RFC 2046 §5.2.1 does not allow.
    #[error("an attached message is base64 or quoted-printable encoded (RFC 2046 §5.2.1)")]
    EncodedMessage,
    /// More `message/…` types and digests named than pecd parses (see
    /// [`MAX_MESSAGE_TYPES_NAMED`]).
    #[error(
        "{0} message/… types or digests named, more than the {MAX_MESSAGE_TYPES_NAMED} pecd parses"
    )]
    TooManyMessageTypes(usize),
}

/// The largest message pecd parses (well above the DM art. 12 minimum of 30 MB for a
/// single recipient, plus envelope overhead).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// The deepest nesting of messages attached to messages (`message/rfc822` parts) pecd
/// reads: 0 for a message without any, 1 for one with a message attached. A PEC
/// message nests what it carries one level down (the busta di trasporto holds
/// `postacert.eml`), so every reader must agree on one limit, and the access point
/// refuses what would not fit ([`ACCEPTED_NESTING_DEPTH`]).
pub const MAX_NESTING_DEPTH: usize = 32;

/// The most `message/…` types and `digest`s (whose parts are messages) a message may
/// name for pecd to parse it. mail-parser nests each attached message inside its parent
/// and frees that tree by recursion, so a message nesting tens of thousands of them
/// (a few megabytes) would overflow the stack and abort the process. Each level of
/// nesting has to name one of them, so this bounds the depth before parsing.
pub const MAX_MESSAGE_TYPES_NAMED: usize = 1000;

/// The deepest nesting the access point accepts in a user's message: the busta di
/// trasporto adds a level, and a busta di anomalia around the busta another, and both
/// stay readable.
pub const ACCEPTED_NESTING_DEPTH: usize = MAX_NESTING_DEPTH - 2;

/// How deep messages attached to messages nest in `raw` (see [`Message::nesting_depth`]).
/// Parses only when `raw` names a `message/…` type or a digest: most messages attach
/// no message, and the caller has parsed them once already.
pub fn nesting_depth_of(raw: &[u8]) -> Result<usize, MessageError> {
    if attached_message_types(raw).is_empty() {
        return Ok(0);
    }
    Message::parse(raw).map(|message| message.nesting_depth())
}

/// The Content-Type fields of `raw`, at any depth, that name a type mail-parser nests
/// a message for (`message/rfc822`, `message/global`, and `multipart/digest`, whose
/// parts are messages by default), with their offsets: how many there are bounds how
/// deep it can nest messages in `raw`, found without parsing. Encoded parts are not
/// looked into (see [`encoded_message_part`]).
fn attached_message_types(raw: &[u8]) -> Vec<(usize, String)> {
    content_types(raw)
        .filter(|(_, media)| nests(media) || media == DIGEST)
        .collect()
}

const DIGEST: &str = "multipart/digest";

/// Whether mail-parser parses a part of this media type as an attached message.
fn nests(media: &str) -> bool {
    media == "message/rfc822" || media == "message/global"
}

/// Whether a part mail-parser would read as an attached message declares a base64 or
/// quoted-printable transfer encoding. mail-parser decodes such a part and parses it by
/// recursion, so the nesting inside it is out of reach of [`attached_message_types`]; and
/// RFC 2046 §5.2.1 allows neither encoding there. Found without parsing: the header
/// block of each attached message's Content-Type, and every part of a message with a
/// digest (whose parts are messages by default).
fn encoded_message_part(raw: &[u8], types: &[(usize, String)]) -> bool {
    if types.iter().any(|(_, media)| media == DIGEST) {
        return declares_encoding(raw);
    }
    types
        .iter()
        .any(|(at, _)| declares_encoding(header_block(raw, *at)))
}

/// Every line of `raw` that is a Content-Type field, at any depth, with its offset
/// and its media type: lowercase `type/subtype`, the value unfolded and comments
/// dropped.
fn content_types(raw: &[u8]) -> impl Iterator<Item = (usize, String)> + '_ {
    const FIELD: &[u8] = b"content-type";
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', raw).map(|at| at + 1))
        .filter_map(move |at| {
            let line = raw.get(at..)?;
            if !line.get(..FIELD.len())?.eq_ignore_ascii_case(FIELD) {
                return None;
            }
            let rest = &line[FIELD.len()..];
            let colon = rest.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
            (rest[colon] == b':').then(|| (at, media_type(&rest[colon + 1..])))
        })
}

/// The media type a field value starts with: up to the first `;` or the end of the
/// field (a line break not followed by a blank), comments and blanks dropped.
fn media_type(value: &[u8]) -> String {
    const LONGEST: usize = 1024;
    let mut media = String::new();
    let mut comment_depth = 0usize;
    let mut previous = 0u8;
    for &byte in value.iter().take(LONGEST) {
        match byte {
            b'\n' => {
                previous = byte;
                continue;
            }
            _ if previous == b'\n' && !matches!(byte, b' ' | b'\t') => break,
            b'(' => comment_depth += 1,
            b')' => comment_depth = comment_depth.saturating_sub(1),
            b';' if comment_depth == 0 => break,
            _ if comment_depth == 0 && !byte.is_ascii_whitespace() => {
                media.push(char::from(byte.to_ascii_lowercase()));
            }
            _ => {}
        }
        previous = byte;
    }
    media
}

/// The header block around `at`: from the blank line before it to the blank line
/// after it, within a window (header blocks are small; the bound keeps a message that
/// names many types from costing more than linear time).
fn header_block(raw: &[u8], at: usize) -> &[u8] {
    const WINDOW: usize = 16 * 1024;
    let earliest = at.saturating_sub(WINDOW);
    let before = &raw[earliest..at];
    let start = memchr::memmem::rfind(before, b"\n\n")
        .or_else(|| memchr::memmem::rfind(before, b"\n\r\n"))
        .map_or(earliest, |found| earliest + found + 1);
    let latest = raw.len().min(at + WINDOW);
    let after = &raw[at..latest];
    let end = [b"\n\n".as_slice(), b"\n\r\n"]
        .iter()
        .filter_map(|blank| memchr::memmem::find(after, blank))
        .min()
        .map_or(latest, |found| at + found);
    &raw[start..end]
}

/// Whether `block` has a Content-Transfer-Encoding line naming base64 or
/// quoted-printable.
fn declares_encoding(block: &[u8]) -> bool {
    const FIELD: &[u8] = b"content-transfer-encoding";
    block
        .split(|&byte| byte == b'\n')
        .filter(|line| {
            line.get(..FIELD.len())
                .is_some_and(|name| name.eq_ignore_ascii_case(FIELD))
        })
        .any(|line| {
            let value = String::from_utf8_lossy(&line[FIELD.len()..]).to_ascii_lowercase();
            value.contains("base64") || value.contains("quoted-printable")
        })
}

/// A parsed message borrowing its bytes.
pub struct Message<'a> {
    parsed: mail_parser::Message<'a>,
    raw: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses a message; headers only need to be present, the body may be anything.
    pub fn parse(raw: &'a [u8]) -> Result<Message<'a>, MessageError> {
        if raw.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(raw.len()));
        }
        if !starts_with_header_field(raw) {
            return Err(MessageError::NotAMessage);
        }
        let types = attached_message_types(raw);
        if types.len() > MAX_MESSAGE_TYPES_NAMED {
            return Err(MessageError::TooManyMessageTypes(types.len()));
        }
        if encoded_message_part(raw, &types) {
            return Err(MessageError::EncodedMessage);
        }
        let parsed = MessageParser::default()
            .parse(raw)
            .ok_or(MessageError::NotAMessage)?;
        if parsed.parts.is_empty() || parsed.headers().is_empty() {
            return Err(MessageError::NotAMessage);
        }
        let message = Message { parsed, raw };
        match message.nesting_depth() {
            depth if depth > MAX_NESTING_DEPTH => Err(MessageError::TooDeep(depth)),
            _ => Ok(message),
        }
    }

    /// How deep messages attached to messages nest in this one (see
    /// [`MAX_NESTING_DEPTH`]). Walked with a list, not by recursion: the depth is the
    /// sender's choice.
    pub fn nesting_depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(&self.parsed, 0)];
        while let Some((message, depth)) = pending.pop() {
            deepest = deepest.max(depth);
            for part in &message.parts {
                if let PartType::Message(nested) = &part.body {
                    pending.push((nested, depth + 1));
                }
            }
        }
        deepest
    }

    /// The bytes the message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The mail-parser view, for MIME walking.
    pub fn parsed(&self) -> &mail_parser::Message<'a> {
        &self.parsed
    }

    /// The raw values (as on the wire, folding kept, trimmed) of every top-level header
    /// with this name, in order.
    pub fn raw_values(&self, name: &str) -> Vec<&'a str> {
        self.parsed
            .headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(|h| self.raw.get(h.offset_start as usize..h.offset_end as usize))
            .filter_map(|bytes| std::str::from_utf8(bytes).ok())
            .map(str::trim)
            .collect()
    }

    /// The first value of a header, decoded (RFC 2047) and unfolded.
    pub fn text(&self, name: &str) -> Option<String> {
        let header = self
            .parsed
            .headers()
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
        let text = match &header.value {
            HeaderValue::Text(text) => text.to_string(),
            HeaderValue::TextList(list) => list.join(", "),
            _ => {
                let bytes = self
                    .raw
                    .get(header.offset_start as usize..header.offset_end as usize)?;
                unfold(&String::from_utf8_lossy(bytes))
            }
        };
        Some(text.trim().to_string())
    }

    /// The bare addresses of every top-level header with this name (To, Cc, …), in order.
    pub fn addresses(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for header in self
            .parsed
            .headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        {
            if let HeaderValue::Address(address) = &header.value {
                out.extend(
                    address
                        .iter()
                        .filter_map(|a| a.address.as_deref())
                        .map(str::to_string),
                );
            }
        }
        out
    }

    /// The first `Message-ID`, with angle brackets.
    pub fn message_id(&self) -> Option<String> {
        self.parsed.message_id().map(|id| format!("<{id}>"))
    }

    /// The decoded Subject.
    pub fn subject(&self) -> Option<String> {
        self.parsed.subject().map(str::to_string)
    }

    /// Whether any top-level header has this name.
    pub fn has(&self, name: &str) -> bool {
        self.parsed
            .headers()
            .iter()
            .any(|h| h.name.as_str().eq_ignore_ascii_case(name))
    }
}

/// One mailbox of an address field as a reader's client shows it: the display name
/// (decoded, comments included) and the address.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Mailbox {
    /// The display name, or the name of the group it belongs to.
    pub name: Option<String>,
    /// The bare address, when there is one.
    pub address: Option<String>,
}

/// The top-level header section alone, parsed without the body: for checks on fields
/// that [`Message`]'s readers do not keep, at the cost of the header section only.
pub struct HeaderSection<'a> {
    parsed: mail_parser::Message<'a>,
}

impl<'a> HeaderSection<'a> {
    /// Parses the header section of `raw`; `None` when there is none.
    pub fn parse(raw: &'a [u8]) -> Option<HeaderSection<'a>> {
        if !starts_with_header_field(raw) {
            return None;
        }
        let parsed = MessageParser::default().parse_headers(raw)?;
        Some(HeaderSection { parsed })
    }

    /// How many fields with this name there are.
    pub fn count(&self, name: &str) -> usize {
        self.parsed
            .headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .count()
    }

    /// Every mailbox of every field with this name, in order. A group contributes its
    /// name as a mailbox without address, then its members under that name.
    pub fn mailboxes(&self, name: &str) -> Vec<Mailbox> {
        let mut out = Vec::new();
        for header in self
            .parsed
            .headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        {
            match &header.value {
                HeaderValue::Address(mail_parser::Address::List(list)) => {
                    out.extend(list.iter().map(|a| mailbox(a.name.as_deref(), a)));
                }
                HeaderValue::Address(mail_parser::Address::Group(groups)) => {
                    for group in groups {
                        out.push(Mailbox {
                            name: group.name.as_deref().map(str::to_string),
                            address: None,
                        });
                        let shown = group.name.as_deref();
                        out.extend(
                            group
                                .addresses
                                .iter()
                                .map(|a| mailbox(a.name.as_deref().or(shown), a)),
                        );
                    }
                }
                _ => out.push(Mailbox::default()),
            }
        }
        out
    }
}

fn mailbox(name: Option<&str>, address: &mail_parser::Addr<'_>) -> Mailbox {
    Mailbox {
        name: name.map(str::to_string),
        address: address.address.as_deref().map(str::to_string),
    }
}

/// Converts bare LF (and lone CR) line ends to CRLF, the canonical form SMTP carries
/// and signatures cover. Borrows when the input already is canonical.
pub fn to_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    let canonical = bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\n' => i > 0 && bytes.get(i - 1) == Some(&b'\r'),
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        _ => true,
    });
    if canonical {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut iter = bytes.iter().peekable();
    while let Some(&b) = iter.next() {
        match b {
            b'\r' => {
                if iter.peek() == Some(&&b'\n') {
                    iter.next();
                }
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    Cow::Owned(out)
}

/// Rewrites the top-level header section of a CRLF message: drops every field named in
/// `remove` (case-insensitive, with its folded continuation lines) and puts `prepend`
/// first. The body is untouched.
pub fn rewrite_headers(raw: &[u8], remove: &[&str], prepend: &[(String, String)]) -> Vec<u8> {
    let (head, body) = split_header_section(raw);
    let mut out = Vec::with_capacity(raw.len() + 256);
    for (name, value) in prepend {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut dropping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            dropping = remove.iter().any(|r| r.eq_ignore_ascii_case(name.trim()));
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// Splits at the first empty line: (header lines incl. their CRLFs, blank line + body).
pub fn split_header_section(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"\r\n") {
        return (&[], raw);
    }
    match memchr::memmem::find(raw, b"\r\n\r\n") {
        Some(at) => raw.split_at(at + 2),
        None => (raw, &[]),
    }
}

/// Whether the bytes open with an RFC 5322 header field: `name:` where the name is one
/// or more printable ASCII characters other than the colon (ftext, §3.6.8).
fn starts_with_header_field(raw: &[u8]) -> bool {
    let name_len = raw
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && b != b':')
        .count();
    name_len > 0 && raw.get(name_len) == Some(&b':')
}

fn unfold(value: &str) -> String {
    value.replace("\r\n", "").replace('\n', "")
}

#[cfg(test)]
mod tests;
