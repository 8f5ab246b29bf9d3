//! APPEND with several messages (MULTIAPPEND, RFC 3502) or messages put together from
//! pieces (CATENATE, RFC 4469), which imap-codec's APPEND does not parse: read here
//! from the framed command (its literals are inside it), only after the codec refused
//! the command. Pure: bytes in, values out.
//!
//! ```text
//! append     = tag SP "APPEND" SP mailbox 1*(SP message)
//! message    = [flag-list SP] [date-time SP] (literal / literal8 / catenate)
//! catenate   = "CATENATE" SP "(" part *(SP part) ")"
//! part       = "TEXT" SP literal / "URL" SP astring
//! ```

use jiff::Timestamp;

use super::reader::Reader;

/// One message of an APPEND.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AppendMessage {
    /// Its flags, as written.
    pub flags: Vec<String>,
    /// Its internal date, when given.
    pub date: Option<Timestamp>,
    /// What it is made of: one literal, or the CATENATE parts.
    pub parts: Vec<Part>,
}

/// A piece of a message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Part {
    /// Bytes as sent.
    Text(Vec<u8>),
    /// An IMAP URL naming a message or part of one on this server (RFC 5092).
    Url(String),
}

/// An APPEND the codec could not read.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Appends {
    /// The target folder, as named (INBOX case-folded by the session).
    pub mailbox: String,
    /// The messages, in order.
    pub messages: Vec<AppendMessage>,
}

/// The messages of an APPEND whose arguments start at `args_at`; `None` when it is
/// not one this reads.
pub(super) fn parse(message: &[u8], args_at: usize) -> Option<Appends> {
    let mut reader = Reader::new(message, args_at);
    let mailbox = String::from_utf8(reader.astring()?).ok()?;
    let mut messages = Vec::new();
    while reader.space() {
        messages.push(reader.message()?);
    }
    (reader.rest() == b"\r\n" && !messages.is_empty()).then_some(Appends { mailbox, messages })
}

impl Reader<'_> {
    fn message(&mut self) -> Option<AppendMessage> {
        let mut flags = Vec::new();
        if self.rest().first() == Some(&b'(') {
            let close = self.rest().iter().position(|b| *b == b')')?;
            let inside = std::str::from_utf8(&self.rest()[1..close]).ok()?;
            flags = inside.split_whitespace().map(str::to_string).collect();
            self.advance(close + 1);
            if !self.space() {
                return None;
            }
        }
        let mut date = None;
        if self.rest().first() == Some(&b'"') {
            date = Some(parse_date(&self.quoted()?)?);
            if !self.space() {
                return None;
            }
        }
        let parts = if self.eat(b"CATENATE (") {
            self.catenate()?
        } else {
            vec![Part::Text(self.literal()?)]
        };
        Some(AppendMessage { flags, date, parts })
    }

    fn catenate(&mut self) -> Option<Vec<Part>> {
        let mut parts = Vec::new();
        loop {
            if self.eat(b"TEXT ") {
                parts.push(Part::Text(self.literal()?));
            } else if self.eat(b"URL ") {
                parts.push(Part::Url(String::from_utf8(self.astring()?).ok()?));
            } else {
                return None;
            }
            if self.eat(b")") {
                return Some(parts);
            }
            if !self.space() {
                return None;
            }
        }
    }
}

/// `dd-Mon-yyyy hh:mm:ss +zzzz` (RFC 3501 date-time; the day may be space-padded).
fn parse_date(bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?.trim_start();
    jiff::fmt::strtime::parse("%d-%b-%Y %H:%M:%S %z", text)
        .ok()?
        .to_timestamp()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appends(line: &[u8]) -> Option<Appends> {
        parse(line, b"a APPEND ".len())
    }

    #[test]
    fn several_messages_with_flags_and_dates() {
        let parsed = appends(
            b"a APPEND Box (\\Seen) \" 4-Mar-2007 23:00:00 +0200\" {2}\r\nm1 ~{2}\r\nm2\r\n",
        )
        .unwrap();
        assert_eq!(parsed.mailbox, "Box");
        assert_eq!(parsed.messages.len(), 2);
        assert_eq!(parsed.messages[0].flags, ["\\Seen"]);
        assert_eq!(
            parsed.messages[0].date.unwrap().to_string(),
            "2007-03-04T21:00:00Z"
        );
        assert_eq!(parsed.messages[1].parts, [Part::Text(b"m2".to_vec())]);
    }

    #[test]
    fn catenate_parts() {
        let parsed = appends(
            b"a APPEND \"Box 2\" CATENATE (URL \"/Box;UIDVALIDITY=1/;UID=3/;SECTION=HEADER\" TEXT {3+}\r\nxyz) {1}\r\nz\r\n",
        )
        .unwrap();
        assert_eq!(parsed.mailbox, "Box 2");
        assert_eq!(
            parsed.messages[0].parts,
            [
                Part::Url("/Box;UIDVALIDITY=1/;UID=3/;SECTION=HEADER".into()),
                Part::Text(b"xyz".to_vec()),
            ]
        );
        assert_eq!(parsed.messages[1].parts, [Part::Text(b"z".to_vec())]);
    }

    #[test]
    fn anything_else_is_not_read() {
        for line in [
            &b"a APPEND Box\r\n"[..],
            b"a APPEND Box {5}\r\nab\r\n",
            b"a APPEND Box CATENATE (FOO x)\r\n",
            b"a APPEND Box CATENATE (TEXT {1}\r\nx\r\n",
            b"a APPEND Box \"bad date\" {1}\r\nx\r\n",
        ] {
            assert_eq!(appends(line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
