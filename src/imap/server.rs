//! The async IMAP shell: one task per connection, between the socket and a
//! [`Session`]. It owns what the session must not: the stream, TLS (implicit on imaps,
//! RFC 8314; STARTTLS on imap, RFC 3501 §6.2.1), framing of lines and literals with
//! imap-codec's `Fragmentizer` (continuation requests for synchronizing literals, the
//! literal size limit), password checks through the shared [`AuthThrottle`], IDLE
//! (RFC 2177) and NOTIFY (RFC 5465, between commands) woken by the store's commits
//! that changed the logged-in user's mailbox (and by no others), timeouts and shutdown.
//!
//! Store work runs on the blocking pool: redb commits fsync, and a slow disk must not
//! stall other connections.
//!
//! Until a client logs in it has a deadline for doing so (counted from connect, across
//! STARTTLS), and its literals are capped (see [`framing`](crate::imap::framing)): an
//! anonymous peer can neither hold a slot with NOOPs nor make the server buffer much.

use std::future::Future;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::core::Tag;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod connection;

use connection::Arrival;
use connection::Connection;

use crate::config::LimitsConfig;
use crate::imap::exchange::decode;
use crate::imap::exchange::end_idle;
use crate::imap::extended::Extended;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Effect;
use crate::imap::session::Hooks;
use crate::imap::session::Session;
use crate::imap::session::SessionConfig;
use crate::imap::session::Step;
use crate::imap::session::Transport;
use crate::metrics::Metrics;
use crate::metrics::Protocol;
use crate::net::ack::AckNow;
use crate::net::listener;
use crate::net::listener::Admission;
use crate::net::throttle::Admission as LoginAdmission;
use crate::net::throttle::AuthThrottle;
use crate::store::Store;
use crate::store::mailbox::Credential;
use crate::store::signal::MailboxCommits;

/// How long the shell waits for the client.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Between commands outside IDLE (RFC 3501 §5.4: at least 30 minutes).
    pub command: Duration,
    /// In IDLE before the server ends it (RFC 2177: clients re-issue within 29 min).
    pub idle: Duration,
    /// For the TLS handshake.
    pub handshake: Duration,
    /// From connect to a successful login.
    pub login: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(30 * 60),
            idle: Duration::from_secs(30 * 60),
            handshake: Duration::from_secs(60),
            login: Duration::from_secs(LimitsConfig::default().unauthenticated_timeout_secs),
        }
    }
}

/// Everything one IMAP listener needs, shared by its connections.
pub struct Endpoint {
    /// Session settings.
    pub config: SessionConfig,
    /// The provider behind every session.
    pub hooks: Arc<dyn Hooks>,
    /// TLS for STARTTLS or implicit TLS.
    pub tls: TlsAcceptor,
    /// Whether TLS starts at connect (imaps).
    pub implicit_tls: bool,
    /// The mailboxes.
    pub store: Store,
    /// Authentication failure counting, shared with SMTP.
    pub throttle: AuthThrottle,
    /// The password checkers, shared with SMTP.
    pub passwords: crate::net::passwords::PasswordChecks,
    /// Read timeouts.
    pub timeouts: Timeouts,
    /// Where connections and logins are counted.
    pub metrics: Metrics,
}

/// Serves IMAP on `listener` until `shutdown`, within the connection caps and the
/// login deadline of `limits`.
pub fn run_listener(
    listener: TcpListener,
    mut endpoint: Endpoint,
    limits: &LimitsConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> impl Future<Output = ()> + Send + 'static {
    endpoint.timeouts.login = Duration::from_secs(limits.unauthenticated_timeout_secs);
    let endpoint = Arc::new(endpoint);
    let busy: Arc<[u8]> = Arc::from(&b"* BYE too many connections, try again later\r\n"[..]);
    let handle = {
        let shutdown = shutdown.clone();
        move |stream: TcpStream, peer: SocketAddr| {
            let endpoint = endpoint.clone();
            let shutdown = shutdown.clone();
            async move {
                let _open = endpoint.metrics.connection(Protocol::Imap);
                let _ = stream.set_nodelay(true);
                match run_connection(stream, peer.ip(), endpoint, shutdown).await {
                    Ok(()) => tracing::debug!(%peer, "IMAP connection closed"),
                    Err(error) => tracing::info!(%peer, %error, "IMAP connection failed"),
                }
            }
        }
    };
    let admission = Admission::new(limits.max_connections, limits.connections_per_ip);
    listener::serve(listener, admission, busy, shutdown, tracker, handle)
}

/// Runs one connection from greeting to close.
pub async fn run_connection<S>(
    stream: S,
    peer: IpAddr,
    endpoint: Arc<Endpoint>,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + AckNow + Send,
{
    let transport = if endpoint.implicit_tls {
        Transport::Tls
    } else {
        Transport::Plain
    };
    let session = Session::new(endpoint.config.clone(), transport, endpoint.hooks.clone());
    let driver = Driver {
        endpoint: &endpoint,
        peer,
        shutdown: &shutdown,
        login_deadline: tokio::time::Instant::now() + endpoint.timeouts.login,
    };
    if endpoint.implicit_tls {
        let stream = Box::pin(driver.handshake(stream)).await?;
        let mut connection = Connection::new(stream, endpoint.config.max_append_bytes);
        connection.send(&[session.greeting()]).await?;
        driver.drive(&mut connection, session).await?;
        return Ok(());
    }
    let mut connection = Connection::new(stream, endpoint.config.max_append_bytes);
    connection.send(&[session.greeting()]).await?;
    let Some(mut session) = driver.drive(&mut connection, session).await? else {
        return Ok(());
    };
    // Anything the client sent after STARTTLS in plaintext is dropped unread.
    let stream = Box::pin(driver.handshake(connection.stream)).await?;
    session.tls_started();
    let mut connection = Connection::new(stream, endpoint.config.max_append_bytes);
    driver.drive(&mut connection, session).await?;
    Ok(())
}

/// How many batches of early output a session may get ahead of the socket.
const EARLY_BATCHES: usize = 2;

struct Driver<'a> {
    endpoint: &'a Endpoint,
    peer: IpAddr,
    shutdown: &'a CancellationToken,
    /// When a client that has not logged in yet is sent away.
    login_deadline: tokio::time::Instant,
}

/// A read that did not produce a message.
enum Interrupted {
    Eof,
    Timeout,
    Shutdown,
}

impl Driver<'_> {
    async fn handshake<S>(&self, stream: S) -> std::io::Result<tokio_rustls::server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + AckNow,
    {
        tokio::time::timeout(
            self.endpoint.timeouts.handshake,
            self.endpoint.tls.accept(stream),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }

    /// Reads the next message, waiting at most the command timeout and, before login,
    /// no later than the login deadline. Meanwhile, when the session asked for NOTIFY,
    /// each commit of the store is turned into its notifications.
    async fn read<S: AsyncRead + AsyncWrite + Unpin + AckNow>(
        &self,
        connection: &mut Connection<S>,
        session: &mut Session,
        commits: &mut Option<MailboxCommits>,
    ) -> std::io::Result<Result<(), Interrupted>> {
        let mut deadline = tokio::time::Instant::now() + self.endpoint.timeouts.command;
        if session.user().is_none() {
            deadline = deadline.min(self.login_deadline);
        } else {
            connection.framer.logged_in();
        }
        loop {
            watch_commits(&self.endpoint.store, session, commits);
            tokio::select! {
                read = tokio::time::timeout_at(deadline, connection.next_arrival(commits.as_mut())) => match read {
                    Err(_) => return Ok(Err(Interrupted::Timeout)),
                    Ok(Ok(Arrival::Message)) => return Ok(Ok(())),
                    Ok(Ok(Arrival::Closed)) => return Ok(Err(Interrupted::Eof)),
                    Ok(Ok(Arrival::Committed)) => {}
                    Ok(Err(error)) => return Err(error),
                },
                () = self.shutdown.cancelled() => return Ok(Err(Interrupted::Shutdown)),
            }
            self.endpoint.metrics.imap_woken();
            // Read on this thread, as IDLE's reports are: a few folder records, and
            // the new messages' attributes when MessageNew asked for them.
            let out = session
                .notifications(&self.endpoint.store, jiff::Timestamp::now())
                .unwrap_or_else(|fault| {
                    tracing::error!(error = %fault, "NOTIFY: changes not read");
                    Vec::new()
                });
            if !out.is_empty() {
                connection.send(&out).await?;
            }
            if session.ended() {
                return Ok(Err(Interrupted::Eof));
            }
        }
    }

    /// The command loop. Returns the session when STARTTLS asks for the handshake.
    async fn drive<S: AsyncRead + AsyncWrite + Unpin + AckNow>(
        &self,
        connection: &mut Connection<S>,
        mut session: Session,
    ) -> std::io::Result<Option<Session>> {
        let mut commits = None;
        loop {
            match self.read(connection, &mut session, &mut commits).await? {
                Ok(()) => {}
                Err(Interrupted::Eof) => return Ok(None),
                Err(Interrupted::Timeout) => {
                    let why = if session.user().is_none() {
                        "autologout: not logged in in time"
                    } else {
                        "autologout: idle for too long"
                    };
                    connection.send(&[reply::bye(why)]).await?;
                    return Ok(None);
                }
                Err(Interrupted::Shutdown) => {
                    connection
                        .send(&[reply::bye("server shutting down")])
                        .await?;
                    return Ok(None);
                }
            }
            let (command, extended) = match decode(&connection.framer) {
                Ok(decoded) => decoded,
                Err(refusal) => {
                    connection.send(&[refusal]).await?;
                    continue;
                }
            };
            let (back, mut step) =
                Box::pin(self.handle(connection, session, command, extended)).await?;
            session = back;
            loop {
                connection.send(&step.out).await?;
                step = match step.effect {
                    Effect::Next => break,
                    Effect::Close => return Ok(None),
                    Effect::StartTls => return Ok(Some(session)),
                    Effect::CheckLogin {
                        tag,
                        user,
                        password,
                    } => match Box::pin(self.check_password(&user, &password)).await {
                        Ok(credential) => session.login_checked(tag, &user, credential),
                        Err(unchecked) => Step {
                            out: vec![unchecked.reply(&tag)],
                            effect: Effect::Next,
                        },
                    },
                    Effect::AuthenticateData { tag } => {
                        connection.send(&[Out::Raw(b"+ \r\n".to_vec())]).await?;
                        if self
                            .read(connection, &mut session, &mut None)
                            .await?
                            .is_err()
                        {
                            return Ok(None);
                        }
                        let line = connection.framer.message().to_vec();
                        session.authenticate_data(tag, &line)
                    }
                    Effect::Idle { tag } => {
                        match Box::pin(self.idle(connection, &mut session, tag)).await? {
                            Some(step) => step,
                            None => return Ok(None),
                        }
                    }
                };
            }
        }
    }

    /// Runs the session on the blocking pool (its store work may fsync), writing what
    /// it hands over early (a long FETCH) while it works.
    async fn handle<S: AsyncRead + AsyncWrite + Unpin + AckNow>(
        &self,
        connection: &mut Connection<S>,
        mut session: Session,
        command: Command<'static>,
        extended: Extended,
    ) -> std::io::Result<(Session, Step)> {
        let store = self.endpoint.store.clone();
        let (early, mut handed) = tokio::sync::mpsc::channel(EARLY_BATCHES);
        let work = tokio::task::spawn_blocking(move || {
            let now = jiff::Timestamp::now();
            let step = session.handle_streaming(&store, command, &extended, now, early);
            (session, step)
        });
        // Ends when the session drops its sender, at the end of the command.
        while let Some(out) = handed.recv().await {
            connection.send(&out).await?;
        }
        work.await.map_err(std::io::Error::other)
    }

    /// Whether the password is right, unless the throttle refused to check it. The
    /// attempt counts as a failure from before the check until it proves right.
    async fn check_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Credential>, Unchecked> {
        let attempt = match self
            .endpoint
            .throttle
            .admit(self.peer, user, Instant::now())
        {
            LoginAdmission::Check(attempt) => attempt,
            LoginAdmission::Locked => {
                self.endpoint.metrics.throttled(Protocol::Imap);
                tracing::warn!(peer = %self.peer, user = ?user, "IMAP login refused: locked");
                return Err(Unchecked::Locked);
            }
            LoginAdmission::Busy => {
                self.endpoint.metrics.throttled(Protocol::Imap);
                tracing::warn!(peer = %self.peer, "IMAP login refused: too many checks waiting");
                return Err(Unchecked::Busy);
            }
        };
        if !attempt.delay().is_zero() {
            tokio::time::sleep(attempt.delay()).await;
        }
        let Some(attempt) = attempt.after_delay(Instant::now()) else {
            self.endpoint.metrics.throttled(Protocol::Imap);
            tracing::warn!(peer = %self.peer, "IMAP login refused: too many checks waiting");
            return Err(Unchecked::Busy);
        };
        let checked = self
            .endpoint
            .passwords
            .check(self.endpoint.store.password_lookup(), user, password)
            .await;
        let credential = match checked {
            Some(Ok(credential)) => credential,
            Some(Err(error)) => {
                tracing::error!(peer = %self.peer, %error, "IMAP login not checked");
                attempt.withdrawn(Instant::now());
                return Err(Unchecked::Unavailable);
            }
            None => {
                attempt.withdrawn(Instant::now());
                return Err(Unchecked::Unavailable);
            }
        };
        self.endpoint
            .metrics
            .login(Protocol::Imap, credential.is_some());
        if credential.is_some() {
            attempt.succeeded(Instant::now());
        } else {
            tracing::info!(peer = %self.peer, user = ?user, "IMAP login failed");
            attempt.failed();
        }
        Ok(credential)
    }

    /// IDLE: changes are pushed as they are committed until the client says DONE.
    async fn idle<S: AsyncRead + AsyncWrite + Unpin + AckNow>(
        &self,
        connection: &mut Connection<S>,
        session: &mut Session,
        tag: Tag<'static>,
    ) -> std::io::Result<Option<Step>> {
        // IDLE needs a login: a session without a user listens to no mailbox's commits.
        let mut commits = self
            .endpoint
            .store
            .mailbox_commits(session.user().unwrap_or_default());
        connection.send(&[reply::continuation("idling")]).await?;
        let deadline = tokio::time::Instant::now() + self.endpoint.timeouts.idle;
        let store = self.endpoint.store.clone();
        loop {
            // Looks first as IDLE begins: a commit between the session's previous
            // command and the subscription above will wake nothing more.
            let out = session
                .poll(&store, jiff::Timestamp::now())
                .unwrap_or_default();
            if !out.is_empty() {
                connection.send(&out).await?;
            }
            if session.ended() {
                return Ok(None);
            }
            tokio::select! {
                read = tokio::time::timeout_at(deadline, connection.next_arrival(Some(&mut commits))) => {
                    match read {
                        Err(_) => {
                            connection.send(&[reply::bye("IDLE timed out")]).await?;
                            return Ok(None);
                        }
                        Ok(Ok(Arrival::Message)) => {
                            let now = jiff::Timestamp::now();
                            let out = end_idle(session, &store, tag, connection.framer.message(), now);
                            let effect = if session.ended() { Effect::Close } else { Effect::Next };
                            return Ok(Some(Step { out, effect }));
                        }
                        Ok(Ok(Arrival::Closed)) => return Ok(None),
                        // Every commit is this process's (the store's one writer, which
                        // also runs the operator's commands): each that changed this
                        // user's mailbox wakes the session at once, whoever wrote it.
                        Ok(Ok(Arrival::Committed)) => self.endpoint.metrics.imap_woken(),
                        Ok(Err(error)) => return Err(error),
                    }
                }
                () = self.shutdown.cancelled() => {
                    connection.send(&[reply::bye("server shutting down")]).await?;
                    return Ok(None);
                }
            }
        }
    }
}

/// Keeps `commits` watching the user's mailbox exactly while the session asks for
/// NOTIFY; a watch just begun counts as woken, so what was committed since NOTIFY
/// looked is reported. NOTIFY reports only the user's own folders (its watch reads no
/// other mailbox), so the commits that changed that mailbox are all it needs, whoever
/// made them (a receipt marking the `Sent` copy is a write to the sender's mailbox).
fn watch_commits(store: &Store, session: &Session, commits: &mut Option<MailboxCommits>) {
    match (session.notifying(), session.user(), commits.is_some()) {
        (true, Some(user), false) => {
            let mut receiver = store.mailbox_commits(user);
            receiver.mark_changed();
            *commits = Some(receiver);
        }
        (false, _, true) => *commits = None,
        _ => {}
    }
}

/// Why a login was refused without looking at its password.
enum Unchecked {
    /// Too many failures for the address, the account or both.
    Locked,
    /// Too many checks waiting.
    Busy,
    /// The store could not tell.
    Unavailable,
}

impl Unchecked {
    /// `NO [UNAVAILABLE]` (RFC 5530): not checked, may be retried later.
    fn reply(&self, tag: &Tag<'static>) -> Out {
        let text = match self {
            Unchecked::Locked => "too many failed logins, try again later",
            Unchecked::Busy => "too many logins being checked, try again shortly",
            Unchecked::Unavailable => "logins cannot be checked now, try again shortly",
        };
        reply::no(
            tag,
            Some(crate::imap::session::other_code("UNAVAILABLE")),
            text,
        )
    }
}
