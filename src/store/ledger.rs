//! Which certified messages crossed this provider, per recipient, kept beyond the
//! timers: what our punto di accesso sent (a receipt about anything else certifies
//! nothing of ours and is refused) and what our punto di ricezione took in charge (a
//! busta or receipt relayed again, whatever its unsigned outer headers now say, is
//! recognized and not delivered or acted on twice).

use redb::TableDefinition;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::key::AddressKey;

/// (PEC msgid, recipient) → our user who sent it.
const SENT: TableDefinition<&str, &str> = TableDefinition::new("ledger_sent");
/// (what arrived, PEC msgid, whom it concerns, our mailbox) → nothing.
const RECEIVED: TableDefinition<&str, ()> = TableDefinition::new("ledger_received");

/// One arrival of a certified message, as the signed daticert states it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Arrival<'a> {
    /// The daticert `tipo`.
    pub tipo: &'a str,
    /// The daticert `identificativo`.
    pub pec_id: &'a str,
    /// Whom it concerns: the `consegna` or `ricezione` address of a receipt; for a
    /// busta, the provider that signed it.
    pub about: &'a str,
    /// The local mailbox it was filed in.
    pub mailbox: &'a str,
}

impl Arrival<'_> {
    fn key(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            self.tipo,
            self.pec_id,
            AddressKey::new(self.about),
            AddressKey::new(self.mailbox)
        )
    }
}

fn sent_key(pec_id: &str, recipient: &str) -> String {
    format!("{pec_id}\0{}", AddressKey::new(recipient))
}

/// The ledger of sent and received certified messages: `Ledger<&mut Tx>` records,
/// `Ledger<&ReadTx>` reads a snapshot.
pub struct Ledger<T>(pub(super) T);

impl Ledger<&mut Tx<'_>> {
    /// Records that `sender` sent the message `pec_id` to `recipient`.
    pub fn record_sent(
        &mut self,
        pec_id: &str,
        recipient: &str,
        sender: &str,
    ) -> Result<(), StoreError> {
        self.0
            .table(SENT)?
            .insert(sent_key(pec_id, recipient).as_str(), sender)?;
        Ok(())
    }

    /// Records an arrival; `false` when it was recorded before.
    pub fn record_arrival(&mut self, arrival: &Arrival<'_>) -> Result<bool, StoreError> {
        let mut table = self.0.table(RECEIVED)?;
        let key = arrival.key();
        if table.get(key.as_str())?.is_some() {
            return Ok(false);
        }
        table.insert(key.as_str(), ())?;
        Ok(true)
    }
}

impl Ledger<&ReadTx<'_>> {
    /// Our user who sent `pec_id` to `recipient`, if we did. A message sent before
    /// the ledger existed is known by its timer while that is armed.
    pub fn sent_by(&self, pec_id: &str, recipient: &str) -> Result<Option<String>, StoreError> {
        let recorded = self
            .0
            .table(SENT)?
            .get(sent_key(pec_id, recipient).as_str())?
            .map(|sender| sender.value().to_string());
        match recorded {
            Some(sender) => Ok(Some(sender)),
            None => Ok(self
                .0
                .timers()
                .get(pec_id, recipient)?
                .map(|timer| timer.sender)),
        }
    }

    /// Whether this arrival was recorded before.
    pub fn arrived(&self, arrival: &Arrival<'_>) -> Result<bool, StoreError> {
        let table = self.0.table(RECEIVED)?;
        Ok(table.get(arrival.key().as_str())?.is_some())
    }
}
