//! A message's top-level header as IMAP SEARCH, SORT and THREAD read it (RFC 3501
//! §6.4.4, RFC 5256): every field unfolded with its RFC 2047 words decoded, the
//! instant and calendar day of `Date:`, and the first address of `From:`, `To:` and
//! `Cc:`. Made once per body (at delivery, APPEND or first use) and kept in the store,
//! so those commands read a few hundred bytes per message instead of the message.
//!
//! Generic over the string type: [`HeaderIndex<String>`] is what [`HeaderIndex::of`]
//! makes, [`HeaderIndex<&str>`] what the store hands out, borrowed from its pages.

use std::borrow::Cow;

use mail_parser::Addr;
use mail_parser::Address;
use mail_parser::HeaderName;
use mail_parser::HeaderValue;
use mail_parser::MessageParser;

/// One message's searchable, sortable header.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct HeaderIndex<S> {
    /// Every top-level field in order: lower-case name, value unfolded and decoded,
    /// its case kept (sorting compares titlecase, searching lower case).
    pub fields: Vec<(S, S)>,
    /// The `Date:` field, when present and readable.
    pub sent: Option<Sent>,
    /// The first address of `From:`, `To:` and `Cc:`, in that order.
    pub first: [Option<FirstAddress<S>>; 3],
    /// Every address of `From:`, `To:`, `Cc:` and `Bcc:` as parsed, comments and
    /// folding gone: (lower-case field name, `name <mailbox@host>` or `group:`). The
    /// address keys of SEARCH match these as well as the field's text, so that
    /// `user@host` finds `<user (comment)@ host>` (as Dovecot does).
    pub addresses: Vec<(S, S)>,
}

/// The `Date:` field.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Sent {
    /// The instant, in seconds since the epoch (for SORT's DATE, RFC 5256 §3).
    pub seconds: i64,
    /// The calendar day as written, time zone disregarded, in days since 1970-01-01
    /// (for SENTBEFORE, SENTON and SENTSINCE, RFC 3501 §6.4.4).
    pub day: i64,
}

/// The first address of an address field, as its ENVELOPE structure has it (RFC 3501
/// §7.4.2): a group's first entry is the group's name as mailbox, without host.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct FirstAddress<S> {
    /// The display name, decoded (empty when none).
    pub name: S,
    /// The local part (`addr-mailbox`), or the group name.
    pub mailbox: S,
    /// The domain (`addr-host`); empty for a group or a bare local part.
    pub host: S,
}

/// Which address field [`HeaderIndex::first`] holds at each place.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum AddressField {
    /// `From:`.
    From = 0,
    /// `To:`.
    To = 1,
    /// `Cc:`.
    Cc = 2,
}

impl HeaderIndex<String> {
    /// The index of a whole message (its header is everything before the first empty
    /// line).
    pub fn of_message(raw: &[u8]) -> HeaderIndex<String> {
        HeaderIndex::of(split_header(raw).0)
    }

    /// The index of a header block. Bytes that are not a header give an empty index.
    pub fn of(header: &[u8]) -> HeaderIndex<String> {
        let mut index = HeaderIndex {
            fields: Vec::new(),
            sent: None,
            first: [None, None, None],
            addresses: Vec::new(),
        };
        for (name, value, sent) in decoded_fields(header) {
            index.sent = index.sent.or(sent);
            index.fields.push((name, value));
        }
        (index.first, index.addresses) = parsed_addresses(header);
        index
    }

    /// The same index, borrowing its strings.
    pub fn view(&self) -> HeaderIndex<&str> {
        HeaderIndex {
            fields: self
                .fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
            sent: self.sent,
            first: self.first.each_ref().map(|first| {
                first.as_ref().map(|first| FirstAddress {
                    name: first.name.as_str(),
                    mailbox: first.mailbox.as_str(),
                    host: first.host.as_str(),
                })
            }),
            addresses: self
                .addresses
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
        }
    }
}

impl<S: AsRef<str>> HeaderIndex<S> {
    /// The decoded values of the fields called `name` (any case), in order.
    pub fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        let name = name.to_lowercase();
        self.fields
            .iter()
            .filter(move |(key, _)| key.as_ref() == name)
            .map(|(_, value)| value.as_ref())
    }

    /// The parsed addresses of the fields called `name` (any case), rendered.
    pub fn addresses<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        let name = name.to_lowercase();
        self.addresses
            .iter()
            .filter(move |(key, _)| key.as_ref() == name)
            .map(|(_, value)| value.as_ref())
    }

    /// The first address of `field`.
    pub fn first_address(&self, field: AddressField) -> Option<&FirstAddress<S>> {
        self.first.get(field as usize).and_then(Option::as_ref)
    }
}

/// Splits a message into header (with the blank line that ends it) and body. Without
/// a blank line the whole message is header, as RFC 3501 §6.4.5 allows.
pub fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    let end = if raw.starts_with(b"\r\n") {
        Some(2)
    } else if raw.starts_with(b"\n") {
        Some(1)
    } else {
        memchr::memchr_iter(b'\n', raw).find_map(|at| {
            let next = raw.get(at + 1..).unwrap_or_default();
            if next.starts_with(b"\r\n") {
                Some(at + 3)
            } else if next.starts_with(b"\n") {
                Some(at + 2)
            } else {
                None
            }
        })
    };
    raw.split_at(end.unwrap_or(raw.len()).min(raw.len()))
}

/// The fields of a header as (lower-case name, decoded value, the `Date:` if it is
/// one and readable). Only mail-parser's header parser runs here: its body parser can
/// trip a debug assertion on hostile MIME (mail-parser 0.11.9, `parsers/message.rs`).
pub fn decoded_fields(header: &[u8]) -> Vec<(String, String, Option<Sent>)> {
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
            let sent = match (&field.name, &field.value) {
                (HeaderName::Date, HeaderValue::DateTime(date)) if date.is_valid() => Some(Sent {
                    seconds: date.to_timestamp(),
                    day: civil_day(
                        i64::from(date.year),
                        i64::from(date.month),
                        i64::from(date.day),
                    ),
                }),
                _ => None,
            };
            let value = value_text(field, header).into_owned();
            (field.name().to_lowercase(), value, sent)
        })
        .collect()
}

/// The day of a proleptic Gregorian date, counted from 1970-01-01 (H. Hinnant's
/// `days_from_civil`).
pub fn civil_day(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A header's value as text: decoded when mail-parser kept it as text, else the raw
/// field value unfolded.
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

/// A header value with its line breaks removed and outer whitespace trimmed (the
/// unfolding of RFC 5322 §2.2.3).
pub fn unfold(value: &[u8]) -> Vec<u8> {
    value
        .trim_ascii()
        .iter()
        .copied()
        .filter(|byte| *byte != b'\r' && *byte != b'\n')
        .collect()
}

/// The first address of the first `From:`, `To:` and `Cc:` fields, and every address
/// of every `From:`, `To:`, `Cc:` and `Bcc:` field, rendered.
type Addresses = ([Option<FirstAddress<String>>; 3], Vec<(String, String)>);

/// Every address of every `From:`, `To:`, `Cc:` and `Bcc:` field of a header, as
/// [`HeaderIndex::addresses`] holds them.
pub fn address_fields(header: &[u8]) -> Vec<(String, String)> {
    parsed_addresses(header).1
}

fn parsed_addresses(header: &[u8]) -> Addresses {
    let parsed = MessageParser::new()
        .header_address(HeaderName::From)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_address(HeaderName::Bcc)
        .default_header_raw()
        .parse_headers(header);
    let headers = parsed
        .as_ref()
        .and_then(|message| message.parts.first())
        .map(|part| part.headers.as_slice())
        .unwrap_or_default();
    let first = |name: HeaderName<'static>| {
        headers
            .iter()
            .find(|header| header.name == name)
            .and_then(|header| header.value.as_address())
            .and_then(first_of)
    };
    let mut rendered = Vec::new();
    for header in headers {
        if let Some(address) = header.value.as_address() {
            let name = header.name.as_str().to_lowercase();
            for text in render(address) {
                rendered.push((name.clone(), text));
            }
        }
    }
    (
        [
            first(HeaderName::From),
            first(HeaderName::To),
            first(HeaderName::Cc),
        ],
        rendered,
    )
}

/// Each address as `name <mailbox@host>` (or `mailbox@host` without a name), each
/// named group as `group:` before its members.
fn render(address: &Address<'_>) -> Vec<String> {
    let one = |addr: &Addr<'_>| {
        let spec = addr.address.as_deref().map(str::trim).unwrap_or_default();
        let name = addr.name.as_deref().map(str::trim).unwrap_or_default();
        match (name.is_empty(), spec.is_empty()) {
            (true, true) => None,
            (true, false) => Some(spec.to_string()),
            (false, true) => Some(name.to_string()),
            (false, false) => Some(format!("{name} <{spec}>")),
        }
    };
    match address {
        Address::List(list) => list.iter().filter_map(one).collect(),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|group| {
                let name = group
                    .name
                    .as_deref()
                    .map(|name| format!("{}:", name.trim()));
                name.into_iter()
                    .chain(group.addresses.iter().filter_map(one))
            })
            .collect(),
    }
}

/// The first entry of an address list as ENVELOPE lists it: a named group's start
/// marker, else its first member.
fn first_of(address: &Address<'_>) -> Option<FirstAddress<String>> {
    match address {
        Address::List(list) => list.iter().find_map(mailbox),
        Address::Group(groups) => groups.iter().find_map(|group| match &group.name {
            Some(name) => Some(FirstAddress {
                name: String::new(),
                mailbox: name.trim().to_string(),
                host: String::new(),
            }),
            None => group.addresses.iter().find_map(mailbox),
        }),
    }
}

fn mailbox(address: &Addr<'_>) -> Option<FirstAddress<String>> {
    let spec = address
        .address
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    let name = address.name.as_deref().map(str::trim).unwrap_or_default();
    if spec.is_empty() && name.is_empty() {
        return None;
    }
    let (mailbox, host) = spec.rsplit_once('@').unwrap_or((spec, ""));
    Some(FirstAddress {
        name: name.to_string(),
        mailbox: mailbox.to_string(),
        host: host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unfolded_and_decoded_with_their_case() {
        let index = HeaderIndex::of_message(
            b"Subject: =?utf-8?q?Atto_di_citazione,_perch=C3=A9?=\r\n urgente\r\n\
              X-A: one\r\nx-a: Two\r\nDate: Tue, 1 Dec 2026 23:30:00 -0100\r\n\r\nbody",
        );
        assert_eq!(
            index.values("SUBJECT").collect::<Vec<_>>(),
            ["Atto di citazione, perché urgente"]
        );
        assert_eq!(index.values("x-a").collect::<Vec<_>>(), ["one", "Two"]);
        let sent = index.sent.unwrap();
        assert_eq!(sent.day, civil_day(2026, 12, 1));
        assert_eq!(sent.seconds, 1_796_171_400);
        assert_eq!(index.view().values("x-a").count(), 2);
    }

    #[test]
    fn first_addresses_follow_envelope() {
        let index = HeaderIndex::of(
            b"From: =?iso-8859-1?q?foo_aar?= <e@f.g>, x@y.z\r\n\
              To: a: xx@xx.org, yy@yy.org;\r\nCc: d\r\n\r\n",
        );
        let from = index.first_address(AddressField::From).unwrap();
        assert_eq!(
            (
                from.name.as_str(),
                from.mailbox.as_str(),
                from.host.as_str()
            ),
            ("foo aar", "e", "f.g")
        );
        let to = index.first_address(AddressField::To).unwrap();
        assert_eq!((to.mailbox.as_str(), to.host.as_str()), ("a", ""));
        assert!(index.first_address(AddressField::Cc).is_some());
        assert_eq!(
            index.addresses("to").collect::<Vec<_>>(),
            ["a:", "xx@xx.org", "yy@yy.org"]
        );
    }

    #[test]
    fn addresses_lose_their_comments() {
        let index = HeaderIndex::of(b"From: <user-from (comment)@ (comment) domain.org>\r\n\r\n");
        let rendered: Vec<&str> = index.addresses("FROM").collect();
        assert!(
            rendered[0].ends_with("<user-from@domain.org>"),
            "{rendered:?}"
        );
    }

    #[test]
    fn garbage_gives_an_empty_index() {
        for bytes in [&b""[..], b"\r\n", b"\xff\xfe:::\r\n\r\n", b"no colon here"] {
            let index = HeaderIndex::of_message(bytes);
            assert!(index.sent.is_none());
        }
    }
}
