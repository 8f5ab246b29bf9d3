//! The accept loop every listener shares: connection caps, accept backoff, shutdown.
//!
//! Shaped after mini-redis's `Listener::run`, with one difference: a connection beyond
//! a cap is still accepted, told it is refused (SMTP wants a `421` greeting, RFC 5321
//! §3.8) and closed, so clients retry later instead of hanging in the kernel's backlog.
//!
//! Two caps hold: one on all connections of the listener, so the process keeps its file
//! descriptors and memory, and one per client address, so a single host cannot take
//! every slot and lock the others out. IPv6 clients are counted per /64, the block a
//! single site is usually given.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::net::Ipv6Addr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The first pause after a failed `accept`; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between failed `accept`s (file descriptors exhausted, …).
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a refused connection may take to receive its busy line.
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who may have a connection: at most so many in all, and so many per client address.
#[derive(Clone, Debug)]
pub struct Admission {
    total: Arc<Semaphore>,
    per_address: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection's slots, given back on drop.
#[derive(Debug)]
pub struct Ticket {
    _total: OwnedSemaphorePermit,
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Admission {
    /// Admits at most `total` connections at once, and `per_address` from one address.
    pub fn new(total: usize, per_address: usize) -> Admission {
        Admission {
            total: Arc::new(Semaphore::new(total)),
            per_address,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A ticket for a connection from `peer`, or `None` when a cap is reached.
    pub fn admit(&self, peer: IpAddr) -> Option<Ticket> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let address = client_block(peer);
        // The map is only counted in and out; a panic elsewhere leaves it consistent.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= self.per_address {
            if *count == 0 {
                open.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(Ticket {
            _total: total,
            address,
            open: self.open.clone(),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64.
pub(crate) fn client_block(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Accepts connections until `shutdown` is cancelled.
///
/// Each connection runs `handle(stream, peer)` in a task of `tracker`, holding a
/// [`Ticket`] of `admission` for its whole life. A connection `admission` turns away
/// gets `busy_line` (for example `421 4.7.0 Too many connections\r\n`) and is closed.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    admission: Admission,
    busy_line: Arc<[u8]>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(connection) => {
                backoff = FIRST_BACKOFF;
                connection
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        match admission.admit(peer.ip()) {
            Some(ticket) => {
                let connection = handle(stream, peer);
                tracker.spawn(async move {
                    connection.await;
                    drop(ticket);
                });
            }
            None => {
                tracing::info!(%peer, "connection refused: too many connections");
                tracker.spawn(refuse(stream, busy_line.clone()));
            }
        }
    }
}

async fn refuse(mut stream: TcpStream, busy_line: Arc<[u8]>) {
    let write = async {
        stream.write_all(&busy_line).await?;
        stream.shutdown().await
    };
    // The peer is being turned away; whether it reads the line is its business.
    let _ = tokio::time::timeout(BUSY_WRITE_TIMEOUT, write).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn connections_beyond_the_cap_get_the_busy_line() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let release = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Admission::new(1, 1),
            Arc::from(&b"BUSY\r\n"[..]),
            shutdown.clone(),
            tracker.clone(),
            {
                let release = release.clone();
                move |mut stream: TcpStream, _peer| {
                    let release = release.clone();
                    async move {
                        let _ = stream.write_all(b"HELLO\r\n").await;
                        release.cancelled().await;
                    }
                }
            },
        ));

        let mut first = TcpStream::connect(address).await.unwrap();
        let mut line = [0; 7];
        first.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"HELLO\r\n");

        let mut second = TcpStream::connect(address).await.unwrap();
        let mut refused = Vec::new();
        second.read_to_end(&mut refused).await.unwrap();
        assert_eq!(refused, b"BUSY\r\n");

        release.cancel();
        shutdown.cancel();
        server.await.unwrap();
        tracker.close();
        tracker.wait().await;
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let admission = Admission::new(3, 2);
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let neighbour: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(attacker).unwrap();
        let _second = admission.admit(attacker).unwrap();
        assert!(admission.admit(attacker).is_none());
        let _other = admission.admit(neighbour).unwrap();
        drop(first);
        let _again = admission.admit(attacker).unwrap();
        assert!(admission.admit(neighbour).is_none(), "the total cap holds");
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let admission = Admission::new(10, 1);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_site: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_site: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _ticket = admission.admit(one).unwrap();
        assert!(admission.admit(same_site).is_none());
        assert!(admission.admit(other_site).is_some());
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        let _v4 = admission.admit(v4).unwrap();
        assert!(admission.admit(mapped).is_none());
    }
}
