//! The SMTP server session: a sans-IO state machine from client input to [`Step`]s.
//!
//! The async driver ([`crate::smtp::server`]) owns the socket, the timeouts and the
//! backend; it feeds the session command lines ([`Session::on_line`]) and the results
//! of what the session asked for (`on_tls_established`, `on_auth_result`,
//! `on_recipient_checked`, `on_data`, `on_submitted`), and carries out each returned
//! [`Step`]. The session itself never blocks and never decides PEC policy: recipients
//! and messages go to the backend, which answers with the reply to send.
//!
//! It implements RFC 5321 (the transaction: EHLO/HELO, MAIL, RCPT, DATA, RSET, …),
//! RFC 3207 (STARTTLS: everything said before the handshake is forgotten),
//! RFC 4954 (AUTH PLAIN and LOGIN, only under TLS) and RFC 6409 (submission requires
//! authentication before MAIL). Each [`State`] carries only the data valid in it.

mod auth;
mod sasl;
#[cfg(test)]
mod tests;

use core::net::IpAddr;
use std::fmt;
use std::mem;

use crate::smtp::command::Command;
use crate::smtp::data::Body;
use crate::smtp::reply::Reply;
use crate::store::mailbox::Credential;

pub use sasl::SaslError;

/// The longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 1000;
/// The longest AUTH command or SASL response line, CRLF included (RFC 4954 §4).
pub const MAX_AUTH_LINE: usize = 12288;
/// The longest line a driver needs to buffer; anything longer is [`Session::on_line_too_long`].
pub const MAX_LINE: usize = MAX_AUTH_LINE;
/// Refused commands tolerated in one session before the connection is closed.
const MAX_BAD_COMMANDS: u32 = 20;

/// `334` challenge of AUTH LOGIN asking for the user name ("Username:").
const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
/// `334` challenge of AUTH LOGIN asking for the password ("Password:").
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// Which SMTP service a listener offers.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Mode {
    /// Message submission by the provider's users (RFC 6409): AUTH required.
    Submission,
    /// Inbound mail from other providers (RFC 5321 relay): no AUTH.
    Mx,
}

/// The limits and features of one listener.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Submission or MX.
    pub mode: Mode,
    /// Our host name, for the greeting and EHLO.
    pub hostname: String,
    /// The largest message accepted, in bytes (advertised as `SIZE`, RFC 1870).
    pub max_message_bytes: usize,
    /// The most recipients in one transaction.
    pub max_recipients: usize,
    /// Failed AUTH attempts before the connection is closed.
    pub max_auth_failures: u32,
    /// Whether STARTTLS can be offered (a TLS configuration exists).
    pub tls_available: bool,
    /// Whether the connection is TLS from its first byte (RFC 8314 submissions).
    pub implicit_tls: bool,
}

/// A password: its `Debug` prints nothing. Use [`Secret::expose`] at the point of use.
#[derive(Clone, Eq, PartialEq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One complete message with its SMTP envelope, handed to the backend.
#[derive(Clone, Eq, PartialEq)]
pub struct Envelope {
    /// The MAIL FROM reverse-path (empty for the null sender).
    pub mail_from: String,
    /// The accepted RCPT TO forward-paths, in order, without duplicates.
    pub rcpt_to: Vec<String>,
    /// The message, unstuffed, ending with CRLF.
    pub data: Vec<u8>,
    /// The name the client gave in EHLO or HELO.
    pub helo: String,
    /// The authenticated user, if any (always `None` on MX).
    pub authenticated: Option<Login>,
    /// Whether the message arrived over TLS.
    pub tls: bool,
    /// The client's address.
    pub peer: IpAddr,
}

impl Envelope {
    /// The authenticated user's name, if any.
    pub fn user(&self) -> Option<&str> {
        self.authenticated.as_ref().map(|login| login.user.as_str())
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("mail_from", &self.mail_from)
            .field("rcpt_to", &self.rcpt_to)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("helo", &self.helo)
            .field("authenticated", &self.authenticated)
            .field("tls", &self.tls)
            .field("peer", &self.peer)
            .finish()
    }
}

/// A user who authenticated, with what the password was checked against: the backend
/// asks whether that still stands before it takes a message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Login {
    /// The user name as given.
    pub user: String,
    /// What the password opened.
    pub credential: Credential,
}

/// The verdict on credentials the session asked to check.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AuthOutcome {
    /// The password is right; what it opened.
    Accepted(Credential),
    /// Unknown user or wrong password (indistinguishable on purpose).
    Rejected,
    /// The client's address or the account is locked out after too many failures.
    Locked,
    /// Not checked: too many checks are waiting; the client may retry shortly.
    Unavailable,
}

/// What the driver must do next.
#[derive(Debug, Eq, PartialEq)]
pub enum Step {
    /// Send this reply, then read the next command.
    Reply(Reply),
    /// Send this reply, drop any bytes already buffered, run the TLS handshake, then
    /// call [`Session::on_tls_established`].
    StartTls(Reply),
    /// Send this reply (`354`), read the body with a
    /// [`DataDecoder`](crate::smtp::data::DataDecoder) of `max_bytes`, then call
    /// [`Session::on_data`].
    ReadData {
        /// The go-ahead.
        reply: Reply,
        /// The size limit for the decoder.
        max_bytes: usize,
    },
    /// Check the credentials, then call [`Session::on_auth_result`].
    Authenticate {
        /// The user name as given.
        user: String,
        /// The password.
        password: Secret,
    },
    /// Ask the backend about one recipient, then call [`Session::on_recipient_checked`].
    CheckRecipient {
        /// The forward-path.
        rcpt: String,
        /// The authenticated user, if any.
        authenticated: Option<String>,
    },
    /// Hand the message to the backend, then call [`Session::on_submitted`].
    Submit(Envelope),
    /// Send this reply and close the connection.
    Close(Reply),
}

/// One SMTP server session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    peer: IpAddr,
    tls: bool,
    auth_failures: u32,
    bad_commands: u32,
    state: State,
}

/// How the client introduced itself.
#[derive(Clone, Debug)]
enum Greeting {
    /// `HELO`: no extensions, hence no AUTH.
    Helo(String),
    /// `EHLO`.
    Ehlo(String),
}

impl Greeting {
    fn name(&self) -> &str {
        match self {
            Greeting::Helo(name) | Greeting::Ehlo(name) => name,
        }
    }
}

/// The client after its greeting, possibly authenticated.
#[derive(Clone, Debug)]
struct Client {
    greeting: Greeting,
    user: Option<Login>,
}

/// One mail transaction (RFC 5321 §3.3): MAIL given, RCPTs accumulating.
#[derive(Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
}

/// Where an unfinished AUTH exchange stands.
#[derive(Debug)]
enum Sasl {
    /// `334 ` sent after `AUTH PLAIN`; the PLAIN response is expected.
    PlainResponse,
    /// `334 Username:` sent.
    LoginUser,
    /// `334 Password:` sent for this user.
    LoginPassword { user: String },
}

/// Where the session stands (RFC 5321 §4.1.4 ordering, plus the waits on the driver).
#[derive(Debug)]
enum State {
    /// Greeting sent (or TLS just established); EHLO or HELO expected.
    Connected,
    /// Greeted; AUTH (submission) or MAIL expected.
    Greeted(Client),
    /// Inside a mail transaction.
    Transaction(Client, Mail),
    /// Inside an AUTH exchange; lines are SASL responses, not commands.
    Sasl(Greeting, Sasl),
    /// Waiting for [`Session::on_auth_result`].
    Verifying(Greeting, String),
    /// Waiting for [`Session::on_recipient_checked`] about the last string.
    CheckingRecipient(Client, Mail, String),
    /// Waiting for [`Session::on_data`].
    Receiving(Client, Mail),
    /// Waiting for [`Session::on_submitted`].
    Submitting(Client),
    /// QUIT, too many failures, or an unrecoverable situation.
    Closed,
}

impl Session {
    /// A new session for a connection from `peer`.
    pub fn new(config: SessionConfig, peer: IpAddr) -> Self {
        Session {
            tls: config.implicit_tls,
            config,
            peer,
            auth_failures: 0,
            bad_commands: 0,
            state: State::Connected,
        }
    }

    /// The `220` greeting (RFC 5321 §4.3.1); no enhanced code on it (RFC 2034 §3).
    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP ready", self.config.hostname))
    }

    /// The listener's mode.
    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether a user has authenticated: until then the driver holds the connection to
    /// a deadline, since nobody answers for it.
    pub fn is_authenticated(&self) -> bool {
        match &self.state {
            State::Greeted(client)
            | State::Transaction(client, _)
            | State::CheckingRecipient(client, ..)
            | State::Receiving(client, _)
            | State::Submitting(client) => client.user.is_some(),
            State::Connected | State::Sasl(..) | State::Verifying(..) | State::Closed => false,
        }
    }

    /// Whether the session has ended; the driver closes the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// One line from the client, with its line ending, at most [`MAX_LINE`] bytes.
    pub fn on_line(&mut self, line: &[u8]) -> Step {
        let state = mem::replace(&mut self.state, State::Closed);
        let (state, step) = self.line(state, line);
        self.state = state;
        self.count_refusals(step)
    }

    /// The client sent a line longer than [`MAX_LINE`]; the driver discarded it.
    pub fn on_line_too_long(&mut self) -> Step {
        let state = mem::replace(&mut self.state, State::Closed);
        let (state, step) = too_long(state);
        self.state = state;
        self.count_refusals(step)
    }

    /// The TLS handshake after [`Step::StartTls`] succeeded.
    pub fn on_tls_established(&mut self) {
        self.tls = true;
        self.state = State::Connected;
    }

    /// The verdict on the credentials of [`Step::Authenticate`].
    pub fn on_auth_result(&mut self, outcome: AuthOutcome) -> Step {
        let (greeting, user) = match mem::replace(&mut self.state, State::Closed) {
            State::Verifying(greeting, user) => (greeting, user),
            other => return self.out_of_order(other),
        };
        match outcome {
            AuthOutcome::Accepted(credential) => {
                let user = Some(Login { user, credential });
                self.state = State::Greeted(Client { greeting, user });
                Step::Reply(Reply::AUTH_SUCCEEDED)
            }
            AuthOutcome::Rejected => self.auth_failed(greeting),
            AuthOutcome::Locked => Step::Close(Reply::TOO_MANY_AUTH_FAILURES),
            AuthOutcome::Unavailable => self.auth_unavailable(greeting),
        }
    }

    /// The backend's decision on the recipient of [`Step::CheckRecipient`].
    pub fn on_recipient_checked(&mut self, verdict: Result<(), Reply>) -> Step {
        let (client, mut mail, rcpt) = match mem::replace(&mut self.state, State::Closed) {
            State::CheckingRecipient(client, mail, rcpt) => (client, mail, rcpt),
            other => return self.out_of_order(other),
        };
        let reply = match verdict {
            Ok(()) => {
                mail.to.push(rcpt);
                Reply::new(250, (2, 1, 5), "Recipient OK")
            }
            // A positive "refusal" would tell the client a recipient was taken that was not.
            Err(reply) if reply.is_positive() => Reply::LOCAL_ERROR,
            Err(reply) => reply,
        };
        self.state = State::Transaction(client, mail);
        Step::Reply(reply)
    }

    /// The body read after [`Step::ReadData`].
    pub fn on_data(&mut self, body: Body) -> Step {
        let (client, mail) = match mem::replace(&mut self.state, State::Closed) {
            State::Receiving(client, mail) => (client, mail),
            other => return self.out_of_order(other),
        };
        let data = match body {
            Body::Complete(data) if data.len() <= self.config.max_message_bytes => data,
            Body::Complete(_) | Body::TooLarge => {
                // RFC 5321 §4.2.5: a failed DATA ends the transaction.
                self.state = State::Greeted(client);
                return Step::Reply(Reply::MESSAGE_TOO_LARGE);
            }
            Body::NoRoom => {
                self.state = State::Greeted(client);
                return Step::Reply(Reply::new(
                    452,
                    (4, 3, 1),
                    "Insufficient system storage, try again later",
                ));
            }
        };
        let envelope = Envelope {
            mail_from: mail.from,
            rcpt_to: mail.to,
            data,
            helo: client.greeting.name().to_owned(),
            authenticated: client.user.clone(),
            tls: self.tls,
            peer: self.peer,
        };
        self.state = State::Submitting(client);
        Step::Submit(envelope)
    }

    /// The backend's reply to [`Step::Submit`], sent verbatim; a `421` closes the
    /// connection, as it says (RFC 5321 §3.8).
    pub fn on_submitted(&mut self, reply: Reply) -> Step {
        match mem::replace(&mut self.state, State::Closed) {
            State::Submitting(_) if reply.code() == 421 => Step::Close(reply),
            State::Submitting(client) => {
                self.state = State::Greeted(client);
                Step::Reply(reply)
            }
            other => self.out_of_order(other),
        }
    }

    fn line(&mut self, state: State, line: &[u8]) -> (State, Step) {
        let limit = match state {
            State::Sasl(..) => MAX_AUTH_LINE,
            _ if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ") => MAX_AUTH_LINE,
            _ => MAX_COMMAND_LINE,
        };
        if line.len() > limit {
            return too_long(state);
        }
        match state {
            State::Sasl(greeting, exchange) => self.sasl_response(greeting, exchange, line),
            State::Closed => (State::Closed, Step::Close(Reply::BAD_SEQUENCE)),
            state @ (State::Verifying(..)
            | State::CheckingRecipient(..)
            | State::Receiving(..)
            | State::Submitting(..)) => (state, Step::Reply(Reply::BAD_SEQUENCE)),
            state => match crate::smtp::command::parse(line) {
                Ok(command) => self.command(state, command),
                Err(error) => (state, Step::Reply(error.reply())),
            },
        }
    }

    /// Dispatch, then delegate.
    fn command(&mut self, state: State, command: Command) -> (State, Step) {
        match command {
            Command::Ehlo(name) => self.hello(state, Greeting::Ehlo(name)),
            Command::Helo(name) => self.hello(state, Greeting::Helo(name)),
            Command::StartTls => self.start_tls(state),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(state, mechanism, initial_response),
            Command::Mail { from, size } => self.mail(state, from, size),
            Command::Rcpt(to) => self.rcpt(state, to),
            Command::Data => self.data(state),
            Command::Rset => (reset(state), Step::Reply(Reply::OK)),
            Command::Noop => (state, Step::Reply(Reply::OK)),
            Command::Quit => (State::Closed, Step::Close(Reply::BYE)),
            Command::Vrfy => (state, Step::Reply(Reply::CANNOT_VRFY)),
            Command::Help => (state, Step::Reply(Reply::HELP)),
            Command::NotImplemented(_) => (state, Step::Reply(Reply::NOT_IMPLEMENTED)),
        }
    }

    /// EHLO/HELO: (re)start, dropping any transaction but keeping authentication.
    fn hello(&self, state: State, greeting: Greeting) -> (State, Step) {
        let user = match state {
            State::Greeted(client) | State::Transaction(client, _) => client.user,
            _ => None,
        };
        let reply = match &greeting {
            Greeting::Helo(_) => Reply::plain(250, self.config.hostname.clone()),
            Greeting::Ehlo(_) => self.ehlo_reply(),
        };
        (
            State::Greeted(Client { greeting, user }),
            Step::Reply(reply),
        )
    }

    /// The EHLO keywords each port offers.
    fn ehlo_reply(&self) -> Reply {
        let mut lines = vec![
            self.config.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_message_bytes),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.config.tls_available && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        if self.config.mode == Mode::Submission && self.tls {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        Reply::plain(250, lines.join("\n"))
    }

    fn start_tls(&self, state: State) -> (State, Step) {
        if self.tls {
            return (state, Step::Reply(Reply::BAD_SEQUENCE));
        }
        if !self.config.tls_available {
            return (state, Step::Reply(Reply::TLS_UNAVAILABLE));
        }
        // RFC 3207 §4.2: all knowledge from before the handshake is discarded.
        (State::Connected, Step::StartTls(Reply::READY_FOR_TLS))
    }

    /// A driver called back without being asked; keep the state, refuse.
    fn out_of_order(&mut self, state: State) -> Step {
        self.state = state;
        Step::Reply(Reply::BAD_SEQUENCE)
    }

    /// Too many refused commands end the session (a client that talks garbage).
    fn count_refusals(&mut self, step: Step) -> Step {
        let Step::Reply(reply) = &step else {
            return step;
        };
        if !reply.is_permanent() {
            return step;
        }
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            self.state = State::Closed;
            return Step::Close(Reply::TOO_MANY_ERRORS);
        }
        step
    }
}

/// An overlong line: refused; an AUTH exchange in progress is abandoned.
fn too_long(state: State) -> (State, Step) {
    let state = match state {
        State::Sasl(greeting, _) => State::Greeted(Client {
            greeting,
            user: None,
        }),
        state => state,
    };
    (state, Step::Reply(Reply::LINE_TOO_LONG))
}

/// RSET (RFC 5321 §4.1.1.5): drop the transaction, keep greeting and authentication.
fn reset(state: State) -> State {
    match state {
        State::Transaction(client, _) => State::Greeted(client),
        state => state,
    }
}
