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
    pub packages: &'a [PackageFigures],
    /// Every outage.
    pub outages: &'a [downtime::Outage],
}

/// What C01 counts of a package.
#[derive(Clone, Copy, Debug)]
pub struct PackageFigures {
    /// When it was sealed.
    pub created: jiff::Timestamp,
    /// Its payload bytes.
    pub bytes: u64,
    /// The messages in it.
    pub documents: u64,
}

impl From<&PackageRecord> for PackageFigures {
    fn from(package: &PackageRecord) -> PackageFigures {
        PackageFigures {
            created: package.created,
            bytes: package.bytes,
            documents: package.messages.len() as u64,
        }
    }
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
        documents: sealed.map(|p| p.documents).sum(),
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
    let packages: Vec<PackageFigures> = packages.iter().map(PackageFigures::from).collect();
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
    use crate::store::mailbox::MailboxState;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn mailbox(
        address: &str,
        ente: &str,
        rule: &str,
        state: MailboxState,
        created: &str,
    ) -> Mailbox {
        Mailbox {
            address: address.to_string(),
            password_hash: String::new(),
            state,
            quota_bytes: 0,
            used_bytes: 0,
            receipt_type: "completa".to_string(),
            conservation: rule.to_string(),
            created: at(created),
            profile: crate::store::mailbox::Profile {
                ente: ente.to_string(),
                ..Default::default()
            },
            traffic: Default::default(),
        }
    }

    #[test]
    fn contracts_documents_storage_and_interruptions_of_the_semester() {
        use MailboxState::*;
        let mailboxes = [
            mailbox(
                "a@x.test",
                "Comune di Prova",
                "all-inbound",
                Active,
                "2026-02-01T00:00:00Z",
            ),
            mailbox(
                "b@x.test",
                "Comune di Prova",
                "receipts",
                Suspended,
                "2026-03-01T00:00:00Z",
            ),
            mailbox(
                "c@x.test",
                "Ditta Srl",
                "envelopes",
                Active,
                "2026-03-01T00:00:00Z",
            ),
            // No contract: rule off, deleted, pending, or created after the semester.
            mailbox(
                "d@x.test",
                "Comune di Prova",
                "off",
                Active,
                "2026-03-01T00:00:00Z",
            ),
            mailbox(
                "e@x.test",
                "Ditta Srl",
                "all-inbound",
                Deleted,
                "2026-03-01T00:00:00Z",
            ),
            mailbox(
                "f@x.test",
                "Ditta Srl",
                "all-inbound",
                Pending,
                "2026-03-01T00:00:00Z",
            ),
            mailbox(
                "g@x.test",
                "Ditta Srl",
                "all-inbound",
                Active,
                "2026-07-01T00:00:00Z",
            ),
        ];
        let package = |created: &str, bytes: u64, documents: u64| PackageFigures {
            created: at(created),
            bytes,
            documents,
        };
        let packages = [
            // Sealed in 2025: its bytes count, its documents do not.
            package("2025-12-01T00:00:00Z", 1_500_000_000, 100),
            package("2026-03-01T00:00:00Z", 2_004_999_998, 7),
            package("2026-06-30T21:59:59Z", 1, 5),
            // After midnight of 1 July in Rome: the second semestre.
            package("2026-06-30T22:00:00Z", 9_000_000_000, 50),
        ];
        let outages = [
            downtime::Outage {
                start: at("2026-02-01T10:00:00Z"),
                end: at("2026-02-01T12:00:00Z"),
                kind: OutageType::Planned,
                detected: false,
            },
            downtime::Outage {
                start: at("2026-03-01T10:00:00Z"),
                end: at("2026-03-01T10:10:00Z"),
                kind: OutageType::Incident,
                detected: true,
            },
            downtime::Outage {
                start: at("2026-04-01T10:00:00Z"),
                end: at("2026-04-01T10:21:00Z"),
                kind: OutageType::Malfunction,
                detected: false,
            },
        ];
        let pa_enti = ["Comune di Prova".to_string()];
        let sources = Sources {
            mailboxes: &mailboxes,
            pa_enti: &pa_enti,
            packages: &packages,
            outages: &outages,
        };
        let period = Period::semestre(2026, 1).unwrap();
        let mut csv = Vec::new();
        crate::stats::write_csv(&mut csv, &[record("IPA-c_h501", &period, &sources)]).unwrap();
        // 3.504999999 GB; 151 minutes down of 181 days less the spring-forward hour: 99.94 %.
        assert_eq!(
            String::from_utf8(csv).unwrap().lines().nth(1).unwrap(),
            "IPA-c_h501,1,2026,2,1,12,3.50,99.94,3,1,1,1,120,16"
        );
    }

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
