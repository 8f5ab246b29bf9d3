//! The periods of the AgID statistics: quadrimestri for PEC (P01, P02), semestri for
//! conservation (C01). Their days are Italian days: a period runs from midnight in
//! Europe/Rome on its first day to midnight after its last.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::StatsError;

/// One period: from `start` (included) to `end` (excluded).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Period {
    /// The year.
    pub year: i16,
    /// Its number within the year: the quadrimestre (1–3) or semestre (1–2).
    pub number: u8,
    /// The first instant.
    pub start: Timestamp,
    /// The first instant after it.
    pub end: Timestamp,
}

impl Period {
    /// Quadrimestre `number` of `year`: Q1 January–April, Q2 May–August, Q3
    /// September–December.
    pub fn quadrimestre(year: i16, number: u8) -> Result<Period, StatsError> {
        if !(1..=3).contains(&number) {
            return Err(StatsError::Period(format!(
                "quadrimestre {number} is not 1, 2 or 3"
            )));
        }
        Period::months(year, number, 4)
    }

    /// Semestre `number` of `year`: S1 January–June, S2 July–December.
    pub fn semestre(year: i16, number: u8) -> Result<Period, StatsError> {
        if !(1..=2).contains(&number) {
            return Err(StatsError::Period(format!(
                "semestre {number} is not 1 or 2"
            )));
        }
        Period::months(year, number, 6)
    }

    fn months(year: i16, number: u8, length: i8) -> Result<Period, StatsError> {
        if !(2000..=9998).contains(&year) {
            return Err(StatsError::Period(format!("year {year} is out of range")));
        }
        let first_month = (i8::try_from(number).unwrap_or(1) - 1) * length + 1;
        let first = Date::new(year, first_month, 1).map_err(period_error)?;
        let next = first
            .checked_add(jiff::Span::new().months(length))
            .map_err(period_error)?;
        Ok(Period {
            year,
            number,
            start: midnight(first)?,
            end: midnight(next)?,
        })
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> i64 {
        self.end.as_second() - self.start.as_second()
    }

    /// Whether `time` falls in it.
    pub fn contains(&self, time: Timestamp) -> bool {
        self.start <= time && time < self.end
    }

    /// The day of the year (1–366, Italian time) of an instant.
    pub fn day_of_year(time: Timestamp) -> i16 {
        time.to_zoned(rome()).day_of_year()
    }
}

/// Italian civil time.
fn rome() -> TimeZone {
    TimeZone::get("Europe/Rome").unwrap_or(TimeZone::UTC)
}

fn midnight(date: Date) -> Result<Timestamp, StatsError> {
    date.to_zoned(rome())
        .map(|zoned| zoned.timestamp())
        .map_err(period_error)
}

fn period_error(error: jiff::Error) -> StatsError {
    StatsError::Period(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrimestri_and_semestri_run_on_italian_days() {
        let q1 = Period::quadrimestre(2026, 1).unwrap();
        assert_eq!(q1.start, "2025-12-31T23:00:00Z".parse().unwrap());
        assert_eq!(q1.end, "2026-04-30T22:00:00Z".parse().unwrap());
        let q3 = Period::quadrimestre(2026, 3).unwrap();
        assert_eq!(q3.start, "2026-08-31T22:00:00Z".parse().unwrap());
        assert_eq!(q3.end, "2026-12-31T23:00:00Z".parse().unwrap());
        let s2 = Period::semestre(2026, 2).unwrap();
        assert_eq!(s2.start, "2026-06-30T22:00:00Z".parse().unwrap());
        // 184 days, one of them 25 hours long.
        assert_eq!(s2.seconds(), 184 * 86_400 + 3600);
        // Q1 of a leap year holds 121 days, one of them 23 hours long.
        assert_eq!(
            Period::quadrimestre(2028, 1).unwrap().seconds(),
            121 * 86_400 - 3600
        );
        assert!(Period::quadrimestre(2026, 4).is_err());
        assert!(Period::semestre(2026, 0).is_err());
        assert!(Period::semestre(-3, 1).is_err());
        assert_eq!(
            Period::day_of_year("2026-12-31T23:30:00Z".parse().unwrap()),
            1
        );
        assert_eq!(
            Period::day_of_year("2026-02-01T10:00:00Z".parse().unwrap()),
            32
        );
    }
}
