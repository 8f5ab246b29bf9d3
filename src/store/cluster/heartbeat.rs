//! A serving node's heartbeat: every [`HEARTBEAT`] it records that it is alive, so
//! the other nodes honour its claims ([`crate::store::nodes`]). It beats on a thread of
//! its own, beside the runtime, so a busy runtime does not make a live node look dead;
//! and in a transaction of its own, beside the node's queue of writes, for the same
//! reason. A node that cannot reach the database does not beat, and its claims lapse:
//! what it cannot record it could not finish anyway.

use std::sync::Arc;
use std::sync::Weak;

use jiff::SignedDuration;
use jiff::Timestamp;

use crate::store::StoreError;
use crate::store::Tx;
use crate::store::kv::Writing;
use crate::store::kv::pg;
use crate::store::nodes::HEARTBEAT;
use crate::store::signal::Signals;

/// How long a silent node is remembered: far longer than any claim it could hold.
const REMEMBERED: SignedDuration = SignedDuration::from_hours(24);

/// Beats for `node` until the store `alive` belongs to is gone.
pub(super) fn start(pool: pg::Pool, node: Arc<str>, alive: Weak<Signals>) {
    let spawned = std::thread::Builder::new()
        .name("pecd-heartbeat".into())
        .spawn(move || {
            if let Err(error) = write(&pool, |tx| {
                let cutoff = Timestamp::now() - REMEMBERED;
                tx.nodes().forget_silent_since(cutoff).map(|_| ())
            }) {
                tracing::warn!(%error, "forgetting the nodes silent for a day");
            }
            let mut failing = false;
            while alive.strong_count() > 0 {
                match write(&pool, |tx| tx.nodes().beat(&node, Timestamp::now())) {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("heartbeat recorded again");
                    }
                    Ok(()) => {}
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "heartbeat not recorded; other nodes will take over this node's relay jobs");
                    }
                    Err(_) => {}
                }
                std::thread::sleep(HEARTBEAT);
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the heartbeat: other nodes will take this node's relay jobs");
    }
}

/// `work` in a transaction of its own, committed.
fn write(
    pool: &pg::Pool,
    work: impl FnOnce(&mut Tx<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let txn = pg::Txn::write(pool)?;
    work(&mut Tx::new(Writing::Cluster(&txn)))?;
    txn.commit()
}
