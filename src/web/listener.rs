//! The web panel's HTTPS accept loop. [`crate::net::http`] serves connections that arrive already
//! decrypted: a background task accepts TCP connections through the same caps as the
//! admin API ([`Admitted`]: in all and per client address) and runs each TLS handshake
//! in its own task, under a deadline, so a client that opens a connection and never
//! finishes its handshake holds up nobody else's.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::listener::Admitted;
use crate::net::listener::Admission;

/// How long a client has to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// Connections whose TLS handshake is done, for [`crate::net::http::serve`].
pub struct TlsListener {
    ready: mpsc::Receiver<(Connection, SocketAddr)>,
    local: SocketAddr,
}

/// One decrypted connection; under the TLS layer it holds its admission ticket until
/// it closes.
pub type Connection = TlsStream<crate::admin::listener::Connection>;

/// The client's address, as handlers see it (`ConnectInfo<ClientAddr>`), for the
/// login throttle.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl TlsListener {
    /// Starts accepting on `listener`: admission by `admission`, TLS by `acceptor`,
    /// until `shutdown`. The accept loop and the handshakes run in `tracker`.
    pub fn start(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        admission: Admission,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let handshakes = tracker.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = accept_loop(Admitted::new(listener, admission), acceptor, sender, handshakes) => {}
                () = shutdown.cancelled() => {}
            }
        });
        Ok(TlsListener { ready, local })
    }
}

async fn accept_loop(
    mut listener: Admitted,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(Connection, SocketAddr)>,
    handshakes: TaskTracker,
) {
    loop {
        // Only admitted connections come out; failed accepts are retried inside.
        let (stream, peer) = axum::serve::Listener::accept(&mut listener).await;
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                // A closed queue means the server is shutting down.
                Ok(Ok(connection)) => drop(ready.send((connection, peer)).await),
                Ok(Err(error)) => tracing::debug!(%peer, %error, "web TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "web TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): the server's own shutdown ends
            // it, so this accept never has to return.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
