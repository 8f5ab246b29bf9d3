//! Sessions kept open between deliveries, per server.
//!
//! Between providers every message and every receipt is a delivery of its own, and each
//! new session costs a TCP connection, two EHLOs and a TLS handshake with a signature by
//! the server. A busy route therefore keeps its sessions: a delivery takes an idle one
//! when there is one and gives it back when the server's last reply left it in step.
//! Idle sessions are closed after [`Pool::new`]'s `keep`, well inside the five minutes
//! a server waits for the next command (RFC 5321 §4.5.3.2.7). A kept session the server
//! has meanwhile closed, or that it will not take more mail on for now, costs nothing but
//! a new one: the delivery is made again over a fresh session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use crate::smtp::client::ClientError;
use crate::smtp::client::ClientOptions;
use crate::smtp::client::Connection;
use crate::smtp::client::Delivery;
use crate::smtp::client::Message;
use crate::smtp::client::Stage;

/// The idle sessions of one provider's relay.
pub struct Pool {
    idle: Mutex<HashMap<Route, Vec<Idle>>>,
    keep: Duration,
    per_route: usize,
}

/// A server and the name its certificate must carry.
type Route = (String, String);

struct Idle {
    connection: Connection,
    since: Instant,
}

impl Pool {
    /// An empty pool keeping at most `per_route` sessions per server, each for at most
    /// `keep` after its last message.
    pub fn new(keep: Duration, per_route: usize) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            keep,
            per_route,
        }
    }

    /// Delivers `message` to the server at `address` (certificate checked against
    /// `server_name`), over a kept session when there is one.
    pub async fn send(
        &self,
        address: &str,
        server_name: &str,
        options: &ClientOptions,
        message: &Message<'_>,
    ) -> Result<Delivery, ClientError> {
        let route = (address.to_owned(), server_name.to_owned());
        if let Some(mut connection) = self.take(&route) {
            match connection.send(message).await {
                Err(error) if worth_a_new_session(&error) => {
                    tracing::debug!(%address, %error, "kept session closed by the server; opening a new one");
                }
                result => {
                    self.give_back(route, connection);
                    return result;
                }
            }
        }
        let mut connection = Connection::open(address, server_name, options).await?;
        let result = connection.send(message).await;
        self.give_back(route, connection);
        result
    }

    /// Drops the sessions idle for longer than `keep`; the relay calls this now and then
    /// so a quiet route holds no connection.
    pub fn close_idle(&self) {
        let now = Instant::now();
        let mut idle = self.lock();
        for sessions in idle.values_mut() {
            sessions.retain(|session| now.duration_since(session.since) < self.keep);
        }
        idle.retain(|_, sessions| !sessions.is_empty());
    }

    /// The number of idle sessions to `address`.
    pub fn idle_to(&self, address: &str) -> usize {
        self.lock()
            .iter()
            .filter(|((to, _), _)| to == address)
            .map(|(_, sessions)| sessions.len())
            .sum()
    }

    /// The most recently used idle session on `route` that is still fresh enough.
    fn take(&self, route: &Route) -> Option<Connection> {
        let mut idle = self.lock();
        let sessions = idle.get_mut(route)?;
        while let Some(session) = sessions.pop() {
            if session.since.elapsed() < self.keep {
                return Some(session.connection);
            }
        }
        None
    }

    fn give_back(&self, route: Route, connection: Connection) {
        if !connection.is_reusable() {
            return;
        }
        let mut idle = self.lock();
        let sessions = idle.entry(route).or_default();
        if sessions.len() < self.per_route {
            sessions.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Route, Vec<Idle>>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A kept session that cannot carry the message: the connection broke, the server said
/// `421` (closing), or it refused the sender for now, which may be a limit of messages
/// per session. A new session gets the message instead. Delivering again is safe either
/// way: the relay resends whatever is unacknowledged, and the receiving provider takes
/// a repeat as one message.
fn worth_a_new_session(error: &ClientError) -> bool {
    match error {
        ClientError::Io(_) => true,
        ClientError::Rejected { reply, .. } if reply.code() == 421 => true,
        ClientError::Rejected {
            stage: Stage::MailFrom,
            reply,
        } => reply.is_transient(),
        _ => false,
    }
}
