//! The durable 12 h / 24 h timers of the punto di accesso, one per certified recipient
//! (RFC 6109 §3.1.6): a presa in carico stops the 12 h notice, a consegna (or mancata
//! consegna) stops both.

use std::time::Duration;

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::key::AddressKey;

const TIMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("timers");

/// One recipient's timer.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Timer {
    /// The transport envelope's PEC msgid.
    pub pec_id: String,
    /// The recipient.
    pub recipient: String,
    /// Our user who sent it.
    pub sender: String,
    /// When the 12 h notice is due.
    pub warn_at: Timestamp,
    /// When the 24 h notice is due.
    pub final_at: Timestamp,
    /// A presa in carico arrived.
    pub taken_in_charge: bool,
    /// The 12 h notice went out.
    pub warned: bool,
}

impl Timer {
    /// A timer armed at `now`.
    pub fn new(
        pec_id: &str,
        recipient: &str,
        sender: &str,
        now: Timestamp,
        warning: Duration,
        last: Duration,
    ) -> Timer {
        let after = |d: Duration| now.checked_add(d).unwrap_or(Timestamp::MAX);
        Timer {
            pec_id: pec_id.to_string(),
            recipient: AddressKey::new(recipient).to_string(),
            sender: sender.to_string(),
            warn_at: after(warning),
            final_at: after(last),
            taken_in_charge: false,
            warned: false,
        }
    }
}

impl Timer {
    /// The notice due at `now`. When both are overdue only the final one is due.
    fn due(&self, now: Timestamp) -> Option<Due> {
        if now >= self.final_at {
            Some(Due::Final24h)
        } else if now >= self.warn_at && !self.warned && !self.taken_in_charge {
            Some(Due::Warning12h)
        } else {
            None
        }
    }
}

/// Which notice is due.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Due {
    /// The 12 h preavviso.
    Warning12h,
    /// The 24 h avviso.
    Final24h,
}

/// The delivery timers: `Timers<&mut Tx>` arms and clears them, `Timers<&ReadTx>` reads
/// a snapshot.
pub struct Timers<T>(pub(super) T);

impl Timers<&mut Tx<'_>> {
    /// Arms a timer, and records in the ledger that the message was sent to that
    /// recipient: the record outlives the timer, for receipts that come late.
    pub fn arm(&mut self, timer: Timer) -> Result<(), StoreError> {
        self.0
            .ledger()
            .record_sent(&timer.pec_id, &timer.recipient, &timer.sender)?;
        let key = key(&timer.pec_id, &timer.recipient);
        self.0
            .table(TIMERS)?
            .insert(key.as_str(), encode(&timer)?.as_slice())?;
        Ok(())
    }

    /// A presa in carico covers this recipient: no 12 h notice.
    pub fn taken_in_charge(&mut self, pec_id: &str, recipient: &str) -> Result<(), StoreError> {
        self.change(pec_id, recipient, |t| t.taken_in_charge = true)
    }

    /// The 12 h notice went out.
    pub fn mark_warned(&mut self, pec_id: &str, recipient: &str) -> Result<(), StoreError> {
        self.change(pec_id, recipient, |t| t.warned = true)
    }

    /// The recipient's outcome arrived: no more notices.
    pub fn delivered(&mut self, pec_id: &str, recipient: &str) -> Result<(), StoreError> {
        self.remove(pec_id, recipient)
    }

    /// Removes a timer.
    pub fn remove(&mut self, pec_id: &str, recipient: &str) -> Result<(), StoreError> {
        self.0
            .table(TIMERS)?
            .remove(key(pec_id, recipient).as_str())?;
        Ok(())
    }

    /// Which notice of one recipient's timer is due at `now`, read inside the
    /// transaction that sends it: of two nodes firing the same timer, the second finds
    /// it sent.
    pub fn due_now(
        &self,
        pec_id: &str,
        recipient: &str,
        now: Timestamp,
    ) -> Result<Option<Due>, StoreError> {
        let table = self.0.table(TIMERS)?;
        let found = table.get(key(pec_id, recipient).as_str())?;
        let timer: Option<Timer> = found.map(|bytes| decode(bytes.value())).transpose()?;
        Ok(timer.and_then(|timer| timer.due(now)))
    }

    fn change(
        &mut self,
        pec_id: &str,
        recipient: &str,
        edit: impl FnOnce(&mut Timer),
    ) -> Result<(), StoreError> {
        let key = key(pec_id, recipient);
        let mut table = self.0.table(TIMERS)?;
        let mut timer: Timer = match table.get(key.as_str())? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(()),
        };
        edit(&mut timer);
        table.insert(key.as_str(), encode(&timer)?.as_slice())?;
        Ok(())
    }
}

impl Timers<&ReadTx<'_>> {
    /// The notices due at `now`. When both are overdue only the final one is due.
    pub fn due(&self, now: Timestamp) -> Result<Vec<(Timer, Due)>, StoreError> {
        let table = self.0.table(TIMERS)?;
        let mut due = Vec::new();
        for entry in table.iter()? {
            let timer: Timer = decode(entry?.1.value())?;
            if let Some(which) = timer.due(now) {
                due.push((timer, which));
            }
        }
        Ok(due)
    }

    /// Every armed timer.
    pub fn all(&self) -> Result<Vec<Timer>, StoreError> {
        self.0.values(TIMERS)
    }

    /// The timer of one recipient of a message, while it is armed.
    pub fn get(&self, pec_id: &str, recipient: &str) -> Result<Option<Timer>, StoreError> {
        let table = self.0.table(TIMERS)?;
        let found = table.get(key(pec_id, recipient).as_str())?;
        found.map(|bytes| decode(bytes.value())).transpose()
    }
}

fn key(pec_id: &str, recipient: &str) -> String {
    format!("{pec_id}\0{}", AddressKey::new(recipient))
}
