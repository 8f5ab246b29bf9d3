//! The IMAP session (RFC 3501 §3, RFC 9051 where compatible): the connection states
//! and every command, as plain synchronous code over the store. It never touches a
//! socket: [`crate::imap::exchange`] frames bytes into commands, feeds them in and
//! encodes what comes out; the async shell ([`crate::imap::server`]) adds the socket and
//! performs the [`Effect`]s (TLS, password checks, IDLE), so transcripts test it
//! without a network.
//!
//! ```text
//!   NotAuthenticated ──LOGIN/AUTHENTICATE──▶ Authenticated ◀──CLOSE/UNSELECT──┐
//!         │                                      │ SELECT/EXAMINE             │
//!         │                                      ▼                            │
//!         └──────────── LOGOUT ◀──────────── Selected ────────────────────────┘
//! ```
//!
//! Each command is one small function given a [`Context`] (store, user, tag, clock);
//! what the provider adds to a command (receipts, conservation) comes through the
//! [`Hooks`] the session is made with.

mod conserved;
mod copy_move;
mod fetch;
mod fetch_items;
mod fetch_out;
mod fetch_wire;
pub(crate) mod folder_limits;
mod folders;
mod hooks;
mod keywords;
mod listing;
mod login;
mod multiappend;
mod names;
mod notify;
mod qresync;
mod results;
mod select;
mod selected;
mod store_flags;
mod view;
mod wildcard;

use std::sync::Arc;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::response::Capability;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::mailbox::Credential;

pub use hooks::ConservedFolders;
pub use hooks::Filed;
pub use hooks::Hooks;
pub use view::CondStore;
pub use view::Expunges;
pub use view::Selection;

/// What the shell must do after writing a step's output.
#[derive(Debug)]
pub enum Effect {
    /// Read the next command.
    Next,
    /// Start TLS now (the tagged OK was the last plaintext).
    StartTls,
    /// Check this password (slowly, throttled) and call [`Session::login_checked`].
    CheckLogin {
        /// The command's tag.
        tag: Tag<'static>,
        /// The user name as given.
        user: String,
        /// The password (never logged).
        password: String,
    },
    /// Send `+ ` and pass the client's next line to [`Session::authenticate_data`].
    AuthenticateData {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// Enter IDLE: report changes through [`Session::poll`] until `DONE`, then
    /// [`Session::idle_done`].
    Idle {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// Close the connection.
    Close,
}

/// The output of one step.
#[derive(Debug)]
pub struct Step {
    /// What to send, in order.
    pub out: Vec<Out>,
    /// What to do next.
    pub effect: Effect,
}

impl Step {
    fn reply(out: Vec<Out>) -> Step {
        Step {
            out,
            effect: Effect::Next,
        }
    }
}

/// What a session knows of its listener.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our host name, for the greeting.
    pub hostname: String,
    /// Whether STARTTLS can be offered here (false on imaps, where TLS is implicit).
    pub starttls: bool,
    /// The largest message APPEND takes.
    pub max_append_bytes: u32,
}

/// Whether the connection is encrypted yet.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Transport {
    /// Plaintext: only STARTTLS, CAPABILITY and the like until TLS starts.
    Plain,
    /// TLS, implicit (imaps) or after STARTTLS.
    Tls,
}

/// Where the connection stands (RFC 3501 §3), with what each state holds.
#[derive(Debug)]
enum State {
    /// Before LOGIN or AUTHENTICATE succeeds.
    NotAuthenticated,
    /// Logged in as `user` (lower-cased), no folder selected.
    Authenticated { user: String },
    /// Logged in, with a folder selected.
    Selected {
        user: String,
        selection: Box<Selection>,
    },
    /// LOGOUT answered: nothing more is taken.
    Logout,
}

/// What the session holds in every state.
#[derive(Debug)]
struct Common {
    config: SessionConfig,
    hooks: Arc<dyn Hooks>,
    transport: Transport,
    /// CONDSTORE enabled (ENABLE, or a CONDSTORE-only request, RFC 7162 §3.1).
    condstore: CondStore,
    /// During [`Session::handle_streaming`]: where a long FETCH hands over finished
    /// responses, so the shell writes them while the rest are made.
    early: Option<Early>,
    updates: results::Updates,
    /// What NOTIFY asked to be told about (RFC 5465), once it was.
    watch: Option<Box<notify::Watch>>,
}

/// What one command of a logged-in user runs against.
struct Context<'a> {
    store: &'a Store,
    user: &'a str,
    tag: &'a Tag<'static>,
    /// The command's time (the caller's clock).
    now: Timestamp,
    /// The extensions the codec does not parse (ESEARCH, LIST-EXTENDED).
    extended: &'a Extended,
}

/// One IMAP session.
#[derive(Debug)]
pub struct Session {
    state: State,
    common: Common,
    /// What the login was checked against; asked of the store before the session
    /// reads a mailbox again.
    credential: Option<Credential>,
}

/// Responses handed to the shell before their command's step is complete; they come
/// before everything in the step's own output.
pub type Early = tokio::sync::mpsc::Sender<Vec<Out>>;

/// Hands `out` to the shell early through `early` (a streaming session's, taken out of
/// it for the command's loop); `false`, and `out` untouched, if there is none or the
/// connection is gone.
fn hand_over(early: &mut Option<Early>, out: &mut Vec<Out>) -> bool {
    let Some(sender) = early else {
        return false;
    };
    if sender.blocking_send(std::mem::take(out)).is_err() {
        // The shell stopped listening (the connection failed): collect the rest.
        *early = None;
        return false;
    }
    true
}

/// Faults inside a command; the client gets `NO` and the session goes on.
type Fault = StoreError;

/// How a folder is opened: SELECT, or EXAMINE (RFC 3501 §6.3.1–2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Access {
    /// SELECT: flags may change and `\Recent` is claimed.
    ReadWrite,
    /// EXAMINE, or a folder nobody may change.
    ReadOnly,
}

impl Session {
    /// A new session over `transport`, with the provider behind it in `hooks`.
    pub fn new(config: SessionConfig, transport: Transport, hooks: Arc<dyn Hooks>) -> Session {
        Session {
            state: State::NotAuthenticated,
            common: Common {
                config,
                hooks,
                transport,
                condstore: CondStore::Off,
                early: None,
                updates: results::Updates::default(),
                watch: None,
            },
            credential: None,
        }
    }

    /// The greeting, with the capabilities (RFC 3501 §7.1.1).
    pub fn greeting(&self) -> Out {
        reply::untagged_ok(
            self.capability_code(),
            &format!("{} PEC IMAP ready", self.common.config.hostname),
        )
    }

    /// Whether TLS is on.
    pub fn tls(&self) -> bool {
        self.common.transport == Transport::Tls
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            State::NotAuthenticated | State::Logout => None,
        }
    }

    /// The shell finished the TLS handshake after STARTTLS.
    pub fn tls_started(&mut self) {
        self.common.transport = Transport::Tls;
    }

    /// Handles one command.
    pub fn handle(
        &mut self,
        store: &Store,
        command: Command<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Step {
        if let Some(bye) = self.end_if_revoked(store) {
            return Step {
                out: vec![bye],
                effect: Effect::Close,
            };
        }
        let tag = command.tag.clone().into_static();
        match self.dispatch_with_updates(store, command, extended, now) {
            Ok(step) => step,
            Err(fault) => {
                tracing::error!(error = %fault, "imap command failed");
                Step::reply(vec![reply::no(
                    &tag,
                    None,
                    "internal error, nothing was changed",
                )])
            }
        }
    }

    /// [`Session::handle`], handing long FETCH output to `early` as it is made (from
    /// a blocking thread: `early` is sent to with `blocking_send`). The step holds
    /// what was not handed over.
    pub fn handle_streaming(
        &mut self,
        store: &Store,
        command: Command<'_>,
        extended: &Extended,
        now: Timestamp,
        early: Early,
    ) -> Step {
        self.common.early = Some(early);
        let step = self.handle(store, command, extended, now);
        self.common.early = None;
        step
    }

    fn dispatch(
        &mut self,
        store: &Store,
        command: Command<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Result<Step, Fault> {
        let tag = command.tag.into_static();
        let body = command.body;
        if matches!(self.state, State::Logout) {
            return Ok(Step::reply(vec![reply::bad(&tag, "logged out")]));
        }
        // An APPEND or a NOTIFY the codec could not read stands behind a NOOP carrying
        // its tag.
        if extended.appends.is_none()
            && extended.notify.is_none()
            && let Some(step) = self.any_state(store, &tag, &body, now)?
        {
            return Ok(step);
        }
        let user = match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => user.clone(),
            State::NotAuthenticated | State::Logout if extended.notify.is_some() => {
                return Ok(Step::reply(vec![reply::bad(&tag, "log in first")]));
            }
            State::NotAuthenticated | State::Logout => {
                return Ok(self.common.not_authenticated(tag, body));
            }
        };
        let context = Context {
            store,
            user: &user,
            tag: &tag,
            now,
            extended,
        };
        self.logged_in(&context, body)
    }

    /// Commands valid in any state (RFC 3501 §6.1); `None` for the others.
    fn any_state(
        &mut self,
        store: &Store,
        tag: &Tag<'static>,
        body: &CommandBody<'_>,
        now: Timestamp,
    ) -> Result<Option<Step>, Fault> {
        Ok(Some(match body {
            CommandBody::Capability => Step::reply(vec![
                reply::data(Data::Capability(self.capabilities())),
                reply::ok(tag, None, "CAPABILITY completed"),
            ]),
            CommandBody::Noop | CommandBody::Check => {
                let mut out = self.poll(store, now)?;
                out.push(reply::ok(tag, None, "NOOP completed"));
                Step::reply(out)
            }
            CommandBody::Logout => {
                self.state = State::Logout;
                Step {
                    out: vec![
                        reply::bye("logging out"),
                        reply::ok(tag, None, "LOGOUT completed"),
                    ],
                    effect: Effect::Close,
                }
            }
            CommandBody::Id { .. } => {
                let parameters = vec![
                    (string("name"), nstring("pecd")),
                    (string("vendor"), nstring("pecd")),
                    (string("version"), nstring(env!("CARGO_PKG_VERSION"))),
                ];
                Step::reply(vec![
                    reply::data(Data::Id {
                        parameters: Some(parameters),
                    }),
                    reply::ok(tag, None, "ID completed"),
                ])
            }
            _ => return Ok(None),
        }))
    }

    /// The authenticated and selected states (RFC 3501 §6.3–6.4): the commands that
    /// move between them here, the others in [`Common::authenticated`] and
    /// [`selected::InFolder::command`].
    fn logged_in(&mut self, context: &Context<'_>, body: CommandBody<'_>) -> Result<Step, Fault> {
        let tag = context.tag;
        if let Some(appends) = &context.extended.appends {
            let out = self.common.append_many(context, appends)?;
            return Ok(Step::reply(match &mut self.state {
                State::Selected { selection, .. } => selected::InFolder {
                    common: &mut self.common,
                    selection,
                    context,
                }
                .ride_along(out)?,
                _ => out,
            }));
        }
        if let Some(request) = &context.extended.notify {
            return Ok(Step::reply(self.notify(context, request)?));
        }
        let out = match body {
            CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. } => {
                Some(vec![reply::bad(tag, "already authenticated")])
            }
            CommandBody::Enable { capabilities } => Some(self.common.enable(tag, capabilities)),
            CommandBody::Namespace => Some(vec![
                reply::data(names::namespace()),
                reply::ok(tag, None, "NAMESPACE completed"),
            ]),
            CommandBody::Idle => {
                return Ok(Step {
                    out: Vec::new(),
                    effect: Effect::Idle { tag: tag.clone() },
                });
            }
            CommandBody::Select {
                mailbox,
                parameters,
            } => Some(self.select(context, &mailbox, Access::ReadWrite, &parameters)?),
            CommandBody::Examine {
                mailbox,
                parameters,
            } => Some(self.select(context, &mailbox, Access::ReadOnly, &parameters)?),
            CommandBody::Close => self.leave(context, Leave::Close)?,
            CommandBody::Unselect => self.leave(context, Leave::Unselect)?,
            body => self.in_state(context, body)?,
        };
        Ok(Step::reply(out.unwrap_or_else(|| {
            vec![reply::bad(tag, "command unknown or not valid now")]
        })))
    }

    /// CLOSE (which expunges first, RFC 3501 §6.4.2) or UNSELECT (RFC 3691); `None`
    /// when no folder is selected.
    fn leave(&mut self, context: &Context<'_>, leave: Leave) -> Result<Option<Vec<Out>>, Fault> {
        let State::Selected { selection, .. } = &mut self.state else {
            return Ok(None);
        };
        if leave == Leave::Close && !selection.read_only {
            selected::InFolder {
                common: &mut self.common,
                selection,
                context,
            }
            .expunge(None)?;
        }
        self.state = State::Authenticated {
            user: context.user.to_owned(),
        };
        let text = match leave {
            Leave::Close => "CLOSE completed",
            Leave::Unselect => "UNSELECT completed",
        };
        Ok(Some(vec![reply::ok(context.tag, None, text)]))
    }

    /// The commands of the current state; `None` for a command not valid in it.
    fn in_state(
        &mut self,
        context: &Context<'_>,
        body: CommandBody<'_>,
    ) -> Result<Option<Vec<Out>>, Fault> {
        match &mut self.state {
            State::Selected { selection, .. } => selected::InFolder {
                common: &mut self.common,
                selection,
                context,
            }
            .command(body),
            _ => self.common.authenticated(context, body),
        }
    }

    /// The client sent `DONE` after IDLE, at `now`.
    pub fn idle_done(&mut self, store: &Store, tag: Tag<'static>, now: Timestamp) -> Vec<Out> {
        let mut out = self.poll(store, now).unwrap_or_default();
        if !self.ended() {
            out.push(reply::ok(&tag, None, "IDLE terminated"));
        }
        out
    }

    /// Reports what changed in the selected folder since the last report: new
    /// messages, flag changes by others, expunges (RFC 3501 §7.3–7.4), and what NOTIFY
    /// watches elsewhere. Nothing when no folder is selected and nothing is watched.
    /// A `* BYE` instead when the login no longer stands: then [`Session::ended`].
    pub fn poll(&mut self, store: &Store, now: Timestamp) -> Result<Vec<Out>, Fault> {
        if let Some(bye) = self.end_if_revoked(store) {
            return Ok(vec![bye]);
        }
        let mut out = self.sync_selected(store, Expunges::Report, now)?;
        out.extend(self.watched(store)?);
        Ok(out)
    }

    fn capability_code(&self) -> Option<Code<'static>> {
        Some(Code::Capability(self.capabilities()))
    }

    /// What we support; the login choices depend on TLS (RFC 3501 §6.2.3, §7.2.1).
    fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        if self.user().is_none() {
            if self.tls() {
                caps.push(Capability::Auth(AuthMechanism::Plain));
                caps.push(Capability::SaslIr);
            } else {
                if self.common.config.starttls {
                    caps.push(Capability::StartTls);
                }
                caps.push(Capability::LoginDisabled);
            }
        }
        caps.extend([
            Capability::LiteralPlus,
            Capability::Id,
            Capability::Enable,
            Capability::Idle,
            Capability::Namespace,
            Capability::Unselect,
            Capability::UidPlus,
            Capability::Move,
            Capability::CondStore,
            Capability::Quota,
            Capability::Binary,
            Capability::ListExtended,
        ]);
        for other in [
            "SPECIAL-USE",
            "ESEARCH",
            "LIST-STATUS",
            "MULTIAPPEND",
            "CATENATE",
            "QRESYNC",
            "NOTIFY",
        ] {
            if let Ok(capability) = Capability::try_from(other) {
                caps.push(capability.into_static());
            }
        }
        caps.extend(crate::imap::sort::capabilities());
        Vec1::try_from(caps).unwrap_or_else(|_| Vec1::from(Capability::Imap4Rev1))
    }
}

/// How a selected folder is left.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Leave {
    /// CLOSE: `\Deleted` messages are expunged, silently.
    Close,
    /// UNSELECT: nothing is expunged.
    Unselect,
}

fn string(text: &'static str) -> imap_codec::imap_types::core::IString<'static> {
    imap_codec::imap_types::core::IString::try_from(text).unwrap_or_else(|_| {
        imap_codec::imap_types::core::IString::Quoted(
            imap_codec::imap_types::core::Quoted::unvalidated(text),
        )
    })
}

fn nstring(text: &'static str) -> imap_codec::imap_types::core::NString<'static> {
    imap_codec::imap_types::core::NString(Some(string(text)))
}

/// A response code the codec has no variant for (RFC 5530 codes and the like).
pub(crate) fn other_code(name: &'static str) -> Code<'static> {
    Code::Other(imap_codec::imap_types::response::CodeOther::unvalidated(
        name.as_bytes(),
    ))
}

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;
