//! A message as SEARCH reads it (RFC 3501 §6.4.4): header values with RFC 2047 words
//! decoded, the text of its parts decoded to UTF-8, and the date of its `Date:` field.
//! Everything is lower-cased once, so the string keys are plain substring tests.

use mail_parser::decoders::charsets::map::charset_decoder;

use crate::imap::message::mime::Entity;
use crate::imap::message::mime::Kind;
use crate::imap::message::section;
use crate::mail::header_index;

/// The searchable text of one message.
#[derive(Debug, Default)]
pub struct SearchText {
    /// Top-level header fields: lower-case name, lower-case decoded value.
    headers: Vec<(String, String)>,
    /// The decoded text of every part, encapsulated messages' headers included.
    body: String,
    /// The `Date:` field's calendar day, in its own time zone.
    sent: Option<CivilDay>,
}

/// A calendar day as a count of days since 1970-01-01 (negative before), the form in
/// which SEARCH compares dates whatever their source.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub struct CivilDay(pub i64);

impl SearchText {
    /// Reads a raw message; bytes that are not a message give empty text.
    pub fn parse(raw: &[u8]) -> SearchText {
        let root = Entity::message(raw);
        let mut text = SearchText::default();
        for (name, value, date) in decoded_fields(root.header) {
            text.sent = text.sent.or(date);
            text.headers.push((name, value));
        }
        let mut body = String::new();
        append_body(&root, &mut body);
        text.body = body.to_lowercase();
        text
    }

    /// The decoded, lower-cased values of the top-level fields called `name`.
    pub fn header_values<'t>(&'t self, name: &str) -> impl Iterator<Item = &'t str> {
        let name = name.to_lowercase();
        self.headers
            .iter()
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every top-level field as (lower-case name, lower-case decoded value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The decoded, lower-cased text of the body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The day of the `Date:` field, disregarding time and time zone; `None` when the
    /// field is absent or unreadable.
    pub fn sent(&self) -> Option<CivilDay> {
        self.sent
    }
}

impl CivilDay {
    /// The day of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    pub fn from_ymd(year: i64, month: i64, day: i64) -> CivilDay {
        CivilDay(header_index::civil_day(year, month, day))
    }

    /// The UTC day of an instant.
    pub fn of_timestamp(timestamp: jiff::Timestamp) -> CivilDay {
        CivilDay(timestamp.as_second().div_euclid(86_400))
    }
}

/// The fields of a header as (lower-case name, lower-case decoded value, the day if it
/// is a readable `Date:`), decoded as the header index decodes them, so that a search
/// answered from the index and one answered from the message agree.
fn decoded_fields(header: &[u8]) -> Vec<(String, String, Option<CivilDay>)> {
    header_index::decoded_fields(header)
        .into_iter()
        .map(|(name, value, sent)| (name, value.to_lowercase(), sent.map(|s| CivilDay(s.day))))
        .collect()
}

/// Appends the decoded text of every leaf below `entity`; an encapsulated message
/// contributes its header too, since it is part of the enclosing message's body.
/// Text parts are decoded from their charset; other leaves count when their decoded
/// bytes are UTF-8 (daticert.xml is), so signatures and images are skipped.
fn append_body(entity: &Entity<'_>, out: &mut String) {
    match &entity.kind {
        Kind::Multipart(children) => children.iter().for_each(|child| append_body(child, out)),
        Kind::Message(inner) => {
            for (name, value, _) in decoded_fields(inner.header) {
                out.push_str(&name);
                out.push_str(": ");
                out.push_str(&value);
                out.push('\n');
            }
            append_body(inner, out);
        }
        Kind::Single => {
            // Only text is searched: decoding signatures, PDFs and images for nothing
            // was most of SEARCH's time. XML (daticert.xml) is text.
            let textual = entity.content.is("text", None)
                || entity.content.is("application", Some("xml"))
                || entity.content.is("message", None);
            if !textual {
                return;
            }
            let bytes = section::content(entity).unwrap_or_else(|_| entity.body.to_vec());
            if entity.content.is("text", None) {
                let charset = entity
                    .content
                    .parameters
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("charset"))
                    .map(|(_, value)| value.as_bytes());
                let decoder = charset.and_then(charset_decoder);
                match decoder {
                    Some(decode) => out.push_str(&decode(&bytes)),
                    None => out.push_str(&String::from_utf8_lossy(&bytes)),
                }
                out.push('\n');
            } else if let Ok(text) = std::str::from_utf8(&bytes) {
                out.push_str(text);
                out.push('\n');
            }
        }
    }
}
