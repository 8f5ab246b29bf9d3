//! The accept loop every listener shares: connection cap, accept backoff, shutdown.
//!
//! Shaped after mini-redis's `Listener::run`, with one difference: a connection beyond
//! the cap is still accepted, told it is refused (SMTP wants a `421` greeting, RFC 5321
//! §3.8) and closed, so clients retry later instead of hanging in the kernel's backlog.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The first pause after a failed `accept`; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between failed `accept`s (file descriptors exhausted, …).
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a refused connection may take to receive its busy line.
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown` is cancelled.
///
/// Each connection runs `handle(stream, peer)` in a task of `tracker`, holding one
/// permit of `limit` for its whole life. When no permit is free the connection gets
/// `busy_line` (for example `421 4.7.0 Too many connections\r\n`) and is closed.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    limit: Arc<Semaphore>,
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
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let connection = handle(stream, peer);
                tracker.spawn(async move {
                    connection.await;
                    drop(permit);
                });
            }
            Err(_) => {
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
            Arc::new(Semaphore::new(1)),
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
}
