//! The instruments, grouped by the point of the regulation that moves them and
//! registered in that order (the order of the scrape's output).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

use super::Count;
use super::Label;
use super::Labels;
use super::Protocol;
use super::Real;
use super::TimerKind;
use super::scrape;

/// Every instrument.
pub(super) struct Instruments {
    pub access: Access,
    pub reception: Reception,
    pub receipts: Receipts,
    pub relay: Relay,
    pub timers_fired: Family<Label, Counter>,
    pub sessions: Sessions,
    pub conservation: Conservation,
    pub signatures: Signatures,
    pub index: Index,
    pub reloads: Family<Label, Counter>,
    pub scraped: scrape::Gauges,
}

/// The punto di accesso's outcomes.
pub(super) struct Access {
    pub accepted: Counter,
    pub refused: Family<Label, Counter>,
    pub infected: Counter,
}

/// What the punto di ricezione took in.
pub(super) struct Reception {
    pub envelopes: Counter,
    pub anomalies: Family<Label, Counter>,
}

/// Receipts and notices, signed here or received.
pub(super) struct Receipts {
    pub issued: Family<Label, Counter>,
    pub received: Family<Label, Counter>,
}

/// Deliveries to other providers.
pub(super) struct Relay {
    pub attempts: Family<Label, Counter>,
    pub failures: Family<Label, Counter>,
}

/// Connections and logins of the SMTP and IMAP front ends.
pub(super) struct Sessions {
    pub connections: Family<Label, Count>,
    pub logins: Family<Labels, Counter>,
    pub throttled: Family<Label, Counter>,
    pub imap_wakes: Counter,
}

/// The conservation gateway's passes.
pub(super) struct Conservation {
    pub packages: Counter,
    pub ingest_bytes: Counter,
    pub refusals: Counter,
    pub quota_alerts: Counter,
}

/// S/MIME signing and verification.
pub(super) struct Signatures {
    pub signing: Histogram,
    pub verification: Histogram,
    pub verifications: Family<Label, Counter>,
}

/// The providers index.
pub(super) struct Index {
    pub entries: Count,
    pub reloaded: Real,
    pub failures: Counter,
}

impl Instruments {
    /// Every instrument, registered in `r`.
    pub fn register(r: &mut Registry) -> Instruments {
        Instruments {
            access: Access::register(r),
            reception: Reception::register(r),
            receipts: Receipts::register(r),
            relay: Relay::register(r),
            timers_fired: new(r, "timers_fired", "12 h and 24 h notices sent, by timer"),
            sessions: Sessions::register(r),
            conservation: Conservation::register(r),
            signatures: Signatures::register(r),
            index: Index::register(r),
            reloads: new(
                r,
                "config_reloads",
                "Configuration reloads (SIGHUP), by result",
            ),
            scraped: scrape::Gauges::register(r),
        }
    }

    /// Puts the series of the closed label sets in the output from the start, at zero,
    /// so that an alert on them has a series before the first event.
    pub fn show_at_zero(&self) {
        let one = |name: &'static str, value: &str| [(name, value.to_string())];
        let sessions = &self.sessions;
        for protocol in [Protocol::Smtp, Protocol::Imap] {
            let p = protocol.as_str();
            drop(sessions.connections.get_or_create(&one("protocol", p)));
            drop(sessions.throttled.get_or_create(&one("protocol", p)));
            for result in ["ok", "failed"] {
                let labels = [("protocol", p.to_string()), ("result", result.to_string())];
                drop(sessions.logins.get_or_create(&labels));
            }
        }
        for timer in [TimerKind::Warning12h, TimerKind::Final24h] {
            drop(
                self.timers_fired
                    .get_or_create(&one("timer", timer.as_str())),
            );
        }
        for result in ["valid", "invalid"] {
            drop(
                self.signatures
                    .verifications
                    .get_or_create(&one("result", result)),
            );
        }
        for result in ["ok", "refused"] {
            drop(self.reloads.get_or_create(&one("result", result)));
        }
    }
}

impl Access {
    fn register(r: &mut Registry) -> Access {
        Access {
            accepted: new(
                r,
                "access_accepted",
                "Messages the punto di accesso accepted",
            ),
            refused: new(
                r,
                "access_refused",
                "Messages the punto di accesso refused, by reason",
            ),
            infected: new(
                r,
                "access_infected",
                "Messages the punto di accesso refused for a virus",
            ),
        }
    }
}

impl Reception {
    fn register(r: &mut Registry) -> Reception {
        Reception {
            envelopes: new(
                r,
                "reception_envelopes",
                "Valid buste di trasporto received from other providers",
            ),
            anomalies: new(
                r,
                "reception_anomalies",
                "Messages wrapped in a busta di anomalia, by cause",
            ),
        }
    }
}

impl Receipts {
    fn register(r: &mut Registry) -> Receipts {
        Receipts {
            issued: new(
                r,
                "receipts_issued",
                "Receipts and notices this provider signed, by kind",
            ),
            received: new(
                r,
                "receipts_received",
                "Valid receipts received from providers, by kind",
            ),
        }
    }
}

impl Relay {
    fn register(r: &mut Registry) -> Relay {
        Relay {
            attempts: new(
                r,
                "relay_attempts",
                "Delivery attempts to other providers, by peer domain",
            ),
            failures: new(
                r,
                "relay_failures",
                "Failed delivery attempts, by peer domain",
            ),
        }
    }
}

impl Sessions {
    fn register(r: &mut Registry) -> Sessions {
        Sessions {
            connections: new(r, "connections_open", "Connections open, by protocol"),
            logins: new(r, "logins", "Password checks, by protocol and result"),
            throttled: new(
                r,
                "logins_throttled",
                "Logins refused unchecked by the throttle, by protocol",
            ),
            imap_wakes: new(
                r,
                "imap_wakes",
                "IMAP sessions in IDLE or NOTIFY woken to re-read their mailbox by a commit that changed it",
            ),
        }
    }
}

impl Conservation {
    fn register(r: &mut Registry) -> Conservation {
        Conservation {
            packages: new(r, "conservation_packages", "Conservation packages made"),
            ingest_bytes: new(
                r,
                "conservation_ingest_bytes",
                "Message bytes put into conservation packages",
            ),
            refusals: new(r, "conservation_refusals", "Messages conservation refused"),
            quota_alerts: new(
                r,
                "conservation_quota_alerts",
                "Conservation quota alerts (70, 90, 100 %) sent",
            ),
        }
    }
}

impl Signatures {
    fn register(r: &mut Registry) -> Signatures {
        let seconds = || Histogram::new(exponential_buckets(0.000_5, 2.0, 14));
        Signatures {
            signing: add(
                r,
                "signing_seconds",
                "Time to sign a message (S/MIME)",
                seconds(),
            ),
            verification: add(
                r,
                "verification_seconds",
                "Time to verify a message from the MX",
                seconds(),
            ),
            verifications: new(
                r,
                "verifications",
                "Messages from the MX verified, by result",
            ),
        }
    }
}

impl Index {
    fn register(r: &mut Registry) -> Index {
        Index {
            entries: new(
                r,
                "index_providers",
                "Providers in the loaded providers index",
            ),
            reloaded: new(
                r,
                "index_last_reload_timestamp_seconds",
                "When the providers index was last loaded",
            ),
            failures: new(
                r,
                "index_reload_failures",
                "Providers index loads refused (the previous one kept)",
            ),
        }
    }
}

/// A new instrument with its default settings, registered under `name`.
fn new<M: Clone + Default + Metric>(r: &mut Registry, name: &str, help: &str) -> M {
    add(r, name, help, M::default())
}

/// Registers `metric` under `name` and returns it (a shared handle).
pub(super) fn add<M: Clone + Metric>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}
