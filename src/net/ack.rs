//! Prompt acknowledgements while a client's command is incomplete.
//!
//! A client that leaves Nagle's algorithm on (Python's imaplib does) sends an APPEND's
//! literal and then holds back the short `\r\n` that ends the command until the literal
//! is acknowledged. Linux delays that ACK by up to 40 ms when the connection looks
//! interactive, and the server answers nothing until the command is whole, so every
//! APPEND stood still for the delayed-ACK timer: 47 ms an APPEND where the work took 5.
//! Asking for a quick ACK after each read that leaves the command incomplete sends the
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
    use std::time::Duration;
    use std::time::Instant;

    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;
    use tokio::net::TcpStream;

    use super::AckNow;

    /// Command and reply pairs before the literal.
    const EXCHANGES: usize = 40;

    /// How long the short write after a large one takes to arrive when the client
    /// keeps Nagle's algorithm on (as imaplib does for an APPEND's literal and its
    /// closing `\r\n`).
    async fn tail_delay(ack: bool) -> Duration {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut client = TcpStream::connect(address).await.unwrap();
            client.set_nodelay(false).unwrap();
            let mut reply = [0u8; 1];
            for _ in 0..EXCHANGES {
                // Exchanges first: past the kernel's initial quick-ACK segments, the
                // connection looks interactive and its ACKs are delayed.
                client.write_all(b"a NOOP\r\n").await.unwrap();
                client.read_exact(&mut reply).await.unwrap();
            }
            // In pieces, as TLS records of at most 16 KiB go out.
            for _ in 0..4 {
                client.write_all(&[b'x'; 15_000]).await.unwrap();
            }
            client.write_all(b"\r\n").await.unwrap();
            client.read_exact(&mut reply).await.unwrap();
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0u8; 8 * 1024];
        for _ in 0..EXCHANGES {
            let mut line = [0u8; 8];
            server.read_exact(&mut line).await.unwrap();
            server.write_all(b"+").await.unwrap();
        }
        let mut got = 0;
        let mut literal_done = None;
        while got < 60_002 {
            let n = server.read(&mut buffer).await.unwrap();
            got += n;
            if got >= 60_000 && literal_done.is_none() {
                literal_done = Some(Instant::now());
            }
            if got < 60_002 && ack {
                server.ack_now();
            }
        }
        let delay = literal_done.map_or(Duration::ZERO, |at| at.elapsed());
        server.write_all(b"+").await.unwrap();
        client.await.unwrap();
        delay
    }

    #[tokio::test]
    async fn a_quick_ack_lets_the_held_back_tail_come_at_once() {
        // Best of three, so a busy machine's scheduling does not decide it.
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(tail_delay(true).await);
        }
        assert!(best < Duration::from_millis(20), "tail came after {best:?}");
    }

    #[tokio::test]
    async fn the_quick_ack_is_what_removes_the_stall() {
        // Without it the tail waits for the delayed-ACK timer (40 ms on Linux), which
        // is what the test above shows to be gone.
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(tail_delay(false).await);
        }
        assert!(
            best >= Duration::from_millis(30),
            "tail came after {best:?}"
        );
    }
}
