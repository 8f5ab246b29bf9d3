//! Writing to a peer that may not read. Every write must make progress within
//! [`STALL`], or it fails and the connection ends: otherwise a client that sends
//! commands and never reads the replies blocks its connection, once the socket buffers
//! are full, past every read deadline, holding its slot for good.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt;

/// How long a write may wait for the peer to take any of it.
pub const STALL: Duration = Duration::from_secs(60);

/// Bytes written per step: each must go out within [`STALL`], so a large body to a
/// slow reader is fine as long as it takes a step's worth per [`STALL`].
const STEP: usize = 64 * 1024;

/// `write_all` whose every step of [`STEP`] bytes must complete within [`STALL`].
pub async fn write_all<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
    for step in bytes.chunks(STEP) {
        within(writer.write_all(step)).await?;
    }
    Ok(())
}

/// `flush` within [`STALL`].
pub async fn flush<W: AsyncWrite + Unpin>(writer: &mut W) -> io::Result<()> {
    within(writer.flush()).await
}

/// `shutdown` within [`STALL`].
pub async fn shutdown<W: AsyncWrite + Unpin>(writer: &mut W) -> io::Result<()> {
    within(writer.shutdown()).await
}

async fn within<T>(write: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(STALL, write)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer stopped reading",
            ))
        })
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_fails_the_write() {
        let (mut ours, _theirs) = tokio::io::duplex(1024);
        let error = write_all(&mut ours, &vec![b'x'; 1 << 20])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_gets_everything() {
        let (mut ours, mut theirs) = tokio::io::duplex(8 * 1024);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buffer = [0u8; 8 * 1024];
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match theirs.read(&mut buffer).await.unwrap() {
                    0 => return got,
                    read => got.extend_from_slice(&buffer[..read]),
                }
            }
        });
        let body = vec![b'y'; 200 * 1024];
        write_all(&mut ours, &body).await.unwrap();
        drop(ours);
        assert_eq!(reader.await.unwrap(), body);
    }
}
