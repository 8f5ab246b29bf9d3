//! One connection's socket side: responses written in batches, client input read
//! into the framer through a buffer that is small while the client is between
//! commands, and the wait for either the client or a commit of the store (NOTIFY).

use tokio::io::AsyncRead;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWrite;

use crate::imap::framing::Framed;
use crate::imap::framing::Framer;
use crate::imap::reply::Out;
use crate::net::ack::AckNow;
use crate::net::write;
use crate::store::signal::MailboxCommits;

/// About how many bytes of small responses [`Connection::send`] gathers per write.
const SEND_BATCH: usize = 64 * 1024;

pub(super) struct Connection<S> {
    /// The client's stream, plain or TLS.
    pub(super) stream: S,
    /// Client input being framed.
    pub(super) framer: Framer,
    /// Where reads land: small while the client is between commands, larger while a
    /// message (an APPEND's literal) is coming in.
    buffer: Vec<u8>,
}

/// The read buffer between commands: a command line fits, and thousands of idle
/// connections hold little.
const IDLE_READ: usize = 512;

/// The read buffer while a message is coming in.
const BUSY_READ: usize = 8 * 1024;

/// What ended a wait for the client.
pub(super) enum Arrival {
    /// A whole message is in the framer.
    Message,
    /// The client closed, or the framer ended the connection.
    Closed,
    /// The store committed a change to the user's mailbox while no message was under
    /// way (IDLE's and NOTIFY's cue).
    Committed,
}

impl<S: AsyncRead + AsyncWrite + Unpin + AckNow> Connection<S> {
    /// A connection over `stream`, taking literals up to `max_literal` once logged in.
    pub(super) fn new(stream: S, max_literal: u32) -> Connection<S> {
        Connection {
            stream,
            framer: Framer::new(max_literal),
            buffer: Vec::new(),
        }
    }

    /// Writes responses: small ones gathered into writes of about [`SEND_BATCH`]
    /// bytes, large pieces (message bodies) written from their own buffers.
    pub(super) async fn send(&mut self, out: &[Out]) -> std::io::Result<()> {
        let mut batch = Vec::new();
        for item in out {
            for piece in item.pieces() {
                if batch.len() + piece.len() > SEND_BATCH && !batch.is_empty() {
                    write::write_all(&mut self.stream, &batch).await?;
                    batch.clear();
                }
                if piece.len() >= SEND_BATCH {
                    write::write_all(&mut self.stream, &piece).await?;
                } else {
                    if batch.capacity() == 0 {
                        // Room for a batch when there are many responses (no regrowing).
                        batch.reserve_exact(if out.len() > 1 {
                            SEND_BATCH
                        } else {
                            piece.len()
                        });
                    }
                    batch.extend_from_slice(&piece);
                }
            }
        }
        if !batch.is_empty() {
            write::write_all(&mut self.stream, &batch).await?;
        }
        write::flush(&mut self.stream).await
    }

    /// Reads until a whole message is framed, or, given `commits`, until the store
    /// commits while no message is under way. Only the socket read is raced against
    /// the commit, so no write is ever cut short.
    pub(super) async fn next_arrival(
        &mut self,
        mut commits: Option<&mut MailboxCommits>,
    ) -> std::io::Result<Arrival> {
        let mut partial = false;
        loop {
            match self.framer.progress() {
                Framed::Message => return Ok(Arrival::Message),
                Framed::Send(out) => self.send(&[out]).await?,
                Framed::Close(out) => {
                    self.send(&[out]).await?;
                    return Ok(Arrival::Closed);
                }
                Framed::NeedMore => {
                    if partial {
                        // Part of a message is in, and the client may hold back the
                        // rest until it is acknowledged (see `net::ack`).
                        self.stream.ack_now();
                    }
                    let between = self.framer.is_between_messages();
                    self.size_buffer(between);
                    let read = self.stream.read(&mut self.buffer);
                    let n = match commits.as_deref_mut() {
                        Some(commits) if between => tokio::select! {
                            n = read => n?,
                            () = commits.changed() => return Ok(Arrival::Committed),
                        },
                        _ => read.await?,
                    };
                    if n == 0 {
                        return Ok(Arrival::Closed);
                    }
                    self.framer.enqueue(&self.buffer[..n]);
                    partial = true;
                }
            }
        }
    }

    /// A small buffer between messages (the framer's grown room let go too), a larger
    /// one while a message comes in.
    fn size_buffer(&mut self, between: bool) {
        let wanted = if between { IDLE_READ } else { BUSY_READ };
        if between {
            self.framer.release();
        }
        if self.buffer.len() != wanted {
            self.buffer = vec![0; wanted];
        }
    }
}
