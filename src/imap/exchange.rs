//! One IMAP conversation without sockets: client bytes in, wire bytes out, through the
//! [`Framer`], the command codec ([`decode`]) and the [`Session`]. The session's
//! effects are resolved here too: a password check by the caller's [`LoginPolicy`],
//! AUTHENTICATE's and IDLE's continuation lines by reading the next framed message as
//! what they wait for. Transcript tests and the `imap_session` fuzz target drive
//! sessions through [`Exchange::drive`]; the async shell ([`crate::imap::server`]) uses
//! the same framer, [`decode`] and [`end_idle`] around its socket, and performs the
//! effects itself (throttled password checks, TLS, IDLE woken by commits).

use imap_codec::CommandCodec;
use imap_codec::IdleDoneCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::framing::Framed;
use crate::imap::framing::Framer;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Effect;
use crate::imap::session::Session;
use crate::imap::session::Step;
use crate::store::Store;
use crate::store::mailbox::Credential;

/// Who may log in: the caller's answer to a LOGIN or AUTHENTICATE.
pub trait LoginPolicy {
    /// The account `user` with `password` opens and the credential the session keeps,
    /// or `None` when the credentials are wrong.
    fn check(&mut self, user: &str, password: &str) -> Option<(String, Credential)>;
}

/// Passwords as the store knows them.
pub struct StorePasswords<'a>(pub &'a Store);

impl LoginPolicy for StorePasswords<'_> {
    fn check(&mut self, user: &str, password: &str) -> Option<(String, Credential)> {
        let credential = self.0.read(|tx| tx.mailboxes().login(user, password));
        Some((user.to_string(), credential.ok()??))
    }
}

/// What the next framed message is.
#[derive(Debug)]
enum Awaiting {
    /// A command.
    Command,
    /// The client's answer to AUTHENTICATE's `+ `.
    AuthenticateData(Tag<'static>),
    /// `DONE`, ending IDLE.
    IdleDone(Tag<'static>),
}

/// Why [`Exchange::drive`] stopped.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Ending {
    /// Every whole message was answered; more bytes are needed.
    NeedMore,
    /// STARTTLS was answered: the caller runs the handshake, then calls
    /// [`Exchange::tls_started`].
    StartTls,
    /// The connection is over (LOGOUT, or the framer gave up on the client).
    Close,
}

/// What one [`Exchange::drive`] produced.
#[derive(Debug)]
pub struct Driven {
    /// The wire bytes to send, in order.
    pub out: Vec<u8>,
    /// Why it stopped.
    pub ending: Ending,
}

/// A session with its framing.
pub struct Exchange {
    session: Session,
    framer: Framer,
    awaiting: Awaiting,
    /// The largest literal once logged in (the APPEND limit).
    max_append_bytes: u32,
}

impl Exchange {
    /// A conversation for `session`, taking literals up to `max_append_bytes` once the
    /// client has logged in.
    pub fn new(session: Session, max_append_bytes: u32) -> Exchange {
        Exchange {
            session,
            framer: Framer::new(max_append_bytes),
            awaiting: Awaiting::Command,
            max_append_bytes,
        }
    }

    /// The greeting's wire bytes.
    pub fn greeting(&self) -> Vec<u8> {
        self.session.greeting().encode()
    }

    /// The session.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The TLS handshake after STARTTLS is done. Whatever the client sent after
    /// STARTTLS in plaintext is dropped unread, as the shell drops it.
    pub fn tls_started(&mut self) {
        self.session.tls_started();
        self.framer = Framer::new(self.max_append_bytes);
        self.awaiting = Awaiting::Command;
    }

    /// Takes `bytes` from the client and answers every whole message in them, at
    /// `now`, checking passwords with `policy`.
    pub fn drive(
        &mut self,
        store: &Store,
        bytes: &[u8],
        now: Timestamp,
        policy: &mut dyn LoginPolicy,
    ) -> Driven {
        self.framer.enqueue(bytes);
        let mut out = Vec::new();
        loop {
            if self.session.user().is_some() {
                self.framer.logged_in();
            }
            match self.framer.progress() {
                Framed::NeedMore => return driven(out, Ending::NeedMore),
                Framed::Send(reply) => {
                    out.extend(reply.encode());
                    continue;
                }
                Framed::Close(reply) => {
                    out.extend(reply.encode());
                    return driven(out, Ending::Close);
                }
                Framed::Message => {}
            }
            let step = self.message(store, now);
            if let Some(ending) = self.perform(step, policy, &mut out) {
                return driven(out, ending);
            }
        }
    }

    /// The step the framed message leads to.
    fn message(&mut self, store: &Store, now: Timestamp) -> Step {
        let next = |out| Step {
            out,
            effect: Effect::Next,
        };
        match std::mem::replace(&mut self.awaiting, Awaiting::Command) {
            Awaiting::AuthenticateData(tag) => {
                let line = self.framer.message().to_vec();
                self.session.authenticate_data(tag, &line)
            }
            Awaiting::IdleDone(tag) => {
                let out = end_idle(&mut self.session, store, tag, self.framer.message(), now);
                if self.session.ended() {
                    Step {
                        out,
                        effect: Effect::Close,
                    }
                } else {
                    next(out)
                }
            }
            Awaiting::Command => match decode(&self.framer) {
                Ok((command, extended)) => self.session.handle(store, command, &extended, now),
                Err(refusal) => next(vec![refusal]),
            },
        }
    }

    /// Writes a step's output and resolves its effects; the ending, if the drive must
    /// stop here.
    fn perform(
        &mut self,
        mut step: Step,
        policy: &mut dyn LoginPolicy,
        out: &mut Vec<u8>,
    ) -> Option<Ending> {
        loop {
            for item in &step.out {
                out.extend(item.encode());
            }
            step = match step.effect {
                Effect::Next => return None,
                Effect::Close => return Some(Ending::Close),
                Effect::StartTls => return Some(Ending::StartTls),
                Effect::CheckLogin {
                    tag,
                    user,
                    password,
                } => match policy.check(&user, &password) {
                    Some((account, credential)) => {
                        self.session.login_checked(tag, &account, Some(credential))
                    }
                    None => self.session.login_checked(tag, &user, None),
                },
                Effect::AuthenticateData { tag } => {
                    out.extend_from_slice(b"+ \r\n");
                    self.awaiting = Awaiting::AuthenticateData(tag);
                    return None;
                }
                Effect::Idle { tag } => {
                    out.extend(reply::continuation("idling").encode());
                    self.awaiting = Awaiting::IdleDone(tag);
                    return None;
                }
            };
        }
    }
}

fn driven(out: Vec<u8>, ending: Ending) -> Driven {
    Driven { out, ending }
}

/// The command in a framed message, or the error to answer. Damaged messages (too
/// long, a refused literal) are never decoded.
pub fn decode(framer: &Framer) -> Result<(Command<'static>, Extended), Out> {
    let refusal = |framer: &Framer, text: &str| match framer.tag() {
        Some(tag) => reply::bad(&tag, text),
        None => reply::untagged_bad(text),
    };
    if framer.is_damaged() {
        return Err(refusal(framer, "command too long"));
    }
    let (message, extended) = Extended::strip(framer.message());
    if let Some(why) = extended.refusal {
        return Err(refusal(framer, why));
    }
    match CommandCodec::default().decode(&message) {
        Ok((&[], command)) => Ok((command.into_static(), extended)),
        _ => match (framer.tag(), Extended::appends(framer.message())) {
            // MULTIAPPEND or CATENATE: the session reads the messages from `appends`.
            (Some(tag), Some(appends)) => Ok((
                Command {
                    tag: tag.into_static(),
                    body: CommandBody::Noop,
                },
                Extended {
                    appends: Some(appends),
                    ..Extended::default()
                },
            )),
            _ => Err(refusal(framer, "syntax error")),
        },
    }
}

/// The answer to the message that ends IDLE (RFC 2177): the changes and the tagged OK
/// after `DONE`, a `BAD` after anything else.
pub fn end_idle(
    session: &mut Session,
    store: &Store,
    tag: Tag<'static>,
    message: &[u8],
    now: Timestamp,
) -> Vec<Out> {
    if IdleDoneCodec::default().decode(message).is_ok() {
        session.idle_done(store, tag, now)
    } else {
        vec![reply::bad(&tag, "expected DONE")]
    }
}
