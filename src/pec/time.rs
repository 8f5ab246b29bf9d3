//! PEC time values (RFC 6109 §4.1–§4.2): one instant per transaction, shown in legal
//! (local) time as `dd/mm/yyyy`, `hh:mm:ss` and a `+hhmm` offset, to the second.

use std::fmt;

use jiff::Timestamp;
use jiff::Zoned;
use jiff::civil::Date;
use jiff::civil::Time;
use jiff::tz::Offset;

/// The zone Italian legal time follows.
pub const ITALY: &str = "Europe/Rome";

/// A local date and time with its UTC offset, at one-second precision: what daticert's
/// `<data zona="…"><giorno>…</giorno><ora>…</ora></data>` and the human text carry.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct LocalTime {
    date: Date,
    time: Time,
    offset: Offset,
}

/// Why a daticert date could not be read.
#[derive(Clone, Debug, thiserror::Error, Eq, PartialEq)]
pub enum TimeError {
    /// `giorno` is not `dd/mm/yyyy`.
    #[error("giorno {0:?} is not a dd/mm/yyyy date")]
    Day(String),
    /// `ora` is not `hh:mm:ss`.
    #[error("ora {0:?} is not a hh:mm:ss time")]
    Hour(String),
    /// `zona` is not `+hhmm` / `-hhmm`.
    #[error("zona {0:?} is not a +hhmm offset")]
    Zone(String),
}

impl LocalTime {
    /// The local time of an instant in a zone, truncated to the second.
    pub fn from_zoned(zoned: &Zoned) -> LocalTime {
        let civil = zoned.datetime();
        let time = Time::new(civil.hour(), civil.minute(), civil.second(), 0).unwrap_or(Time::MIN);
        LocalTime {
            date: civil.date(),
            time,
            offset: zoned.offset(),
        }
    }

    /// An instant shown in Italian legal time.
    pub fn italian(timestamp: Timestamp) -> LocalTime {
        match jiff::tz::TimeZone::get(ITALY) {
            Ok(zone) => LocalTime::from_zoned(&timestamp.to_zoned(zone)),
            // The zone database is bundled into the binary, so this is unreachable in
            // practice; UTC is still a correct (if less friendly) legal time.
            Err(_) => LocalTime::from_zoned(&timestamp.to_zoned(jiff::tz::TimeZone::UTC)),
        }
    }

    /// Reads the three daticert fields, accepting the spellings real providers use
    /// (`+0100`, `+01:00`, `0100`; surrounding blanks).
    pub fn parse(giorno: &str, ora: &str, zona: &str) -> Result<LocalTime, TimeError> {
        let date = parse_day(giorno.trim()).ok_or_else(|| TimeError::Day(giorno.to_string()))?;
        let time = parse_hour(ora.trim()).ok_or_else(|| TimeError::Hour(ora.to_string()))?;
        let offset = parse_zone(zona.trim()).ok_or_else(|| TimeError::Zone(zona.to_string()))?;
        Ok(LocalTime { date, time, offset })
    }

    /// `giorno`: `dd/mm/yyyy`.
    pub fn giorno(&self) -> String {
        format!(
            "{:02}/{:02}/{:04}",
            self.date.day(),
            self.date.month(),
            self.date.year()
        )
    }

    /// `ora`: `hh:mm:ss`.
    pub fn ora(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}",
            self.time.hour(),
            self.time.minute(),
            self.time.second()
        )
    }

    /// `zona`: `+hhmm` (no colon, as real messages write it).
    pub fn zona(&self) -> String {
        let seconds = self.offset.seconds();
        let sign = if seconds < 0 { '-' } else { '+' };
        let minutes = seconds.unsigned_abs() / 60;
        format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
    }

    /// The instant this local time denotes.
    pub fn timestamp(&self) -> Timestamp {
        self.date
            .to_datetime(self.time)
            .to_zoned(self.offset.to_time_zone())
            .map_or(Timestamp::UNIX_EPOCH, |zoned| zoned.timestamp())
    }

    /// The RFC 5322 `Date:` header value, e.g. `Fri, 14 Nov 2014 18:26:32 +0100`. A
    /// local time jiff cannot place (a year before 0, or at the very end of its range),
    /// which no clock gives, is written as its instant in UTC (`-0000`).
    pub fn rfc5322(&self) -> String {
        let printer = jiff::fmt::rfc2822::DateTimePrinter::new();
        self.date
            .to_datetime(self.time)
            .to_zoned(self.offset.to_time_zone())
            .ok()
            .and_then(|zoned| printer.zoned_to_string(&zoned).ok())
            .or_else(|| printer.timestamp_to_string(&self.timestamp()).ok())
            .unwrap_or_default()
    }
}

impl fmt::Display for LocalTime {
    /// The human form used in the text parts: `14/11/2014 alle ore 18:26:32 (+0100)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} alle ore {} ({})",
            self.giorno(),
            self.ora(),
            self.zona()
        )
    }
}

fn parse_day(text: &str) -> Option<Date> {
    let mut fields = text.split('/');
    let day: i8 = fields.next()?.trim().parse().ok()?;
    let month: i8 = fields.next()?.trim().parse().ok()?;
    let year: i16 = fields.next()?.trim().parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Date::new(year, month, day).ok()
}

fn parse_hour(text: &str) -> Option<Time> {
    let mut fields = text.split(':');
    let hour: i8 = fields.next()?.trim().parse().ok()?;
    let minute: i8 = fields.next()?.trim().parse().ok()?;
    let second: i8 = fields.next().map_or(Some(0), |s| s.trim().parse().ok())?;
    if fields.next().is_some() {
        return None;
    }
    Time::new(hour, minute, second, 0).ok()
}

fn parse_zone(text: &str) -> Option<Offset> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => (1, text),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_real_messages() {
        let t = LocalTime::parse("14/11/2014", "18:26:32", "+0100").unwrap();
        assert_eq!(t.giorno(), "14/11/2014");
        assert_eq!(t.ora(), "18:26:32");
        assert_eq!(t.zona(), "+0100");
        assert_eq!(t.rfc5322(), "Fri, 14 Nov 2014 18:26:32 +0100");
        assert_eq!(t.to_string(), "14/11/2014 alle ore 18:26:32 (+0100)");
        assert_eq!(t.timestamp().to_string(), "2014-11-14T17:26:32Z");
    }

    #[test]
    fn the_date_header_keeps_its_shape() {
        // One-digit day unpadded, four-digit year, a negative offset with its minutes.
        let t = LocalTime::parse("07/12/2026", "01:02:03", "-0530").unwrap();
        assert_eq!(t.rfc5322(), "Mon, 7 Dec 2026 01:02:03 -0530");
        let t = LocalTime::parse("01/01/0999", "00:00:00", "+0000").unwrap();
        assert_eq!(t.rfc5322(), "Tue, 1 Jan 0999 00:00:00 +0000");
    }

    #[test]
    fn italian_time_follows_daylight_saving() {
        let summer = LocalTime::italian("2026-07-01T10:00:00Z".parse().unwrap());
        assert_eq!(
            (summer.ora().as_str(), summer.zona().as_str()),
            ("12:00:00", "+0200")
        );
        let winter = LocalTime::italian("2026-01-01T10:00:00Z".parse().unwrap());
        assert_eq!(winter.zona(), "+0100");
    }

    #[test]
    fn accepts_provider_spellings_and_rejects_garbage() {
        assert!(LocalTime::parse(" 1/2/2020 ", "1:02:03", "+01:00").is_ok());
        assert!(LocalTime::parse("14/11/2014", "18:26:32", "-0500").is_ok());
        assert_eq!(
            LocalTime::parse("2014-11-14", "18:26:32", "+0100"),
            Err(TimeError::Day("2014-11-14".into()))
        );
        assert!(matches!(
            LocalTime::parse("14/11/2014", "25:00:00", "+0100"),
            Err(TimeError::Hour(_))
        ));
        assert!(matches!(
            LocalTime::parse("14/11/2014", "10:00:00", "CET"),
            Err(TimeError::Zone(_))
        ));
        assert!(matches!(
            LocalTime::parse("14/11/2014", "10:00:00", "+é100"),
            Err(TimeError::Zone(_))
        ));
    }
}
