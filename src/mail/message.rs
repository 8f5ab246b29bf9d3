//! A received RFC 5322 message: its raw bytes plus header access, wrapping mail-parser.
//! Header names match case-insensitively (providers write `X-Tiporicevuta` too).

use std::borrow::Cow;

use mail_parser::HeaderValue;
use mail_parser::MessageParser;

/// Why bytes are not a message we can read.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum MessageError {
    /// mail-parser found no header section at all.
    #[error("not an RFC 5322 message")]
    NotAMessage,
    /// The message exceeds the size pecd reads.
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES} byte limit")]
    TooLarge(usize),
}

/// The largest message pecd parses (well above the DM art. 12 minimum of 30 MB for a
/// single recipient, plus envelope overhead).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

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
        let parsed = MessageParser::default()
            .parse(raw)
            .ok_or(MessageError::NotAMessage)?;
        if parsed.parts.is_empty() || parsed.headers().is_empty() {
            return Err(MessageError::NotAMessage);
        }
        Ok(Message { parsed, raw })
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
mod tests {
    use super::*;

    #[test]
    fn reads_headers_case_insensitively() {
        let raw = b"From: A <a@x.it>\r\nX-Tiporicevuta: breve\r\nTo: b@y.it,\r\n c@z.it\r\nSubject: =?utf-8?q?Caff=C3=A8?=\r\n\r\nbody\r\n";
        let message = Message::parse(raw).unwrap();
        assert_eq!(message.text("X-TipoRicevuta").as_deref(), Some("breve"));
        assert_eq!(message.addresses("to"), ["b@y.it", "c@z.it"]);
        assert_eq!(message.subject().as_deref(), Some("Caffè"));
        assert_eq!(message.raw_values("TO"), ["b@y.it,\r\n c@z.it"]);
    }

    #[test]
    fn bytes_without_a_header_field_are_not_a_message() {
        assert_eq!(
            Message::parse(b"\x00\x01 not a message").err(),
            Some(MessageError::NotAMessage)
        );
        assert_eq!(Message::parse(b"").err(), Some(MessageError::NotAMessage));
        assert_eq!(
            Message::parse(b"no colon here\r\n\r\n").err(),
            Some(MessageError::NotAMessage)
        );
    }

    #[test]
    fn canonicalizes_line_ends() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn rewrites_header_section_keeping_body() {
        let raw =
            b"Message-ID: <a@b>\r\nSubject: x\r\nReceived: one\r\n two\r\n\r\nMessage-ID: body\r\n";
        let out = rewrite_headers(
            raw,
            &["message-id", "received"],
            &[("Message-ID".into(), "<n@p>".into())],
        );
        assert_eq!(
            out,
            b"Message-ID: <n@p>\r\nSubject: x\r\n\r\nMessage-ID: body\r\n"
        );
    }
}
