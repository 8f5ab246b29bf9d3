//! C01: the conservation service's figures of one semestre (see [`super`] for what
//! each field counts).

use serde::Serialize;

use super::Period;
use super::Record;
use super::StatsError;
use super::downtime;
use super::downtime::PeriodOutages;
use crate::config::Config;
use crate::conservation::archive::PackageRecord;
use crate::store::Store;
use crate::store::mailbox::Mailbox;
use crate::store::outages::OutageType;

/// The C01 record.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct C01 {
    /// The conservator's code.
    #[serde(rename = "CodConservatore")]
    pub code: String,
    /// 1–2.
    #[serde(rename = "Semestre")]
    pub semestre: u8,
    /// The year.
    #[serde(rename = "Anno")]
    pub year: i16,
    /// Contracts with public administrations.
    #[serde(rename = "ContrattiPA")]
    pub contracts_pa: u64,
    /// Contracts with private parties.
    #[serde(rename = "ContrattiPrivati")]
    pub contracts_private: u64,
    /// Documents ingested.
    #[serde(rename = "DocumentiAcquisiti")]
    pub documents: u64,
    /// Storage in use at the end of the semester, GB with two decimals.
    #[serde(rename = "MemoriaImpegnata")]
    pub storage_gb: String,
    /// Availability, percent with two decimals (rounded down).
    #[serde(rename = "DisponibilitàServizio")]
    pub availability: String,
    /// Interruptions.
    #[serde(rename = "InterruzioniServizio")]
    pub interruptions: u64,
    /// Planned interruptions.
    #[serde(rename = "InterruzioneTipo1")]
    pub planned: u64,
    /// Incidents.
    #[serde(rename = "InterruzioneTipo2")]
    pub incidents: u64,
    /// Malfunctions.
    #[serde(rename = "InterruzioneTipo3")]
    pub malfunctions: u64,
    /// The longest interruption, minutes.
    #[serde(rename = "InterruzioneMax")]
    pub longest_minutes: i64,
    /// Mean minutes to restore the service after incidents and malfunctions.
    #[serde(rename = "TempoMedioRipristino")]
    pub mean_restore_minutes: i64,
}

impl Record for C01 {
    const FIELDS: &'static [&'static str] = &[
        "CodConservatore",
        "Semestre",
        "Anno",
        "ContrattiPA",
        "ContrattiPrivati",
        "DocumentiAcquisiti",
        "MemoriaImpegnata",
        "DisponibilitàServizio",
        "InterruzioniServizio",
        "InterruzioneTipo1",
        "InterruzioneTipo2",
        "InterruzioneTipo3",
        "InterruzioneMax",
        "TempoMedioRipristino",
    ];
}

/// What C01 is made of.
pub struct Sources<'a> {
    /// Every mailbox.
    pub mailboxes: &'a [Mailbox],
    /// The enti that are public administrations.
    pub pa_enti: &'a [String],
    /// Every conservation package.
    pub packages: &'a [PackageRecord],
    /// Every outage.
    pub outages: &'a [downtime::Outage],
}

/// The record of `period`.
pub fn record(code: &str, period: &Period, sources: &Sources<'_>) -> C01 {
    let contracts = sources
        .mailboxes
        .iter()
        .filter(|m| m.created < period.end && super::in_service(m) && m.conservation != "off");
    let (pa, private): (Vec<&Mailbox>, Vec<&Mailbox>) =
        contracts.partition(|m| sources.pa_enti.contains(&m.profile.ente));
    let sealed = sources
        .packages
        .iter()
        .filter(|p| period.contains(p.created));
    let bytes: u64 = sources
        .packages
        .iter()
        .filter(|p| p.created < period.end)
        .map(|p| p.bytes)
        .sum();
    let within = PeriodOutages::new(sources.outages, period);
    let count = |kind: OutageType| within.outages.iter().filter(|o| o.kind == kind).count() as u64;
    let restored: Vec<i64> = within
        .outages
        .iter()
        .filter(|o| o.kind != OutageType::Planned)
        .map(downtime::Outage::minutes)
        .collect();
    let availability = within.availability_basis_points(period);
    C01 {
        code: code.to_string(),
        semestre: period.number,
        year: period.year,
        contracts_pa: pa.len() as u64,
        contracts_private: private.len() as u64,
        documents: sealed.map(|p| p.messages.len() as u64).sum(),
        // Hundredths of a GB, rounded to nearest.
        storage_gb: hundredths((bytes + 5_000_000) / 10_000_000),
        availability: hundredths(u64::try_from(availability).unwrap_or(0)),
        interruptions: within.outages.len() as u64,
        planned: count(OutageType::Planned),
        incidents: count(OutageType::Incident),
        malfunctions: count(OutageType::Malfunction),
        longest_minutes: within
            .outages
            .iter()
            .map(downtime::Outage::minutes)
            .max()
            .unwrap_or(0),
        mean_restore_minutes: mean_rounded(&restored),
    }
}

/// `1234` as `12.34`.
fn hundredths(value: u64) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

fn mean_rounded(values: &[i64]) -> i64 {
    match i64::try_from(values.len()) {
        Ok(n) if n > 0 => (values.iter().sum::<i64>() * 2 + n) / (2 * n),
        _ => 0,
    }
}

/// C01 of semestre `number` of `year`, from `store`.
pub fn make(config: &Config, store: &Store, year: i16, number: u8) -> Result<C01, StatsError> {
    let code = super::code(config)?;
    let period = Period::semestre(year, number)?;
    let (mailboxes, packages) = store.read(|tx| {
        Ok((
            tx.mailboxes().list()?,
            tx.conservation().packages::<PackageRecord>()?,
        ))
    })?;
    let outages = super::p02::all_outages(store)?;
    let sources = Sources {
        mailboxes: &mailboxes,
        pa_enti: &config.stats.pa_enti,
        packages: &packages,
        outages: &outages,
    };
    Ok(record(&code, &period, &sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_rounding() {
        assert_eq!(hundredths(0), "0.00");
        assert_eq!(hundredths(10_000), "100.00");
        assert_eq!(hundredths(9_987), "99.87");
        assert_eq!(mean_rounded(&[]), 0);
        assert_eq!(mean_rounded(&[1, 2]), 2);
        assert_eq!(mean_rounded(&[10, 20, 31]), 20);
    }
}
