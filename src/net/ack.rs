//! Prompt acknowledgements while a client's command is incomplete.
//!
//! A client that leaves Nagle's algorithm on (Python's imaplib does) sends an APPEND's
//! literal and then holds back the short `\r\n` that ends the command until the literal
//! is acknowledged. Linux delays that ACK by up to 40 ms when the connection looks
//! interactive, and the server answers nothing until the command is whole, so every
//! APPEND would stand still for the delayed-ACK timer, far longer than its work
//! (docs/performance.md). Asking for a quick ACK after each read that leaves the command incomplete sends the
//! pending ACK at once (Linux's `TCP_QUICKACK`, which is not sticky, hence per read).

use tokio::net::TcpStream;

/// A stream that can ask its TCP socket to acknowledge what was received at once.
pub trait AckNow {
    /// Sends the pending ACK now and acknowledges promptly for a while. Best effort:
    /// a socket that refuses is left to its delayed ACKs.
    fn ack_now(&self);
}

impl AckNow for TcpStream {
    fn ack_now(&self) {
        // Only a lost optimisation if it fails.
        let _ = self.set_quickack(true);
    }
}

impl<S: AckNow> AckNow for tokio_rustls::server::TlsStream<S> {
    fn ack_now(&self) {
        self.get_ref().0.ack_now();
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;
    use tokio::net::TcpStream;

    use super::AckNow;

    /// Whether the pending ACK really goes out early is a matter of the kernel's timers,
    /// measured by `tools/imap_bench.py` (APPEND through imaplib), not asserted here; what is checked is that the request reaches the socket.
    #[tokio::test]
    async fn ack_now_asks_the_socket_for_a_quick_ack() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.set_quickack(false).unwrap();
        assert!(!server.quickack().unwrap());
        server.ack_now();
        assert!(server.quickack().unwrap());
        drop(client);
    }
}
