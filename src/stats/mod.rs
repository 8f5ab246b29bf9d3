//! The statistics a PEC provider and conservator sends to AgID (`pecd stats`), from
//! the tracciato record "dati statistici" 1.1 (`../shared/spec/agid-statistics.md`):
//! P01 per quadrimestre, P02 one record per outage, C01 per semestre, each a CSV file
//! whose header row is the record's field names.
//!
//! Every count comes from the store, most from the registro ([`crate::store::log`]),
//! the hash-chained record of every certified fact, so a figure can be traced to the
//! events behind it (`pecd log query --since … --until …`). An event counts in the
//! period that holds its time. The mapping:
//!
//! | field | what is counted |
//! |---|---|
//! | NumDomini | the provider's domain and every managed domain (`pecd domain add`) added before the period's end |
//! | NumCaselle | mailboxes created before the period's end and in service now (active or suspended; not pending, not deleted) |
//! | MsgUscita | `accepted` events: one per ricevuta di accettazione issued |
//! | MsgIngresso | `taken-in-charge` events whose sender is outside our domains: one per ricevuta di presa in carico issued to another provider (our users' mail to each other passes the same points, but is no PEC-to-PEC traffic) |
//! | VirusIngresso | `virus-detected` events of the punto di ricezione (they name no local mailbox: the message came from another provider) |
//! | VirusUscita | `virus-detected` events of the punto di accesso (they name the submitting mailbox) |
//! | P02 rows | the outages of [`downtime`]: recorded with `pecd outage add`, or detected between the daemon's runs |
//! | ContrattiPA / ContrattiPrivati | mailboxes in service at the semester's end whose conservation rule is not `off`, by whether their ente is in `[stats] pa_enti` |
//! | DocumentiAcquisiti | messages in the conservation packages sealed in the semester |
//! | MemoriaImpegnata | payload of every package sealed before the semester's end, in GB (10⁹ bytes, two decimals) |
//! | DisponibilitàServizio … TempoMedioRipristino | the semester's outages (the gateway runs in the daemon: its outages are the daemon's) |
//!
//! The registro keeps 30 months: a period older than that has lost its events.

pub mod c01;
pub mod downtime;
pub mod p01;
pub mod p02;
pub mod period;
pub mod uptime;

use std::io::Write;

use serde::Serialize;

use crate::config::Config;
use crate::store::StoreError;

pub use period::Period;

/// Why a statistic could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The period asked for does not exist.
    #[error("{0}")]
    Period(String),
    /// No `[provider] codice`.
    #[error(
        "the statistics need [provider] codice (TIN-<codice fiscale>, VAT-<partita IVA> or IPA-<code>)"
    )]
    NoCode,
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the CSV failed.
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// The provider's code for the records.
pub fn code(config: &Config) -> Result<String, StatsError> {
    match config.provider.codice.as_str() {
        "" => Err(StatsError::NoCode),
        code => Ok(code.to_string()),
    }
}

/// A record type: its field names, in order, as the header row.
pub trait Record: Serialize {
    /// The field names.
    const FIELDS: &'static [&'static str];
}

/// Writes `rows` as CSV with the header row, also when there are none.
pub fn write_csv<R: Record>(out: &mut dyn Write, rows: &[R]) -> Result<(), StatsError> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer.write_record(R::FIELDS)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// The domains this provider manages: its own and those added.
fn local_domains(config: &Config, added: &[crate::store::management::Domain]) -> Vec<String> {
    let mut domains = vec![config.provider.domain.to_ascii_lowercase()];
    for domain in added {
        let name = domain.name.to_ascii_lowercase();
        if !domains.contains(&name) {
            domains.push(name);
        }
    }
    domains
}

/// Whether a mailbox is in service (counted as a casella).
fn in_service(mailbox: &crate::store::mailbox::Mailbox) -> bool {
    use crate::store::mailbox::MailboxState;
    matches!(
        mailbox.state,
        MailboxState::Active | MailboxState::Suspended
    )
}
