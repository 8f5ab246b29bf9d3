//! Outbound SMTP: relay of a message to another provider's MX.
//!
//! A [`Connection`] is one session: greeting, EHLO (HELO if the server does not speak
//! ESMTP), STARTTLS whenever offered (RFC 3207; mandatory with
//! [`ClientOptions::require_tls`]), EHLO again; then any number of transactions (RFC 5321
//! §3.3): MAIL FROM (with `SIZE=` when advertised, RFC 1870), one RCPT per recipient,
//! DATA with dot-stuffing, pipelined when the server offers PIPELINING (RFC 2920).
//! [`send`] is one session for one message; [`pool::Pool`] keeps sessions open between
//! messages, so a busy route pays for one TLS handshake, not one per message.
//! The outcome is per recipient, and every failure says whether retrying makes sense
//! ([`ClientError::is_transient`]): 4xx replies, network failures and timeouts do,
//! 5xx replies do not. Retry and bounce policy belong to the caller.

mod conversation;
pub mod pool;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::net::ToSocketAddrs;
use tokio_rustls::TlsConnector;

use crate::smtp::client::conversation::Conversation;

use crate::smtp::reply::Reply;

/// How this provider talks to others; built once, shared by every delivery.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Our host name, sent in EHLO.
    pub helo: String,
    /// TLS for STARTTLS, with the roots other providers' certificates chain to.
    pub tls: Arc<ClientConfig>,
    /// Refuse to send in clear when the server does not offer STARTTLS.
    pub require_tls: bool,
    /// How long to wait for the server.
    pub timeouts: ClientTimeouts,
}

/// Client-side timeouts (RFC 5321 §4.5.3.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ClientTimeouts {
    /// For the TCP connection.
    pub connect: Duration,
    /// For each reply, each write and the TLS handshake.
    pub command: Duration,
    /// For the reply after the final `.` (the server is committing the message).
    pub data_end: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(5 * 60),
            data_end: Duration::from_secs(10 * 60),
        }
    }
}

/// The message to relay and its envelope.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The reverse-path (empty for the null sender).
    pub mail_from: &'a str,
    /// The forward-paths.
    pub rcpt_to: &'a [String],
    /// The message, not dot-stuffed.
    pub data: &'a [u8],
}

/// What happened to a message the server did not refuse as a whole.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Delivery {
    /// One entry per recipient, in order, with the server's RCPT reply.
    pub recipients: Vec<RecipientOutcome>,
    /// The reply after the message; `None` when no recipient was accepted and the
    /// message was therefore not sent.
    pub data_reply: Option<Reply>,
    /// Whether the message went over TLS.
    pub tls: bool,
}

impl Delivery {
    /// The recipients the server took the message for.
    pub fn accepted(&self) -> impl Iterator<Item = &str> {
        let sent = self.data_reply.is_some();
        self.recipients
            .iter()
            .filter(move |r| sent && r.reply.is_positive())
            .map(|r| r.address.as_str())
    }

    /// The recipients the server refused, with its reply.
    pub fn rejected(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| !r.reply.is_positive())
    }
}

/// The server's answer to one RCPT.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RecipientOutcome {
    /// The forward-path.
    pub address: String,
    /// The RCPT reply: 2xx accepted, 4xx retry later, 5xx never.
    pub reply: Reply,
}

/// The step of the dialogue a failure happened in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Stage {
    /// Opening the TCP connection.
    Connect,
    /// Waiting for the `220` greeting.
    Greeting,
    /// EHLO or HELO.
    Hello,
    /// STARTTLS and the handshake.
    StartTls,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA, before the message.
    Data,
    /// The reply after the message.
    DataEnd,
}

/// Why a delivery failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// The server did not answer in time.
    #[error("timed out at {0}")]
    Timeout(Stage),
    /// The connection broke.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// [`ClientOptions::require_tls`] is set and the server does not offer STARTTLS.
    #[error("server does not offer STARTTLS")]
    TlsNotOffered,
    /// The TLS handshake failed (for example an untrusted certificate).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The name to check the server certificate against is not a DNS name or address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// An envelope address would break the command line (CR, LF, `<`, `>`, …).
    #[error("invalid envelope address {0:?}")]
    InvalidAddress(String),
    /// The server's reply is not SMTP.
    #[error("malformed reply at {0}")]
    MalformedReply(Stage),
    /// The server refused.
    #[error("refused at {stage}: {reply}")]
    Rejected {
        /// Where.
        stage: Stage,
        /// The server's reply.
        reply: Reply,
    },
}

impl ClientError {
    /// Retrying later cannot help: a 5xx refusal or an unusable envelope or name.
    pub fn is_permanent(&self) -> bool {
        match self {
            ClientError::Rejected { reply, .. } => reply.is_permanent(),
            ClientError::ServerName(_) | ClientError::InvalidAddress(_) => true,
            _ => false,
        }
    }

    /// Worth retrying later: 4xx refusals, network failures, timeouts, TLS trouble.
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
}

/// Delivers `message` to the server at `target` over a session of its own, checking
/// the server's certificate against `server_name`.
pub async fn send(
    target: impl ToSocketAddrs,
    server_name: &str,
    options: &ClientOptions,
    message: &Message<'_>,
) -> Result<Delivery, ClientError> {
    let mut connection = Connection::open(target, server_name, options).await?;
    let delivery = connection.send(message).await;
    connection.quit().await;
    delivery
}

/// Anything a session can run over: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open session with one server: greeted, under TLS when offered, between two
/// transactions. A session still in step with the server after [`Connection::send`]
/// carries the next message too (RFC 5321 §3.3), without a new handshake.
pub struct Connection {
    conversation: Conversation<Box<dyn Stream>>,
    capabilities: Capabilities,
    tls: bool,
    in_step: bool,
}

impl Connection {
    /// Connects to `target`, reads the greeting, says EHLO and starts TLS when offered
    /// (RFC 3207; mandatory with [`ClientOptions::require_tls`]), checking the server's
    /// certificate against `server_name`.
    pub async fn open(
        target: impl ToSocketAddrs,
        server_name: &str,
        options: &ClientOptions,
    ) -> Result<Connection, ClientError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| ClientError::ServerName(server_name.to_owned()))?;
        let timeouts = options.timeouts;
        let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect(target))
            .await
            .map_err(|_| ClientError::Timeout(Stage::Connect))?
            .map_err(ClientError::Connect)?;
        // Commands are small and each waits for its reply; do not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let mut plain = Conversation::new(Box::new(tcp) as Box<dyn Stream>, timeouts);
        let greeted = async {
            plain.expect(Stage::Greeting, 220).await?;
            let capabilities = plain.hello(&options.helo).await?;
            if capabilities.starttls {
                plain.command("STARTTLS", Stage::StartTls).await?;
            }
            Ok(capabilities)
        }
        .await;
        let capabilities = plain.quit_if_refused(greeted).await?;
        if !capabilities.starttls {
            if options.require_tls {
                plain.quit().await;
                return Err(ClientError::TlsNotOffered);
            }
            return Ok(Connection {
                conversation: plain,
                capabilities,
                tls: false,
                in_step: true,
            });
        }
        let connector = TlsConnector::from(options.tls.clone());
        let stream = tokio::time::timeout(
            timeouts.command,
            connector.connect(name, plain.into_inner()),
        )
        .await
        .map_err(|_| ClientError::Timeout(Stage::StartTls))?
        .map_err(ClientError::Handshake)?;
        let mut secure = Conversation::new(Box::new(stream) as Box<dyn Stream>, timeouts);
        let hello = secure.hello(&options.helo).await;
        let capabilities = secure.quit_if_refused(hello).await?;
        Ok(Connection {
            conversation: secure,
            capabilities,
            tls: true,
            in_step: true,
        })
    }

    /// One transaction: MAIL, RCPT per recipient, DATA with dot-stuffing. A refused
    /// transaction is reset (RSET) so the session can carry the next one.
    pub async fn send(&mut self, message: &Message<'_>) -> Result<Delivery, ClientError> {
        for address in
            std::iter::once(message.mail_from).chain(message.rcpt_to.iter().map(String::as_str))
        {
            check_address(address)?;
        }
        self.in_step = false;
        let result = self
            .conversation
            .transaction(&self.capabilities, message, self.tls)
            .await;
        self.in_step = match &result {
            Ok(delivery) => delivery.data_reply.is_some() || self.conversation.reset().await,
            Err(ClientError::Rejected { reply, .. }) if reply.code() == 421 => false,
            // A temporary refusal of the sender may be about this session (a per-session
            // message limit): another session is better placed to retry.
            Err(ClientError::Rejected {
                stage: Stage::MailFrom,
                reply,
            }) if reply.is_transient() => false,
            Err(ClientError::Rejected {
                stage: Stage::DataEnd,
                ..
            }) => true,
            Err(ClientError::Rejected { .. }) => self.conversation.reset().await,
            Err(_) => false,
        };
        result
    }

    /// Whether the session can carry another transaction: the last one ended with a
    /// reply the server sent in step, and the server did not close.
    pub fn is_reusable(&self) -> bool {
        self.in_step
    }

    /// Ends the session politely (QUIT) when it is still in step; a broken one is just
    /// dropped.
    pub async fn quit(mut self) {
        if self.in_step {
            self.conversation.quit().await;
        }
    }
}

/// Parses one complete reply from its wire lines (CRLF or LF endings).
pub fn parse_reply(lines: &[&[u8]]) -> Option<Reply> {
    let mut code = None;
    let mut enhanced = None;
    let mut texts = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let line = crate::smtp::command::strip_line_ending(line);
        let line = std::str::from_utf8(line).ok()?;
        let digits = line
            .get(..3)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
        let this: u16 = digits.parse().ok()?;
        if *code.get_or_insert(this) != this || !(200..600).contains(&this) {
            return None;
        }
        let last = index + 1 == lines.len();
        let text = match line.as_bytes().get(3) {
            None if last => "",
            Some(b' ') if last => &line[4..],
            Some(b'-') if !last => &line[4..],
            _ => return None,
        };
        let (status, text) = split_enhanced(text);
        enhanced = enhanced.or(status);
        texts.push(text);
    }
    let code = code?;
    let text = texts.join("\n");
    Some(match enhanced {
        Some(status) => Reply::new(code, status, text),
        None => Reply::plain(code, text),
    })
}

/// The enhanced status code at the start of a reply line (RFC 3463), if any.
fn split_enhanced(text: &str) -> (Option<(u8, u16, u16)>, &str) {
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    match parse_status(first) {
        Some(status) => (Some(status), rest),
        None => (None, text),
    }
}

fn parse_status(word: &str) -> Option<(u8, u16, u16)> {
    let mut parts = word.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
}

fn check_address(address: &str) -> Result<(), ClientError> {
    let bad = |c: char| c.is_control() || matches!(c, '<' | '>' | ' ');
    if address.len() > 256 || address.contains(bad) {
        return Err(ClientError::InvalidAddress(address.to_owned()));
    }
    Ok(())
}

/// The EHLO keywords the client acts on.
#[derive(Clone, Copy, Debug, Default)]
struct Capabilities {
    starttls: bool,
    size: bool,
    eight_bit_mime: bool,
    pipelining: bool,
}

impl Capabilities {
    fn from_ehlo(reply: &Reply) -> Self {
        let mut capabilities = Capabilities::default();
        for line in reply.text().lines().skip(1) {
            let keyword = line.split_whitespace().next().unwrap_or_default();
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => capabilities.starttls = true,
                "SIZE" => capabilities.size = true,
                "8BITMIME" => capabilities.eight_bit_mime = true,
                "PIPELINING" => capabilities.pipelining = true,
                _ => {}
            }
        }
        capabilities
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Hello => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::DataEnd => "end of data",
        })
    }
}
