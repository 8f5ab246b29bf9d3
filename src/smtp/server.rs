//! The async SMTP driver: one task per connection, between the socket and a [`Session`].
//!
//! The driver owns what the sans-IO session must not: the stream, TLS (implicit TLS as
//! on the submissions port, RFC 8314, or the RFC 3207 STARTTLS upgrade), the timeouts
//! (RFC 5321 §4.5.3.2), shutdown and the [`Backend`] that decides about recipients
//! and messages. Its loop is mini-redis's `Handler::run`: read one line under a timeout
//! or stop on shutdown, feed it to the session, carry out the [`Step`]s.
//!
//! Replies are batched while pipelined input is waiting and flushed before every read
//! that could block (RFC 2920 §3.2). On STARTTLS the buffered plaintext is dropped
//! before the handshake, so commands injected behind STARTTLS are never executed. On
//! shutdown the client gets `421 4.3.2` at the next command boundary; a submission in
//! progress finishes first, because the backend's `250` means the message is safe.
//!
//! A client nobody answers for is kept on a short leash ([`Bounds`]): a submission
//! client must authenticate within a deadline, an MX peer must reach each DATA within
//! one, whatever it sends meanwhile, and MX bodies count against one memory budget
//! ([`budget`]). A DATA section has one deadline for all of it, so a trickle of bytes
//! does not keep it open.

pub mod budget;
mod connection;
#[cfg(test)]
pub(crate) mod tests;

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::LimitsConfig;
use crate::metrics::Metrics;
use crate::metrics::Protocol;
use crate::net::listener;
use crate::net::listener::Admission;
use crate::net::throttle::Admission as LoginAdmission;
use crate::net::throttle::AuthThrottle;
use crate::smtp::data::Body;
use crate::smtp::data::DataDecoder;
use crate::smtp::reply::Reply;
use crate::smtp::server::budget::InFlight;
use crate::smtp::server::budget::Reservation;
use crate::smtp::session::AuthOutcome;
use crate::smtp::session::Envelope;
use crate::smtp::session::Mode;
use crate::smtp::session::Secret;
use crate::smtp::session::Session;
use crate::smtp::session::SessionConfig;
use crate::smtp::session::Step;
use crate::store::StoreError;
use crate::store::mailbox::Credential;
use connection::Connection;
use connection::Line;

/// What the SMTP layer asks of the provider: the PEC access or reception point.
pub trait Backend: Clone + Send + Sync + 'static {
    /// Checks a mailbox password: what it opens, or `None`; a wrong password and an
    /// unknown user look the same. An error when the store could not tell: the client
    /// gets a temporary failure, and nothing is counted against it.
    fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;

    /// Decides about one recipient at RCPT time (MX: unknown domain → `550 5.1.2`, …).
    /// `Ok(())` accepts it; an `Err` reply is sent as is.
    fn check_recipient(
        &self,
        mode: Mode,
        authenticated: Option<&str>,
        rcpt: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// Takes a whole message. The reply is sent verbatim: `250` only once the message
    /// is committed durably; `421` when the login no longer stands, and the
    /// connection closes.
    fn submit(&self, mode: Mode, envelope: Envelope) -> impl Future<Output = Reply> + Send;
}

/// How long the driver waits for the client (RFC 5321 §4.5.3.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Timeouts {
    /// For each command line.
    pub command: Duration,
    /// For the whole message body, however it is paced.
    pub data: Duration,
    /// For the TLS handshake: a client that never sends its hello holds a connection
    /// slot this long.
    pub handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(5 * 60),
            data: Duration::from_secs(10 * 60),
            handshake: Duration::from_secs(60),
        }
    }
}

/// Everything one SMTP listener needs, shared by its connections.
pub struct Endpoint<B> {
    /// The session limits and mode.
    pub config: SessionConfig,
    /// TLS for STARTTLS or implicit TLS; `None` means plaintext only.
    pub tls: Option<TlsAcceptor>,
    /// The provider behind this listener.
    pub backend: B,
    /// Read timeouts.
    pub timeouts: Timeouts,
    /// Authentication failure counting, shared with the other listeners.
    pub throttle: AuthThrottle,
    /// Where connections and logins are counted.
    pub metrics: Metrics,
}

/// What holds a client nobody answers for yet: every MX peer, and a submission client
/// until it authenticates.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Submission: from connect to a successful AUTH. MX: from connect, or from the end
    /// of the last message, to the next DATA command.
    pub anonymous: Duration,
    /// The memory message bodies may hold, shared by the listener's sessions; `None`
    /// where clients are authenticated.
    pub in_flight: Option<InFlight>,
}

impl Bounds {
    /// The bounds `limits` sets for a listener in `mode`.
    pub fn new(limits: &LimitsConfig, mode: Mode) -> Bounds {
        match mode {
            Mode::Submission => Bounds {
                anonymous: Duration::from_secs(limits.unauthenticated_timeout_secs),
                in_flight: None,
            },
            Mode::Mx => Bounds {
                anonymous: Duration::from_secs(limits.mx_transaction_timeout_secs),
                in_flight: Some(InFlight::new(limits.mx_in_flight_bytes)),
            },
        }
    }
}

/// Why a connection ended abnormally (a normal QUIT, EOF or timeout is `Ok`).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Reading or writing the socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Handshake(io::Error),
    /// The TLS handshake took longer than the command timeout.
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// Implicit TLS is configured without a TLS acceptor.
    #[error("implicit TLS needs a TLS configuration")]
    NoTlsConfig,
}

/// Serves SMTP on `listener` until `shutdown`, within the connection caps of `limits`
/// (connections beyond them get `421 4.7.0 Too many connections`) and its [`Bounds`].
pub fn run_listener<B: Backend>(
    listener: TcpListener,
    endpoint: Endpoint<B>,
    limits: &LimitsConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> impl Future<Output = ()> + Send + 'static {
    let admission = Admission::new(limits.max_connections, limits.connections_per_ip);
    let bounds = Bounds::new(limits, endpoint.config.mode);
    let endpoint = Arc::new(endpoint);
    let busy: Arc<[u8]> = Reply::TOO_MANY_CONNECTIONS.to_bytes().into();
    let handle = {
        let shutdown = shutdown.clone();
        move |stream: TcpStream, peer: SocketAddr| {
            let endpoint = endpoint.clone();
            let bounds = bounds.clone();
            let shutdown = shutdown.clone();
            async move {
                let _open = endpoint.metrics.connection(Protocol::Smtp);
                // Replies are small and interactive; do not wait for Nagle.
                let _ = stream.set_nodelay(true);
                match run_connection(stream, peer.ip(), endpoint, bounds, shutdown).await {
                    Ok(()) => tracing::debug!(%peer, "SMTP connection closed"),
                    Err(error) => tracing::info!(%peer, %error, "SMTP connection failed"),
                }
            }
        }
    };
    listener::serve(listener, admission, busy, shutdown, tracker, handle)
}

/// Runs one SMTP connection from greeting to close.
pub async fn run_connection<S, B>(
    stream: S,
    peer: IpAddr,
    endpoint: Arc<Endpoint<B>>,
    bounds: Bounds,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    let mut config = endpoint.config.clone();
    config.tls_available &= endpoint.tls.is_some();
    let mut session = Session::new(config, peer);
    let mut driver = Driver {
        endpoint: &endpoint,
        peer,
        shutdown: &shutdown,
        bounds: &bounds,
        anonymous_since: tokio::time::Instant::now(),
    };
    if endpoint.config.implicit_tls {
        let stream = driver.handshake(stream).await?;
        let mut connection = Connection::new(stream);
        connection.queue(&session.greeting());
        // STARTTLS is refused under TLS, so this cannot ask for a second upgrade.
        driver.drive(&mut connection, &mut session).await?;
        return Ok(());
    }
    let mut connection = Connection::new(stream);
    connection.queue(&session.greeting());
    if let Ending::Closed = driver.drive(&mut connection, &mut session).await? {
        return Ok(());
    }
    let (stream, discarded) = connection.into_inner();
    if discarded > 0 {
        tracing::warn!(%peer, discarded, "plaintext after STARTTLS discarded");
    }
    let stream = driver.handshake(stream).await?;
    session.on_tls_established();
    let mut connection = Connection::new(stream);
    driver.drive(&mut connection, &mut session).await?;
    Ok(())
}

/// How a plaintext or TLS phase of the connection ended.
enum Ending {
    /// The connection is over.
    Closed,
    /// `220` to STARTTLS was sent; the handshake comes next.
    StartTls,
}

/// The per-connection context the loop needs besides the stream and the session.
struct Driver<'a, B> {
    endpoint: &'a Endpoint<B>,
    peer: IpAddr,
    shutdown: &'a CancellationToken,
    bounds: &'a Bounds,
    /// Where the client's current [`Bounds::anonymous`] period started.
    anonymous_since: tokio::time::Instant,
}

impl<B: Backend> Driver<'_, B> {
    async fn handshake<S>(&self, stream: S) -> Result<TlsStream<S>, ConnectionError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = self
            .endpoint
            .tls
            .as_ref()
            .ok_or(ConnectionError::NoTlsConfig)?;
        tokio::time::timeout(self.endpoint.timeouts.handshake, acceptor.accept(stream))
            .await
            .map_err(|_| ConnectionError::HandshakeTimeout)?
            .map_err(ConnectionError::Handshake)
    }

    /// The command loop: one line, its steps, again.
    async fn drive<T>(
        &mut self,
        connection: &mut Connection<T>,
        session: &mut Session,
    ) -> Result<Ending, ConnectionError>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            if self.shutdown.is_cancelled() {
                return connection.close_with(&Reply::SHUTTING_DOWN).await;
            }
            connection.flush_if_idle().await?;
            let deadline = self.command_deadline(session);
            // Dropped after the message it reserved for has been submitted or refused.
            let mut in_flight: Option<Reservation> = None;
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, connection.read_line()) => read,
                () = self.shutdown.cancelled() => {
                    return connection.close_with(&Reply::SHUTTING_DOWN).await;
                }
            };
            let step = match read {
                Err(_elapsed) => return connection.close_with(&Reply::TIMEOUT).await,
                Ok(Err(error)) => return Err(error.into()),
                Ok(Ok(Line::End)) => return Ok(Ending::Closed),
                Ok(Ok(Line::TooLong)) => session.on_line_too_long(),
                Ok(Ok(Line::Complete)) => session.on_line(&connection.line),
            };
            if let Some(ending) = self
                .steps(connection, session, step, &mut in_flight)
                .await?
            {
                return Ok(ending);
            }
        }
    }

    /// Carries out a line's steps until one answers the client (`None`: read the next
    /// line) or ends this phase of the connection.
    async fn steps<T>(
        &mut self,
        connection: &mut Connection<T>,
        session: &mut Session,
        mut step: Step,
        in_flight: &mut Option<Reservation>,
    ) -> Result<Option<Ending>, ConnectionError>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            step = match step {
                Step::Reply(reply) => {
                    connection.queue(&reply);
                    return Ok(None);
                }
                Step::Close(reply) => return connection.close_with(&reply).await.map(Some),
                Step::StartTls(reply) => {
                    connection.queue(&reply);
                    connection.flush().await?;
                    return Ok(Some(Ending::StartTls));
                }
                Step::Authenticate { user, password } => {
                    session.on_auth_result(self.authenticate(&user, &password).await)
                }
                Step::CheckRecipient {
                    rcpt,
                    authenticated,
                } => {
                    let backend = &self.endpoint.backend;
                    let verdict = backend
                        .check_recipient(session.mode(), authenticated.as_deref(), &rcpt)
                        .await;
                    session.on_recipient_checked(verdict)
                }
                Step::ReadData { reply, max_bytes } => {
                    connection.queue(&reply);
                    connection.flush_if_idle().await?;
                    let anonymous = session.mode() == Mode::Mx;
                    let read = self.read_data(connection, max_bytes, anonymous).await?;
                    self.anonymous_since = tokio::time::Instant::now();
                    match read {
                        DataRead::Body(body, reservation) => {
                            *in_flight = reservation;
                            session.on_data(body)
                        }
                        DataRead::End => return Ok(Some(Ending::Closed)),
                        DataRead::Refused(reply) => {
                            return connection.close_with(&reply).await.map(Some);
                        }
                    }
                }
                Step::Submit(envelope) => self.submit(session, envelope).await,
            };
        }
    }

    /// Hands a received message to the backend; its reply is the session's next step.
    async fn submit(&self, session: &mut Session, envelope: Envelope) -> Step {
        tracing::info!(
            peer = %self.peer,
            from = %envelope.mail_from,
            recipients = envelope.rcpt_to.len(),
            bytes = envelope.data.len(),
            "message received"
        );
        let reply = self.endpoint.backend.submit(session.mode(), envelope).await;
        session.on_submitted(reply)
    }

    /// When the next command line must have arrived: within the command timeout, and
    /// for a client nobody answers for, within its [`Bounds::anonymous`] period.
    fn command_deadline(&self, session: &Session) -> tokio::time::Instant {
        let command = tokio::time::Instant::now() + self.endpoint.timeouts.command;
        if session.mode() == Mode::Mx || !session.is_authenticated() {
            command.min(self.anonymous_since + self.bounds.anonymous)
        } else {
            command
        }
    }

    /// Checks credentials through the throttle, which counts the attempt as a failure
    /// before the check and refuses it unchecked when locked or busy.
    async fn authenticate(&self, user: &str, password: &Secret) -> AuthOutcome {
        let attempt = match self
            .endpoint
            .throttle
            .admit(self.peer, user, Instant::now())
        {
            LoginAdmission::Check(attempt) => attempt,
            LoginAdmission::Locked => {
                self.endpoint.metrics.throttled(Protocol::Smtp);
                tracing::warn!(peer = %self.peer, user = ?user, "authentication refused: locked");
                return AuthOutcome::Locked;
            }
            LoginAdmission::Busy => {
                self.endpoint.metrics.throttled(Protocol::Smtp);
                tracing::warn!(peer = %self.peer, "authentication refused: too many checks waiting");
                return AuthOutcome::Unavailable;
            }
        };
        if !attempt.delay().is_zero() {
            tokio::time::sleep(attempt.delay()).await;
        }
        let Some(attempt) = attempt.after_delay(Instant::now()) else {
            self.endpoint.metrics.throttled(Protocol::Smtp);
            tracing::warn!(peer = %self.peer, "authentication refused: too many checks waiting");
            return AuthOutcome::Unavailable;
        };
        let checked = self
            .endpoint
            .backend
            .authenticate(user, password.expose())
            .await;
        match checked {
            Ok(Some(credential)) => {
                attempt.succeeded(Instant::now());
                self.endpoint.metrics.login(Protocol::Smtp, true);
                tracing::info!(peer = %self.peer, mailbox = %user, "authenticated");
                AuthOutcome::Accepted(credential)
            }
            Ok(None) => {
                self.endpoint.metrics.login(Protocol::Smtp, false);
                tracing::info!(peer = %self.peer, user = ?user, "authentication failed");
                attempt.failed();
                AuthOutcome::Rejected
            }
            Err(error) => {
                tracing::error!(peer = %self.peer, %error, "authentication not checked");
                attempt.withdrawn(Instant::now());
                AuthOutcome::Unavailable
            }
        }
    }

    /// Reads one DATA body, counting it against the in-flight budget when there is
    /// one. From an anonymous peer (the MX) the whole body must arrive within the data
    /// timeout, however it is paced; from a logged-in user, each read within it, so a
    /// large message over a slow line still goes through.
    async fn read_data<T>(
        &self,
        connection: &mut Connection<T>,
        max_bytes: usize,
        anonymous: bool,
    ) -> Result<DataRead, ConnectionError>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let timeout = self.endpoint.timeouts.data;
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut decoder = DataDecoder::new(max_bytes);
        let mut reservation = self.bounds.in_flight.as_ref().map(InFlight::reservation);
        loop {
            let filled = tokio::select! {
                filled = tokio::time::timeout_at(deadline, connection.reader.fill_buf()) => filled,
                // Nothing was accepted yet: the client will send the message again.
                () = self.shutdown.cancelled() => return Ok(DataRead::Refused(Reply::SHUTTING_DOWN)),
            };
            let available = match filled {
                Err(_elapsed) => return Ok(DataRead::Refused(Reply::TIMEOUT)),
                Ok(result) => result?,
            };
            if available.is_empty() {
                return Ok(DataRead::End);
            }
            if !anonymous {
                deadline = tokio::time::Instant::now() + timeout;
            }
            if let Some(reservation) = &mut reservation {
                hold(reservation, &mut decoder, available.len());
            }
            let (used, body) = decoder.feed(available);
            connection.reader.consume(used);
            if let Some(body) = body {
                // The body has left the decoder; the reservation goes with it.
                return Ok(DataRead::Body(body, reservation));
            }
            if let Some(reservation) = &mut reservation {
                // Gives back what a body dropped meanwhile (too large) held.
                hold(reservation, &mut decoder, 0);
            }
        }
    }
}

/// Reserves what the body will hold after `more` bytes, or drops the body when the
/// budget has no room for it.
fn hold(reservation: &mut Reservation, decoder: &mut DataDecoder, more: usize) {
    if !reservation.resize(decoder.capacity_for(more)) {
        decoder.give_up();
        reservation.resize(0);
    }
}

/// How reading a DATA body ended.
enum DataRead {
    /// The terminator arrived; the reservation, if any, holds the body's memory.
    Body(Body, Option<Reservation>),
    /// The client went away: nothing is submitted.
    End,
    /// Timeout or shutdown: send this and close.
    Refused(Reply),
}
