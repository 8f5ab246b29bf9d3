//! P01: the PEC service's figures of one quadrimestre (see [`super`] for what each
//! field counts).

use serde::Serialize;

use super::Period;
use super::Record;
use super::StatsError;
use crate::config::Config;
use crate::store::Store;
use crate::store::log::Event;
use crate::store::log::EventKind;

/// The P01 record.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct P01 {
    /// The provider's code.
    #[serde(rename = "CodGestPEC")]
    pub code: String,
    /// 1–3.
    #[serde(rename = "Quadrimestre")]
    pub quadrimestre: u8,
    /// The year.
    #[serde(rename = "Anno")]
    pub year: i16,
    /// Domains.
    #[serde(rename = "NumDomini")]
    pub domains: u64,
    /// Mailboxes.
    #[serde(rename = "NumCaselle")]
    pub mailboxes: u64,
    /// Ricevute di accettazione issued.
    #[serde(rename = "MsgUscita")]
    pub outgoing: u64,
    /// Ricevute di presa in carico issued to other providers.
    #[serde(rename = "MsgIngresso")]
    pub incoming: u64,
    /// Viruses in PEC messages from other providers.
    #[serde(rename = "VirusIngresso")]
    pub virus_incoming: u64,
    /// Viruses in messages our users submitted.
    #[serde(rename = "VirusUscita")]
    pub virus_outgoing: u64,
}

impl Record for P01 {
    const FIELDS: &'static [&'static str] = &[
        "CodGestPEC",
        "Quadrimestre",
        "Anno",
        "NumDomini",
        "NumCaselle",
        "MsgUscita",
        "MsgIngresso",
        "VirusIngresso",
        "VirusUscita",
    ];
}

/// The registro's counts of one period.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Traffic {
    /// MsgUscita.
    pub outgoing: u64,
    /// MsgIngresso.
    pub incoming: u64,
    /// VirusIngresso.
    pub virus_incoming: u64,
    /// VirusUscita.
    pub virus_outgoing: u64,
}

impl Traffic {
    /// Counts `event` if it falls in `period`; `local` are the domains we manage.
    pub fn count(&mut self, event: &Event, period: &Period, local: &[String]) {
        if !period.contains(event.time) {
            return;
        }
        let is_local = |address: &Option<String>| {
            address
                .as_deref()
                .and_then(|a| a.rsplit_once('@'))
                .is_some_and(|(_, domain)| local.iter().any(|l| l.eq_ignore_ascii_case(domain)))
        };
        match event.kind {
            EventKind::Accepted => self.outgoing += 1,
            EventKind::TakenInCharge if !is_local(&event.sender) => self.incoming += 1,
            EventKind::VirusDetected if event.mailbox.is_some() => self.virus_outgoing += 1,
            EventKind::VirusDetected => self.virus_incoming += 1,
            _ => {}
        }
    }
}

/// Counts the events of `period`; `local` are the domains we manage (lower case).
pub fn traffic<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    period: &Period,
    local: &[String],
) -> Traffic {
    let mut counts = Traffic::default();
    for event in events {
        counts.count(event, period, local);
    }
    counts
}

/// P01 of quadrimestre `number` of `year`, from `store`.
pub fn make(config: &Config, store: &Store, year: i16, number: u8) -> Result<P01, StatsError> {
    let code = super::code(config)?;
    let period = Period::quadrimestre(year, number)?;
    let (traffic, domains, mailboxes) = store.read(|tx| {
        let domains = tx.management().domains()?;
        let local = super::local_domains(config, &domains);
        let mut counts = Traffic::default();
        tx.events().scan(period.start, period.end, |event| {
            counts.count(event, &period, &local);
        })?;
        Ok((counts, domains, tx.mailboxes().list()?))
    })?;
    let added = domains
        .iter()
        .filter(|d| d.added < period.end && !d.name.eq_ignore_ascii_case(&config.provider.domain))
        .count();
    let mailboxes = mailboxes
        .iter()
        .filter(|m| m.created < period.end && super::in_service(m))
        .count();
    Ok(P01 {
        code,
        quadrimestre: number,
        year,
        domains: 1 + added as u64,
        mailboxes: mailboxes as u64,
        outgoing: traffic.outgoing,
        incoming: traffic.incoming,
        virus_incoming: traffic.virus_incoming,
        virus_outgoing: traffic.virus_outgoing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, time: &str, sender: &str, mailbox: Option<&str>) -> Event {
        let mut event = Event::new(kind, time.parse().unwrap());
        event.sender = Some(sender.to_string());
        event.mailbox = mailbox.map(str::to_string);
        event
    }

    #[test]
    fn each_field_counts_its_events_of_the_period() {
        let local = vec!["pec-a.test".to_string(), "altro.test".to_string()];
        let q2 = Period::quadrimestre(2026, 2).unwrap();
        let events = [
            event(
                EventKind::Accepted,
                "2026-05-02T10:00:00Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            event(
                EventKind::Accepted,
                "2026-08-31T21:59:59Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            // After midnight in Rome on 1 September: Q3.
            event(
                EventKind::Accepted,
                "2026-08-31T22:00:00Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            // Before 1 May in Rome: Q1.
            event(
                EventKind::Accepted,
                "2026-04-30T21:59:59Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            event(
                EventKind::TakenInCharge,
                "2026-06-01T10:00:00Z",
                "anna@pec-b.test",
                None,
            ),
            event(
                EventKind::TakenInCharge,
                "2026-06-01T10:00:01Z",
                "Anna@PEC-B.test",
                None,
            ),
            // From our own users (either of our domains): no PEC-to-PEC traffic.
            event(
                EventKind::TakenInCharge,
                "2026-06-01T10:00:02Z",
                "mario@pec-a.test",
                None,
            ),
            event(
                EventKind::TakenInCharge,
                "2026-06-01T10:00:03Z",
                "luca@ALTRO.test",
                None,
            ),
            event(
                EventKind::VirusDetected,
                "2026-06-02T10:00:00Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            event(
                EventKind::VirusDetected,
                "2026-06-02T11:00:00Z",
                "anna@pec-b.test",
                None,
            ),
            event(
                EventKind::VirusDetected,
                "2026-06-02T12:00:00Z",
                "eve@pec-c.test",
                None,
            ),
            // Not counted in P01.
            event(
                EventKind::Delivered,
                "2026-06-01T10:00:00Z",
                "anna@pec-b.test",
                Some("mario@pec-a.test"),
            ),
            event(
                EventKind::AnomalyReceived,
                "2026-06-01T10:00:00Z",
                "x@example.com",
                None,
            ),
            event(
                EventKind::ReceiptReceived,
                "2026-06-01T10:00:00Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
            event(
                EventKind::NonAccepted,
                "2026-06-01T10:00:00Z",
                "mario@pec-a.test",
                Some("mario@pec-a.test"),
            ),
        ];
        assert_eq!(
            traffic(&events, &q2, &local),
            Traffic {
                outgoing: 2,
                incoming: 2,
                virus_incoming: 2,
                virus_outgoing: 1,
            }
        );
    }
}
