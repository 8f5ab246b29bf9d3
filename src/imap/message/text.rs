//! A message as SEARCH reads it (RFC 3501 §6.4.4): header values with RFC 2047 words
//! decoded, the text of its parts decoded to UTF-8, and the date of its `Date:` field.
//! Everything is lower-cased once, so the string keys are plain substring tests.

use std::borrow::Cow;

use mail_parser::HeaderName;
use mail_parser::HeaderValue;
use mail_parser::MessageParser;
use mail_parser::decoders::charsets::map::charset_decoder;

use crate::imap::message::mime::Entity;
use crate::imap::message::mime::Kind;
use crate::imap::message::mime::unfold;
use crate::imap::message::section;

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
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_index = (month + 9) % 12;
        let day_of_year = (153 * month_index + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        CivilDay(era * 146_097 + day_of_era - 719_468)
    }

    /// The UTC day of an instant.
    pub fn of_timestamp(timestamp: jiff::Timestamp) -> CivilDay {
        CivilDay(timestamp.as_second().div_euclid(86_400))
    }
}

/// The fields of a header as (lower-case name, lower-case decoded value, the day if it
/// is a readable `Date:`). Only mail-parser's header parser runs here: its body parser
/// can trip a debug assertion on hostile MIME (mail-parser 0.11.9,
/// `parsers/message.rs:485`), and the MIME tree is ours anyway.
fn decoded_fields(header: &[u8]) -> Vec<(String, String, Option<CivilDay>)> {
    let parsed = MessageParser::new()
        .header_date(HeaderName::Date)
        .default_header_text()
        .parse_headers(header);
    let Some(part) = parsed.and_then(|message| message.parts.into_iter().next()) else {
        return Vec::new();
    };
    part.headers
        .iter()
        .map(|field| {
            let date = match (&field.name, &field.value) {
                (HeaderName::Date, HeaderValue::DateTime(date)) if date.is_valid() => {
                    Some(CivilDay::from_ymd(
                        i64::from(date.year),
                        i64::from(date.month),
                        i64::from(date.day),
                    ))
                }
                _ => None,
            };
            let value = value_text(field, header).to_lowercase();
            (field.name().to_lowercase(), value, date)
        })
        .collect()
}

/// A header's value as text: decoded when mail-parser kept it as text, else the raw
/// field value.
fn value_text<'m>(header: &'m mail_parser::Header<'_>, raw: &'m [u8]) -> Cow<'m, str> {
    match &header.value {
        HeaderValue::Text(text) => Cow::Borrowed(text.as_ref()),
        HeaderValue::TextList(list) => Cow::Owned(list.join(" ")),
        _ => {
            let start = usize::try_from(header.offset_start).unwrap_or(usize::MAX);
            let end = usize::try_from(header.offset_end).unwrap_or(usize::MAX);
            let bytes = raw.get(start..end).unwrap_or_default();
            Cow::Owned(String::from_utf8_lossy(&unfold(bytes)).into_owned())
        }
    }
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
