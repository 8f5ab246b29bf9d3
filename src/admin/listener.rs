//! The admin API's accept loop: axum serves connections from a listener that admits
//! them through the same caps as the mail listeners ([`Admission`]), in all and per
//! client address, so no one host can hold every connection the API takes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::net::TcpListener;
use tokio::net::TcpStream;

use crate::net::listener::Admission;
use crate::net::listener::Ticket;

/// A TCP listener whose connections each hold an [`Admission`] ticket.
pub struct Admitted {
    listener: TcpListener,
    admission: Admission,
}

impl Admitted {
    /// Admits the connections of `listener` through `admission`.
    pub fn new(listener: TcpListener, admission: Admission) -> Admitted {
        Admitted {
            listener,
            admission,
        }
    }
}

/// An admitted connection: the stream, and the ticket given back when it closes.
pub struct Connection {
    stream: TcpStream,
    _ticket: Ticket,
}

impl axum::serve::Listener for Admitted {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            let (stream, peer) = axum::serve::Listener::accept(&mut self.listener).await;
            match self.admission.admit(peer.ip()) {
                Some(ticket) => {
                    let connection = Connection {
                        stream,
                        _ticket: ticket,
                    };
                    return (connection, peer);
                }
                None => tracing::info!(%peer, "admin connection refused: too many connections"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(context, buffer)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(context, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
