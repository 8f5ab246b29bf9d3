//! The connection's stream: lines read within [`MAX_LINE`], and replies queued while
//! pipelined commands wait, written before any read that could block (RFC 2920 §3.2).

use std::io;

use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::BufReader;

use super::ConnectionError;
use super::Ending;
use crate::net::write;
use crate::smtp::reply::Reply;
use crate::smtp::session::MAX_LINE;

/// Replies are written once this many bytes are queued, even mid-pipeline.
const MAX_QUEUED_REPLIES: usize = 8 * 1024;

/// What [`Connection::read_line`] found.
pub(super) enum Line {
    /// A line is in [`Connection::line`].
    Complete,
    /// A line longer than [`MAX_LINE`] was read and discarded.
    TooLong,
    /// The client closed the connection (a partial last line is dropped).
    End,
}

/// A buffered stream with queued replies.
pub(super) struct Connection<T> {
    pub reader: BufReader<T>,
    pub line: Vec<u8>,
    queued: Vec<u8>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    pub fn new(stream: T) -> Self {
        Connection {
            reader: BufReader::new(stream),
            line: Vec::with_capacity(256),
            queued: Vec::with_capacity(1024),
        }
    }

    pub fn queue(&mut self, reply: &Reply) {
        reply.write_to(&mut self.queued);
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.queued.is_empty() {
            let stream = self.reader.get_mut();
            write::write_all(stream, &self.queued).await?;
            write::flush(stream).await?;
            self.queued.clear();
        }
        Ok(())
    }

    /// Writes queued replies unless more pipelined commands are already buffered.
    pub async fn flush_if_idle(&mut self) -> io::Result<()> {
        if self.reader.buffer().is_empty() || self.queued.len() >= MAX_QUEUED_REPLIES {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn close_with(&mut self, reply: &Reply) -> Result<Ending, ConnectionError> {
        self.queue(reply);
        self.flush().await?;
        // The peer may already be gone; the connection ends either way.
        let _ = write::shutdown(self.reader.get_mut()).await;
        Ok(Ending::Closed)
    }

    /// Reads one line into `self.line`, never buffering more than [`MAX_LINE`] bytes.
    pub async fn read_line(&mut self) -> io::Result<Line> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::End);
            }
            let (chunk, complete) = match memchr::memchr(b'\n', available) {
                Some(end) => (&available[..=end], true),
                None => (available, false),
            };
            let length = chunk.len();
            if !too_long && self.line.len() + length > MAX_LINE {
                too_long = true;
                self.line.clear();
            }
            if !too_long {
                self.line.extend_from_slice(chunk);
            }
            self.reader.consume(length);
            if complete {
                return Ok(if too_long {
                    Line::TooLong
                } else {
                    Line::Complete
                });
            }
        }
    }

    /// The stream, and how many buffered bytes were thrown away with the buffer.
    pub fn into_inner(self) -> (T, usize) {
        let discarded = self.reader.buffer().len();
        (self.reader.into_inner(), discarded)
    }
}
