//! The outages of a period: those operators recorded, and the gaps between the
//! daemon's runs that no recorded outage explains.
//!
//! A gap runs from a run's clean stop, or after a crash from its last heartbeat (the
//! crash came later, so the gap may be longer than the outage by up to one heartbeat
//! interval, never shorter), to the next run's start. What the operators recorded
//! prevails: a gap is reported only where no recorded outage covers it, as an incident
//! (`02`): a planned stop is planned because somebody recorded it as such.
//!
//! The service level (DM 2 novembre 2005, art. 12 c. 3 and 5): the service is
//! available at least 99.8 % of the period, and no single outage lasts more than half
//! of the 0.2 % the period allows. Every outage counts, whatever its type.

use jiff::Timestamp;

use super::period::Period;
use crate::store::outages::OutageType;
use crate::store::outages::RecordedOutage;
use crate::store::outages::Run;

/// The share of a period the service may be unavailable, in thousandths of a percent.
const ALLOWED_PER_100_000: i64 = 200;

/// One outage.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Outage {
    /// When the service became unavailable.
    pub start: Timestamp,
    /// When it was available again.
    pub end: Timestamp,
    /// Its type.
    pub kind: OutageType,
    /// Whether it was detected from the daemon's runs rather than recorded.
    pub detected: bool,
}

impl Outage {
    /// Its length in milliseconds.
    pub fn millis(&self) -> i64 {
        (self.end.as_millisecond() - self.start.as_millisecond()).max(0)
    }

    /// Its length in whole minutes, rounded up: a partial minute of unavailability is
    /// reported, never dropped.
    pub fn minutes(&self) -> i64 {
        (self.millis() + 59_999) / 60_000
    }

    /// The part of it inside `period`, if any.
    fn within(&self, period: &Period) -> Option<Outage> {
        let start = self.start.max(period.start);
        let end = self.end.min(period.end);
        (start < end).then(|| Outage {
            start,
            end,
            ..self.clone()
        })
    }
}

/// Every outage, recorded or detected, in start order.
pub fn outages(recorded: &[RecordedOutage], runs: &[Run]) -> Vec<Outage> {
    let mut all: Vec<Outage> = recorded
        .iter()
        .filter(|r| r.start < r.end)
        .map(|r| Outage {
            start: r.start,
            end: r.end,
            kind: r.kind,
            detected: false,
        })
        .collect();
    let mut runs: Vec<&Run> = runs.iter().collect();
    runs.sort_by_key(|run| run.started);
    for pair in runs.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let from = before.stopped.unwrap_or(before.heartbeat);
        for (start, end) in uncovered(from, after.started, recorded) {
            all.push(Outage {
                start,
                end,
                kind: OutageType::Incident,
                detected: true,
            });
        }
    }
    all.sort_by_key(|outage| (outage.start, outage.end));
    all
}

/// The parts of `[from, to)` that no recorded outage covers.
fn uncovered(
    from: Timestamp,
    to: Timestamp,
    recorded: &[RecordedOutage],
) -> Vec<(Timestamp, Timestamp)> {
    let mut pieces = vec![(from, to)];
    for covered in recorded {
        pieces = pieces
            .into_iter()
            .flat_map(|(start, end)| {
                let mut left = Vec::new();
                if covered.end <= start || end <= covered.start {
                    left.push((start, end));
                } else {
                    if start < covered.start {
                        left.push((start, covered.start));
                    }
                    if covered.end < end {
                        left.push((covered.end, end));
                    }
                }
                left
            })
            .collect();
    }
    pieces.retain(|(start, end)| start < end);
    pieces
}

/// The outages of `period`, cut to it, and the service level of each.
pub struct PeriodOutages {
    /// The outages, each cut to the period.
    pub outages: Vec<Outage>,
    /// Milliseconds of unavailability the period allows.
    pub allowed_millis: i64,
}

impl PeriodOutages {
    /// The parts of `outages` inside `period`.
    pub fn new(outages: &[Outage], period: &Period) -> PeriodOutages {
        PeriodOutages {
            outages: outages.iter().filter_map(|o| o.within(period)).collect(),
            allowed_millis: period.seconds() * 1000 * ALLOWED_PER_100_000 / 100_000,
        }
    }

    /// Milliseconds of unavailability in the period. Outages that overlap count once.
    pub fn unavailable_millis(&self) -> i64 {
        let mut total = 0;
        let mut reached: Option<Timestamp> = None;
        for outage in &self.outages {
            let start = reached.map_or(outage.start, |r| outage.start.max(r));
            if start < outage.end {
                total += outage.end.as_millisecond() - start.as_millisecond();
            }
            reached = Some(reached.map_or(outage.end, |r| r.max(outage.end)));
        }
        total
    }

    /// Whether the service level held for `outage`: the period's availability, and
    /// this outage's length.
    pub fn sla_respected(&self, outage: &Outage) -> bool {
        self.unavailable_millis() <= self.allowed_millis
            && outage.millis() * 2 <= self.allowed_millis
    }

    /// The availability in hundredths of a percent (9998 = 99.98 %).
    pub fn availability_basis_points(&self, period: &Period) -> i64 {
        let total = (period.seconds() * 1000).max(1);
        let available = total - self.unavailable_millis().min(total);
        // Rounded down: availability is never overstated.
        available * 10_000 / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn run(id: u64, started: &str, heartbeat: &str, stopped: Option<&str>) -> Run {
        Run {
            id,
            started: at(started),
            heartbeat: at(heartbeat),
            stopped: stopped.map(at),
        }
    }

    fn recorded(start: &str, end: &str, kind: OutageType) -> RecordedOutage {
        RecordedOutage {
            id: 1,
            start: at(start),
            end: at(end),
            kind,
            recorded: at(end),
        }
    }

    #[test]
    fn gaps_between_runs_are_incidents_where_nothing_recorded_covers_them() {
        let runs = [
            // Stopped cleanly at 10:00, started again at 10:30; a planned outage
            // recorded 10:00–10:20 explains the first 20 minutes only.
            run(
                1,
                "2026-03-01T08:00:00Z",
                "2026-03-01T09:59:00Z",
                Some("2026-03-01T10:00:00Z"),
            ),
            run(2, "2026-03-01T10:30:00Z", "2026-03-02T06:00:00Z", None),
            // Crashed after its last heartbeat at 06:00; started at 06:05:30.
            run(3, "2026-03-02T06:05:30Z", "2026-03-02T07:00:00Z", None),
        ];
        let planned = recorded(
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:20:00Z",
            OutageType::Planned,
        );
        let all = outages(&[planned], &runs);
        assert_eq!(all.len(), 3);
        assert_eq!(
            (all[0].kind, all[0].detected, all[0].minutes()),
            (OutageType::Planned, false, 20)
        );
        assert_eq!(
            (all[1].kind, all[1].detected, all[1].minutes()),
            (OutageType::Incident, true, 10)
        );
        assert_eq!(all[1].start, at("2026-03-01T10:20:00Z"));
        // 5 min 30 s, reported as 6 minutes.
        assert_eq!((all[2].kind, all[2].minutes()), (OutageType::Incident, 6));
        // The run still serving has no gap after it.
        assert!(all.iter().all(|o| o.end <= at("2026-03-02T06:05:30Z")));
    }

    #[test]
    fn a_restart_within_a_second_is_a_minute_of_unavailability() {
        let runs = [
            run(
                1,
                "2026-03-01T08:00:00Z",
                "2026-03-01T09:00:00Z",
                Some("2026-03-01T09:00:00.600Z"),
            ),
            run(
                2,
                "2026-03-01T09:00:01.100Z",
                "2026-03-01T09:00:01.100Z",
                None,
            ),
        ];
        let all = outages(&[], &runs);
        assert_eq!((all[0].millis(), all[0].minutes()), (500, 1));
    }

    #[test]
    fn a_recorded_outage_covering_a_gap_replaces_it() {
        let runs = [
            run(1, "2026-03-01T08:00:00Z", "2026-03-01T09:00:00Z", None),
            run(2, "2026-03-01T09:30:00Z", "2026-03-01T09:30:00Z", None),
        ];
        let failure = recorded(
            "2026-03-01T08:55:00Z",
            "2026-03-01T09:31:00Z",
            OutageType::Malfunction,
        );
        let all = outages(&[failure], &runs);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind, OutageType::Malfunction);
    }

    #[test]
    fn the_service_level_allows_0_2_percent_and_half_of_it_per_outage() {
        let period = Period::quadrimestre(2026, 2).unwrap();
        // 123 days: 0.2 % is 354.24 minutes, half of it 177.12.
        let all = [
            Outage {
                start: at("2026-05-10T10:00:00Z"),
                end: at("2026-05-10T12:57:00Z"),
                kind: OutageType::Incident,
                detected: true,
            },
            Outage {
                start: at("2026-06-10T10:00:00Z"),
                end: at("2026-06-10T12:58:00Z"),
                kind: OutageType::Malfunction,
                detected: false,
            },
            // Outside the period: not counted.
            Outage {
                start: at("2026-01-10T10:00:00Z"),
                end: at("2026-01-11T10:00:00Z"),
                kind: OutageType::Incident,
                detected: true,
            },
        ];
        let within = PeriodOutages::new(&all, &period);
        assert_eq!(within.allowed_millis, 21_254_400);
        assert_eq!(within.outages.len(), 2);
        // 177 + 178 minutes = 355 > 354.24: the period's level is broken for both.
        assert!(!within.sla_respected(&within.outages[0]));
        let first_only = PeriodOutages::new(&all[..1], &period);
        assert!(first_only.sla_respected(&first_only.outages[0]));
        let second_only = PeriodOutages::new(&all[1..2], &period);
        assert!(!second_only.sla_respected(&second_only.outages[0]));
        assert_eq!(first_only.availability_basis_points(&period), 9990);
    }

    #[test]
    fn an_outage_across_the_period_end_counts_its_part_inside() {
        let period = Period::quadrimestre(2026, 1).unwrap();
        let across = Outage {
            start: at("2026-04-30T21:00:00Z"),
            end: at("2026-04-30T23:00:00Z"),
            kind: OutageType::Incident,
            detected: true,
        };
        let within = PeriodOutages::new(&[across.clone(), across], &period);
        assert_eq!(within.outages[0].minutes(), 60);
        assert_eq!(within.unavailable_millis(), 3_600_000);
    }
}
