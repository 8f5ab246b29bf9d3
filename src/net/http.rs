//! Serving the HTTP listeners' connections (the admin API, the metrics listener and the
//! web panel) with deadlines.
//!
//! `axum::serve` runs hyper without a timer, and hyper then applies no deadline at all:
//! a client that connects and sends nothing, or half a request line, holds its
//! connection slot for ever, and a few addresses hold every slot. Here hyper gets a
//! timer and a deadline for the request head ([`Deadlines::head`]). Hyper arms it when
//! it starts waiting for a request head, which on a kept-alive connection is as soon as
//! the previous response is sent, so the same deadline closes idle connections. A
//! request body is read under [`Deadlines::body`] by [`read_body`] (the panel's guard and
//! the admin API's [`buffered_body`] middleware): no handler waits on a client that
//! trickles its body.
//!
//! Hyper has no write deadline either: a client that sends requests and never reads the
//! responses would hold its connection once the socket buffers are full. Every write
//! must make progress within [`Deadlines::write`] ([`Stalling`]), as on the mail
//! listeners ([`crate::net::write`]).
//!
//! Only HTTP/1.1 is served: the listeners offer no ALPN, so no client negotiates
//! HTTP/2, and HTTP/2 would need deadlines of its own.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client has to send each part of a request.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// For a request's head (request line and headers), from the connection's start
    /// or the end of the previous response.
    pub head: Duration,
    /// For a request's body: room for the largest upload on a slow line.
    pub body: Duration,
    /// For each write to make progress (the client reading the response).
    pub write: Duration,
}

impl Deadlines {
    /// The listeners' deadlines.
    pub const DEFAULT: Deadlines = Deadlines {
        head: Duration::from_secs(30),
        body: Duration::from_secs(120),
        write: crate::net::write::STALL,
    };
}

/// Serves `router` on the connections of `listener` until `shutdown`, then lets the
/// requests under way finish. Handlers see the client as `ConnectInfo(info(peer))`.
pub async fn serve<L, C>(
    mut listener: L,
    router: Router,
    info: fn(SocketAddr) -> C,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) where
    L: Listener<Addr = SocketAddr>,
    C: Clone + Send + Sync + 'static,
{
    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let service = router.clone().layer(Extension(ConnectInfo(info(peer))));
        let io = Stalling::new(io, deadlines.write);
        let head = deadlines.head;
        connections.spawn(serve_connection(io, service, head, shutdown.clone()));
    }
    connections.close();
    connections.wait().await;
}

/// One connection, under the head deadline; on shutdown it ends after the response
/// under way.
async fn serve_connection<I>(io: I, service: Router, head: Duration, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(head);
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "http connection ended");
    }
}

/// A connection whose writes fail once one has waited `stall` for the client to take
/// any byte.
struct Stalling<I> {
    io: I,
    stall: Duration,
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<I> Stalling<I> {
    fn new(io: I, stall: Duration) -> Stalling<I> {
        Stalling {
            io,
            stall,
            waiting: None,
        }
    }

    /// `poll` of a write, failed when it has been pending for `stall`.
    fn guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.waiting = None;
            return poll;
        }
        let stall = self.stall;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match waiting.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Stalling<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Stalling<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(cx, poll)
    }
}

/// Why a request body was not read.
#[derive(Debug, Eq, PartialEq)]
pub enum BodyError {
    /// Longer than the limit (or the client went away while sending it).
    TooLarge,
    /// Not sent in time.
    TooSlow,
}

/// The length a request declares, if it declares one.
pub fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Reads `body` whole: at most `limit` bytes, within `deadline`.
pub async fn read_body(body: Body, limit: usize, deadline: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::TooSlow),
    }
}

/// Middleware of the admin API (after authentication): the body is read whole, at
/// most `limit` bytes and within `deadline`, before any handler runs.
pub async fn buffered_body(
    State((limit, deadline)): State<(usize, Duration)>,
    request: Request,
    next: Next,
) -> Response {
    if declared_length(&request).is_some_and(|length| length > limit as u64) {
        return refusal(BodyError::TooLarge);
    }
    let (parts, body) = request.into_parts();
    match read_body(body, limit, deadline).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => refusal(error),
    }
}

fn refusal(error: BodyError) -> Response {
    let (status, message) = match error {
        BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        BodyError::TooSlow => (StatusCode::REQUEST_TIMEOUT, "request body too slow"),
    };
    (status, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;
    use tokio::net::TcpStream;

    use crate::admin::listener::Admitted;
    use crate::net::listener::Admission;

    const SHORT: Deadlines = Deadlines {
        head: Duration::from_secs(1),
        body: Duration::from_secs(1),
        write: Duration::from_secs(1),
    };

    /// A response larger than the socket buffers of both ends.
    const BIG: usize = 32 << 20;

    /// An admin-like listener: one echo route behind the body middleware.
    async fn start(shutdown: &CancellationToken) -> SocketAddr {
        let router = Router::new()
            .route("/echo", post(|body: Bytes| async move { body }))
            .route("/big", axum::routing::get(|| async { vec![b'x'; BIG] }))
            .layer(axum::middleware::from_fn_with_state(
                (1024usize, SHORT.body),
                buffered_body,
            ));
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let listener = Admitted::new(tcp, Admission::new(16, 16));
        tokio::spawn(serve(
            listener,
            router,
            |peer| peer,
            SHORT,
            shutdown.clone(),
        ));
        address
    }

    /// Everything the server sends until it closes, or `None` if it is still open
    /// after `within`.
    async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
        let mut seen = Vec::new();
        let read = tokio::time::timeout(within, stream.read_to_end(&mut seen)).await;
        read.ok()
            .map(|_| String::from_utf8_lossy(&seen).into_owned())
    }

    #[tokio::test]
    async fn silent_partial_and_idle_connections_are_closed_at_the_head_deadline() {
        let shutdown = CancellationToken::new();
        let address = start(&shutdown).await;
        let mut silent = TcpStream::connect(address).await.unwrap();
        let mut partial = TcpStream::connect(address).await.unwrap();
        partial.write_all(b"POST /ec").await.unwrap();
        let mut idle = TcpStream::connect(address).await.unwrap();
        idle.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
            .await
            .unwrap();
        for stream in [&mut silent, &mut partial, &mut idle] {
            let seen = until_closed(stream, Duration::from_secs(5)).await;
            assert!(seen.is_some(), "still open");
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_trickled_or_oversized_body_is_refused() {
        let shutdown = CancellationToken::new();
        let address = start(&shutdown).await;
        let mut slow = TcpStream::connect(address).await.unwrap();
        slow.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
            .await
            .unwrap();
        let seen = until_closed(&mut slow, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
        let mut large = TcpStream::connect(address).await.unwrap();
        large
            .write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n")
            .await
            .unwrap();
        let seen = until_closed(&mut large, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(seen.starts_with("HTTP/1.1 413"), "{seen}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_client_that_never_reads_its_response_is_cut() {
        let shutdown = CancellationToken::new();
        let address = start(&shutdown).await;
        let mut reader = TcpStream::connect(address).await.unwrap();
        reader
            .write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        // Reads nothing for three write deadlines, then everything it can.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut seen = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), async {
            let mut buffer = vec![0u8; 1 << 16];
            while let Ok(n) = reader.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buffer[..n]);
            }
        })
        .await;
        assert!(read.is_ok(), "the connection was left open");
        assert!(seen.len() < BIG, "the whole response went out");
        shutdown.cancel();
    }
}
