//! Work that one node of the cluster does at a time, such as the conservation worker:
//! two nodes draining one queue would each build, stamp and upload a package of the
//! same messages, only one of which could be recorded. The turn is a PostgreSQL session
//! advisory lock, taken on a connection of the turn's own. The server releases it when
//! that connection ends, so a node that dies or loses the database gives its turn up
//! with it, and another node takes it at its next try.

use std::time::Duration;

use postgres::Client;
use postgres::NoTls;

use crate::store::Store;
use crate::store::kv::pg;

/// How long a held turn's connection may take to show it is still alive.
const ALIVE_WITHIN: Duration = Duration::from_secs(2);

/// One kind of work's turn, as this node sees it.
pub struct Turn {
    /// The cluster's database; `None` on the embedded engine, whose one process always
    /// has the turn.
    url: Option<String>,
    /// The lock's key, from the work's name.
    key: i64,
    /// The connection that holds the lock, while this node has the turn.
    held: Option<Client>,
}

impl Store {
    /// The turn of the work named `work`, not taken yet ([`Turn::mine`] takes it).
    pub fn turn(&self, work: &str) -> Turn {
        let key = i64::from_be_bytes(
            openssl::sha::sha256(work.as_bytes())[..8]
                .try_into()
                .unwrap_or_default(),
        );
        Turn {
            url: self.cluster.as_ref().map(|engine| engine.url.to_string()),
            key,
            held: None,
        }
    }
}

impl Turn {
    /// Whether this node has the turn now, taking it when no other node has it. A
    /// turn held on a connection that no longer answers is this node's no more.
    pub fn mine(&mut self) -> bool {
        let Some(url) = &self.url else {
            return true;
        };
        pg::off_the_runtime(|| {
            if let Some(client) = &mut self.held {
                if client.is_valid(ALIVE_WITHIN).is_ok() {
                    return true;
                }
                self.held = None;
            }
            match take(url, self.key) {
                Ok(client) => {
                    self.held = client;
                    self.held.is_some()
                }
                Err(error) => {
                    tracing::warn!(error = %pg::describe(&error), "cannot ask for a turn of the cluster's work");
                    false
                }
            }
        })
    }
}

/// A connection holding the lock `key`, or `None` when another holds it.
fn take(url: &str, key: i64) -> Result<Option<Client>, postgres::Error> {
    let mut client = pg::config(url)?.connect(NoTls)?;
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
    Ok(row.get::<_, bool>(0).then_some(client))
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Closing the connection releases the lock; the client blocks while it closes.
        if let Some(client) = self.held.take() {
            pg::off_the_runtime(|| drop(client));
        }
    }
}
