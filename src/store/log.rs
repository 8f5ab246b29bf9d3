//! The event log (registro, RFC 6109 §2.3): every certified fact with the
//! fields the rules require (message ids, time, sender, recipients, subject, event
//! type, related generated messages, provider), append-only and hash-chained: each
//! record carries `sha256(previous hash ‖ record)`, and the head (last sequence number
//! and hash) is kept apart, so editing, deleting, reordering or cutting records is
//! detected by [`Events::verify_chain`]. Retention (30 months) prunes from the start
//! and keeps the last pruned hash as the chain's anchor.

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::pec::compose::Facts;
use crate::store::META;
use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const HEAD: &str = "log_head";
const ANCHOR: &str = "log_anchor";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The access point accepted a submission (ricevuta di accettazione).
    Accepted,
    /// The access point refused one (avviso di non accettazione).
    NonAccepted,
    /// We took charge of an envelope from another provider (presa in carico).
    TakenInCharge,
    /// An envelope was placed in a mailbox (avvenuta consegna).
    Delivered,
    /// An envelope could not be delivered (mancata consegna).
    DeliveryError,
    /// A 12 h or 24 h notice went out.
    DeliveryWarning,
    /// A virus was found.
    VirusDetected,
    /// Something not valid PEC arrived (busta di anomalia).
    AnomalyReceived,
    /// A receipt or notice from another provider arrived.
    ReceiptReceived,
    /// The relay gave a message up.
    RelayGaveUp,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Accepted => "accepted",
            EventKind::NonAccepted => "non-accepted",
            EventKind::TakenInCharge => "taken-in-charge",
            EventKind::Delivered => "delivered",
            EventKind::DeliveryError => "delivery-error",
            EventKind::DeliveryWarning => "delivery-warning",
            EventKind::VirusDetected => "virus-detected",
            EventKind::AnomalyReceived => "anomaly-received",
            EventKind::ReceiptReceived => "receipt-received",
            EventKind::RelayGaveUp => "relay-gave-up",
        }
    }
}

/// One event and its fields.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub time: Timestamp,
    /// The PEC msgid it concerns.
    pub pec_id: Option<String>,
    /// The client's Message-ID.
    pub client_msgid: Option<String>,
    /// The original sender.
    pub sender: Option<String>,
    /// The original recipients (or those concerned).
    pub recipients: Vec<String>,
    /// The original subject.
    pub subject: Option<String>,
    /// The mailbox it concerns.
    pub mailbox: Option<String>,
    /// Identifiers of the messages generated for it.
    pub related: Vec<String>,
    /// The other provider involved.
    pub provider: Option<String>,
    /// Free detail (refusal reason, error text).
    pub detail: Option<String>,
}

impl Event {
    /// An event with no fields but its kind and time.
    pub fn new(kind: EventKind, time: Timestamp) -> Event {
        Event {
            kind,
            time,
            pec_id: None,
            client_msgid: None,
            sender: None,
            recipients: Vec::new(),
            subject: None,
            mailbox: None,
            related: Vec::new(),
            provider: None,
            detail: None,
        }
    }

    /// An event about a certified message.
    pub fn about(kind: EventKind, facts: &Facts, time: Timestamp) -> Event {
        Event {
            pec_id: Some(facts.id.clone()),
            client_msgid: facts.msgid.clone(),
            sender: Some(facts.sender.clone()),
            recipients: facts.recipients.iter().map(|r| r.address.clone()).collect(),
            subject: facts.subject.clone(),
            ..Event::new(kind, time)
        }
    }
}

/// A stored record.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct LogRecord {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// The event.
    pub event: Event,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Filters for [`Events::query`]; all given ones must match.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct LogQuery {
    /// Matches the PEC msgid, the client Message-ID or a related id (brackets ignored).
    pub msgid: Option<String>,
    /// Matches the mailbox, the sender or a recipient.
    pub mailbox: Option<String>,
    /// Not before.
    pub since: Option<Timestamp>,
    /// Not after.
    pub until: Option<Timestamp>,
}

impl LogQuery {
    /// Parses a time as the operator commands take it: RFC 3339, or `YYYY-MM-DD` (midnight UTC).
    pub fn parse_time(text: &str) -> Result<Timestamp, String> {
        if let Ok(timestamp) = text.parse::<Timestamp>() {
            return Ok(timestamp);
        }
        text.parse::<jiff::civil::Date>()
            .ok()
            .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|zoned| zoned.timestamp())
            .ok_or_else(|| format!("{text:?} is neither RFC 3339 nor YYYY-MM-DD"))
    }
}

/// Where the chain breaks.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("log chain broken at record {seq}: {reason}")]
pub struct ChainBreak {
    /// The first record that does not verify.
    pub seq: u64,
    /// Why.
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct Link {
    seq: u64,
    hash: String,
}

/// The event log: `Events<&mut Tx>` appends and prunes, `Events<&ReadTx>` reads and
/// verifies a snapshot.
pub struct Events<T>(pub(super) T);

impl Events<&mut Tx<'_>> {
    /// Appends an event; returns its sequence number.
    pub fn log(&mut self, event: Event) -> Result<u64, StoreError> {
        let mut meta = self.0.table(META)?;
        let head: Link = match meta.get(HEAD)? {
            Some(bytes) => decode(bytes.value())?,
            None => Link {
                seq: 0,
                hash: GENESIS.to_string(),
            },
        };
        let seq = head.seq + 1;
        let hash = chain_hash(&head.hash, seq, &event)?;
        let record = LogRecord {
            seq,
            event,
            prev_hash: head.hash,
            hash: hash.clone(),
        };
        meta.insert(HEAD, encode(&Link { seq, hash })?.as_slice())?;
        self.0
            .table(LOG)?
            .insert(seq, encode(&record)?.as_slice())?;
        Ok(seq)
    }

    /// Drops records older than `cutoff` (retention), keeping the chain verifiable.
    pub fn prune_before(&mut self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut log = self.0.table(LOG)?;
        let mut pruned: Option<Link> = None;
        let old: Vec<LogRecord> = log
            .iter()?
            .map(|entry| decode::<LogRecord>(entry?.1.value()))
            .take_while(|r| r.as_ref().is_ok_and(|r| r.event.time < cutoff))
            .collect::<Result<_, _>>()?;
        for record in &old {
            log.remove(record.seq)?;
            pruned = Some(Link {
                seq: record.seq,
                hash: record.hash.clone(),
            });
        }
        if let Some(anchor) = pruned {
            self.0
                .table(META)?
                .insert(ANCHOR, encode(&anchor)?.as_slice())?;
        }
        Ok(old.len() as u64)
    }
}

impl Events<&ReadTx<'_>> {
    /// The records matching a query, in order.
    pub fn query(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let strip = |id: &str| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase()
        };
        let msgid = query.msgid.as_deref().map(strip);
        let mailbox = query.mailbox.as_deref();
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| {
                let e = &r.event;
                let id_matches = msgid.as_ref().is_none_or(|id| {
                    e.pec_id
                        .iter()
                        .chain(&e.client_msgid)
                        .chain(&e.related)
                        .any(|candidate| strip(candidate) == *id)
                });
                let mailbox_matches = mailbox.as_ref().is_none_or(|m| {
                    e.mailbox
                        .iter()
                        .chain(&e.sender)
                        .chain(&e.recipients)
                        .any(|a| a.eq_ignore_ascii_case(m))
                });
                id_matches
                    && mailbox_matches
                    && query.since.is_none_or(|since| e.time >= since)
                    && query.until.is_none_or(|until| e.time <= until)
            })
            .collect())
    }

    /// Verifies the whole chain from its anchor to its head; returns the records checked.
    pub fn verify_chain(&self) -> Result<Result<u64, ChainBreak>, StoreError> {
        let link = |key: &str| -> Result<Option<Link>, StoreError> {
            let meta = self.0.table(META)?;
            meta.get(key)?.map(|b| decode(b.value())).transpose()
        };
        let mut previous = link(ANCHOR)?.unwrap_or(Link {
            seq: 0,
            hash: GENESIS.to_string(),
        });
        let head = link(HEAD)?.unwrap_or(Link {
            seq: 0,
            hash: GENESIS.to_string(),
        });
        let mut checked = 0;
        for record in self.records()? {
            let expected = previous.seq + 1;
            if record.seq != expected {
                return Ok(Err(ChainBreak {
                    seq: expected,
                    reason: format!("record missing (found {} next)", record.seq),
                }));
            }
            if record.prev_hash != previous.hash {
                return Ok(Err(ChainBreak {
                    seq: record.seq,
                    reason: "does not follow the previous record".into(),
                }));
            }
            if chain_hash(&record.prev_hash, record.seq, &record.event)? != record.hash {
                return Ok(Err(ChainBreak {
                    seq: record.seq,
                    reason: "content altered".into(),
                }));
            }
            previous = Link {
                seq: record.seq,
                hash: record.hash,
            };
            checked += 1;
        }
        if previous.seq != head.seq || previous.hash != head.hash {
            return Ok(Err(ChainBreak {
                seq: previous.seq + 1,
                reason: format!("log cut: the head is record {}", head.seq),
            }));
        }
        Ok(Ok(checked))
    }

    fn records(&self) -> Result<Vec<LogRecord>, StoreError> {
        self.0.values(LOG)
    }

    /// Hands every event with `since <= time < until` to `visit`, in order, reading
    /// only that stretch of the log and holding one record at a time (a period's
    /// statistics over a 30-month log). Records are appended in time order, give or
    /// take the moments a writer waits for its commit (retention relies on the same
    /// order), so the stretch is found by bisection over the sequence numbers with
    /// [`SCAN_MARGIN`] of slack at each end.
    pub fn scan(
        &self,
        since: Timestamp,
        until: Timestamp,
        mut visit: impl FnMut(&Event),
    ) -> Result<(), StoreError> {
        let table = self.0.table(LOG)?;
        let (Some(first), Some(last)) = (
            table.first()?.map(|(k, _)| k.value()),
            table.last()?.map(|(k, _)| k.value()),
        ) else {
            return Ok(());
        };
        let time_of = |seq: u64| -> Result<Option<Timestamp>, StoreError> {
            match table.get(seq)? {
                Some(bytes) => Ok(Some(decode::<LogRecord>(bytes.value())?.event.time)),
                None => Ok(None),
            }
        };
        let from = since - SCAN_MARGIN;
        // The first record at or after `from`, found in [low, high].
        let (mut low, mut high) = (first, last.saturating_add(1));
        while low < high {
            let middle = low + (high - low) / 2;
            match time_of(middle)? {
                Some(time) if time < from => low = middle + 1,
                _ => high = middle,
            }
        }
        let to = until + SCAN_MARGIN;
        for entry in table.range(low..)? {
            let record: LogRecord = decode(entry?.1.value())?;
            let time = record.event.time;
            if time >= to {
                break;
            }
            if since <= time && time < until {
                visit(&record.event);
            }
        }
        Ok(())
    }
}

/// How far out of time order two records of the log may be: far more than a commit
/// ever waits.
pub const SCAN_MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

fn chain_hash(previous: &str, seq: u64, event: &Event) -> Result<String, StoreError> {
    let mut input = format!("{previous}\n{seq}\n").into_bytes();
    input.extend_from_slice(&encode(event)?);
    Ok(hex::encode(openssl::sha::sha256(&input)))
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use crate::store::Store;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_scan_sees_exactly_the_events_of_its_stretch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let empty = |since: &str, until: &str| {
            let mut seen = 0;
            store
                .read(|tx| tx.events().scan(at(since), at(until), |_| seen += 1))
                .unwrap();
            seen
        };
        assert_eq!(empty("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"), 0);
        // Hourly events over ten days, two of them logged a few seconds out of order.
        let mut times: Vec<Timestamp> = (0..240)
            .map(|hour| at("2026-04-25T00:00:00Z") + jiff::SignedDuration::from_hours(hour))
            .collect();
        times.insert(
            144,
            at("2026-05-01T00:00:00Z") - jiff::SignedDuration::from_secs(5),
        );
        times.insert(
            145,
            at("2026-05-01T00:00:00Z") + jiff::SignedDuration::from_secs(5),
        );
        times.swap(144, 145);
        store
            .write(|tx| {
                for time in &times {
                    tx.events().log(Event::new(EventKind::Accepted, *time))?;
                }
                Ok(())
            })
            .unwrap();
        let scanned = |since: &str, until: &str| {
            let mut seen = Vec::new();
            store
                .read(|tx| {
                    tx.events()
                        .scan(at(since), at(until), |e| seen.push(e.time))
                })
                .unwrap();
            seen
        };
        let expected = |since: &str, until: &str| -> Vec<Timestamp> {
            times
                .iter()
                .copied()
                .filter(|t| at(since) <= *t && *t < at(until))
                .collect()
        };
        for (since, until) in [
            ("2026-05-01T00:00:00Z", "2026-05-03T00:00:00Z"),
            ("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"),
            ("2026-04-25T00:00:00Z", "2026-04-25T01:00:00Z"),
            ("2026-05-04T23:00:00Z", "2026-06-01T00:00:00Z"),
            ("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ] {
            assert_eq!(
                scanned(since, until),
                expected(since, until),
                "{since} – {until}"
            );
        }
        assert_eq!(
            scanned("2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z").len(),
            25
        );
    }
}
