//! P02: one record per outage of the PEC service in a quadrimestre ([`super::downtime`]).

use serde::Serialize;

use super::Period;
use super::Record;
use super::StatsError;
use super::downtime;
use super::downtime::PeriodOutages;
use crate::config::Config;
use crate::store::Store;

/// The P02 record.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct P02 {
    /// The provider's code.
    #[serde(rename = "CodGestPEC")]
    pub code: String,
    /// 1–3.
    #[serde(rename = "Quadrimestre")]
    pub quadrimestre: u8,
    /// The day of the year the outage began (Italian time), three digits.
    #[serde(rename = "Giorno")]
    pub day: String,
    /// The year.
    #[serde(rename = "Anno")]
    pub year: i16,
    /// `01` planned, `02` incident, `03` malfunction.
    #[serde(rename = "TipoDisservizio")]
    pub kind: String,
    /// Minutes, rounded up.
    #[serde(rename = "Durata")]
    pub minutes: i64,
    /// `S` when the service level held, `N` otherwise.
    #[serde(rename = "SLA")]
    pub sla: String,
}

impl Record for P02 {
    const FIELDS: &'static [&'static str] = &[
        "CodGestPEC",
        "Quadrimestre",
        "Giorno",
        "Anno",
        "TipoDisservizio",
        "Durata",
        "SLA",
    ];
}

/// The records of `period`'s outages.
pub fn records(code: &str, period: &Period, outages: &[downtime::Outage]) -> Vec<P02> {
    let within = PeriodOutages::new(outages, period);
    within
        .outages
        .iter()
        .map(|outage| P02 {
            code: code.to_string(),
            quadrimestre: period.number,
            day: format!("{:03}", Period::day_of_year(outage.start)),
            year: period.year,
            kind: outage.kind.code().to_string(),
            minutes: outage.minutes(),
            sla: if within.sla_respected(outage) {
                "S"
            } else {
                "N"
            }
            .to_string(),
        })
        .collect()
}

/// Every outage the store knows of, recorded or detected.
pub fn all_outages(store: &Store) -> Result<Vec<downtime::Outage>, StatsError> {
    let (recorded, runs) = store.read(|tx| Ok((tx.outages().recorded()?, tx.outages().runs()?)))?;
    Ok(downtime::outages(&recorded, &runs))
}

/// P02 of quadrimestre `number` of `year`, from `store`.
pub fn make(config: &Config, store: &Store, year: i16, number: u8) -> Result<Vec<P02>, StatsError> {
    let code = super::code(config)?;
    let period = Period::quadrimestre(year, number)?;
    Ok(records(&code, &period, &all_outages(store)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outages::OutageType;

    #[test]
    fn each_outage_is_a_row_with_its_day_type_minutes_and_service_level() {
        let at = |text: &str| text.parse().unwrap();
        let outages = [
            downtime::Outage {
                start: at("2026-09-01T03:00:00Z"),
                end: at("2026-09-01T03:30:00Z"),
                kind: OutageType::Planned,
                detected: false,
            },
            downtime::Outage {
                start: at("2026-12-31T20:00:00Z"),
                end: at("2026-12-31T23:10:00Z"),
                kind: OutageType::Incident,
                detected: true,
            },
        ];
        let period = Period::quadrimestre(2026, 3).unwrap();
        let mut csv = Vec::new();
        crate::stats::write_csv(&mut csv, &records("TIN-97735020584", &period, &outages)).unwrap();
        // The second is cut at midnight in Rome: 3 hours inside Q3, more than half of
        // the 0.2 % of the quadrimestre (about 176 minutes).
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "CodGestPEC,Quadrimestre,Giorno,Anno,TipoDisservizio,Durata,SLA\r\n\
             TIN-97735020584,3,244,2026,01,30,S\r\n\
             TIN-97735020584,3,365,2026,02,180,N\r\n"
        );
        let mut empty = Vec::new();
        crate::stats::write_csv::<P02>(&mut empty, &[]).unwrap();
        assert_eq!(
            empty,
            b"CodGestPEC,Quadrimestre,Giorno,Anno,TipoDisservizio,Durata,SLA\r\n"
        );
    }
}
