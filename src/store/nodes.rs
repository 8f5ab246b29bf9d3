//! The nodes of a cluster and when each last said it was alive. A node's claims on
//! shared work (relay jobs) hold only while its heartbeat is fresh: the work of a node
//! that died, or lost its database, is taken over within seconds, while a live node
//! keeps what it claimed however long its deliveries take. On the embedded engine no
//! node beats, since nothing is claimed.
//!
//! A beat carries the node's own clock and is judged by the reader's: the nodes'
//! clocks must agree to well within [`SILENCE`] (NTP does). A claim taken over
//! wrongly, from a node too slow to beat, costs a second delivery attempt to the same
//! peer, which takes a message it already has without delivering it again.

use std::collections::HashMap;
use std::time::Duration;

use jiff::SignedDuration;
use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::kv::Table;

pub(crate) const NODES: TableDefinition<&str, &[u8]> = TableDefinition::new("nodes");

/// How often a serving node beats.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// How long a node may stay silent before its claims lapse: three beats and some, so
/// that one beat lost to a conflict or a slow commit does not end a live node's
/// claims.
pub const SILENCE: SignedDuration = SignedDuration::from_secs(10);

/// A node's last word.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
struct Beat {
    at: Timestamp,
}

/// The nodes: `Nodes<&mut Tx>` records a beat, `Nodes<&ReadTx>` reads them.
pub struct Nodes<T>(pub(super) T);

impl Nodes<&mut Tx<'_>> {
    /// Records that `node` is alive at `now`.
    pub fn beat(&mut self, node: &str, now: Timestamp) -> Result<(), StoreError> {
        let beat = encode(&Beat { at: now })?;
        self.0.table(NODES)?.insert(node, beat.as_slice())
    }

    /// Forgets the nodes silent since before `cutoff` (their data folders gone, or
    /// renamed): their claims lapsed long ago.
    pub fn forget_silent_since(&mut self, cutoff: Timestamp) -> Result<usize, StoreError> {
        self.0
            .table(NODES)?
            .remove_where(|_, value| decode::<Beat>(value).is_ok_and(|beat| beat.at < cutoff))
    }
}

impl Nodes<&ReadTx<'_>> {
    /// When `node` last beat, if it ever did.
    pub fn last_beat(&self, node: &str) -> Result<Option<Timestamp>, StoreError> {
        last_beat(&self.0.table(NODES)?, node)
    }
}

fn last_beat(
    table: &Table<'_, &'static str, &'static [u8]>,
    node: &str,
) -> Result<Option<Timestamp>, StoreError> {
    match table.get(node)? {
        Some(bytes) => Ok(Some(decode::<Beat>(bytes.value())?.at)),
        None => Ok(None),
    }
}

/// Which nodes are alive at one instant, each looked up once.
pub(crate) struct Liveness<'t> {
    table: Table<'t, &'static str, &'static [u8]>,
    now: Timestamp,
    known: HashMap<String, bool>,
}

impl<'t> Liveness<'t> {
    pub(crate) fn new(table: Table<'t, &'static str, &'static [u8]>, now: Timestamp) -> Self {
        Liveness {
            table,
            now,
            known: HashMap::new(),
        }
    }

    /// Whether `node` beat within [`SILENCE`] before now. A node that never beat is
    /// not alive.
    pub(crate) fn alive(&mut self, node: &str) -> Result<bool, StoreError> {
        if let Some(alive) = self.known.get(node) {
            return Ok(*alive);
        }
        let alive = last_beat(&self.table, node)?.is_some_and(|at| self.now - SILENCE < at);
        self.known.insert(node.to_string(), alive);
        Ok(alive)
    }
}
