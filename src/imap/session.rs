//! The IMAP session (RFC 3501 §3, RFC 9051 where compatible): the connection states
//! and every command, as plain synchronous code over the store. It never touches a
//! socket: the async shell ([`crate::imap::server`]) frames bytes into commands, feeds
//! them in, writes what comes out and performs the [`Effect`]s (TLS, password checks,
//! IDLE), so transcripts test it without a network.
//!
//! ```text
//!   NotAuthenticated ──LOGIN/AUTHENTICATE──▶ Authenticated ◀──CLOSE/UNSELECT──┐
//!         │                                      │ SELECT/EXAMINE             │
//!         │                                      ▼                            │
//!         └──────────── LOGOUT ◀──────────── Selected ────────────────────────┘
//! ```

mod conserved;
mod fetch;
mod fetch_out;
mod fetch_wire;
mod folder_limits;
mod folders;
mod listing;
mod selected;
mod view;

use base64::Engine;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::response::Capability;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::store::Store;
use crate::store::StoreError;

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
    /// Where conservation packages live, for the read-only `Conservazione/…` view;
    /// `None` hides the view.
    pub conservation_root: Option<std::path::PathBuf>,
}

/// One IMAP session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    tls: bool,
    user: Option<String>,
    selected: Option<Selection>,
    /// CONDSTORE enabled (ENABLE, or a CONDSTORE-only request, RFC 7162 §3.1).
    condstore: bool,
    /// During [`Session::handle_streaming`]: where a long FETCH hands over finished
    /// responses, so the shell writes them while the rest are made.
    early: Option<Early>,
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

impl Session {
    /// A new session; `tls` is true on the implicit-TLS port.
    pub fn new(config: SessionConfig, tls: bool) -> Session {
        Session {
            config,
            tls,
            user: None,
            selected: None,
            condstore: false,
            early: None,
        }
    }

    /// The greeting, with the capabilities (RFC 3501 §7.1.1).
    pub fn greeting(&self) -> Out {
        reply::untagged_ok(
            self.capability_code(),
            &format!("{} PEC IMAP ready", self.config.hostname),
        )
    }

    /// Whether TLS is on.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The shell finished the TLS handshake after STARTTLS.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// Handles one command.
    pub fn handle(
        &mut self,
        store: &Store,
        command: Command<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Step {
        let tag = command.tag.clone().into_static();
        match self.dispatch(store, command, extended, now) {
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
        self.early = Some(early);
        let step = self.handle(store, command, extended, now);
        self.early = None;
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
        // Commands valid in any state (RFC 3501 §6.1).
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                return Ok(Step::reply(vec![
                    reply::data(Data::Capability(caps)),
                    reply::ok(&tag, None, "CAPABILITY completed"),
                ]));
            }
            CommandBody::Noop | CommandBody::Check => {
                let mut out = self.poll(store)?;
                out.push(reply::ok(&tag, None, "NOOP completed"));
                return Ok(Step::reply(out));
            }
            CommandBody::Logout => {
                return Ok(Step {
                    out: vec![
                        reply::bye("logging out"),
                        reply::ok(&tag, None, "LOGOUT completed"),
                    ],
                    effect: Effect::Close,
                });
            }
            CommandBody::Id { .. } => {
                let parameters = vec![
                    (string("name"), nstring("pecd")),
                    (string("vendor"), nstring("pecd")),
                    (string("version"), nstring(env!("CARGO_PKG_VERSION"))),
                ];
                return Ok(Step::reply(vec![
                    reply::data(Data::Id {
                        parameters: Some(parameters),
                    }),
                    reply::ok(&tag, None, "ID completed"),
                ]));
            }
            _ => {}
        }
        let Some(user) = self.user.clone() else {
            return Ok(self.not_authenticated(tag, body));
        };
        match body {
            CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. } => {
                Ok(Step::reply(vec![reply::bad(&tag, "already authenticated")]))
            }
            CommandBody::Enable { capabilities } => Ok(self.enable(&tag, capabilities)),
            CommandBody::Namespace => Ok(Step::reply(vec![
                reply::data(folders::namespace()),
                reply::ok(&tag, None, "NAMESPACE completed"),
            ])),
            CommandBody::Idle => Ok(Step {
                out: Vec::new(),
                effect: Effect::Idle { tag },
            }),
            body => {
                let mut out = if self.selected.is_some() {
                    self.selected(store, &user, &tag, body, extended, now)?
                } else {
                    self.authenticated(store, &user, &tag, body, extended, now)?
                };
                if out.is_empty() {
                    out.push(reply::bad(&tag, "command unknown or not valid now"));
                }
                Ok(Step::reply(out))
            }
        }
    }

    /// The not-authenticated state (RFC 3501 §6.2): STARTTLS, LOGIN, AUTHENTICATE.
    fn not_authenticated(&mut self, tag: Tag<'static>, body: CommandBody<'_>) -> Step {
        match body {
            CommandBody::StartTLS if self.tls || !self.config.starttls => {
                Step::reply(vec![reply::bad(&tag, "TLS is already active")])
            }
            CommandBody::StartTLS => Step {
                out: vec![reply::ok(&tag, None, "begin TLS negotiation now")],
                effect: Effect::StartTls,
            },
            _ if !self.tls => Step::reply(vec![reply::no(
                &tag,
                Some(privacy_required()),
                "authentication only over TLS: use STARTTLS first",
            )]),
            CommandBody::Login { username, password } => Step {
                out: Vec::new(),
                effect: Effect::CheckLogin {
                    tag,
                    user: String::from_utf8_lossy(username.as_ref()).into_owned(),
                    password: String::from_utf8_lossy(password.declassify().as_ref()).into_owned(),
                },
            },
            CommandBody::Authenticate {
                mechanism: AuthMechanism::Plain,
                initial_response,
            } => match initial_response {
                Some(data) => self.sasl_plain(tag, data.declassify()),
                None => Step {
                    out: Vec::new(),
                    effect: Effect::AuthenticateData { tag },
                },
            },
            CommandBody::Authenticate { .. } => Step::reply(vec![reply::no(
                &tag,
                None,
                "unsupported mechanism: use AUTHENTICATE PLAIN",
            )]),
            _ => Step::reply(vec![reply::bad(&tag, "authenticate first")]),
        }
    }

    /// The client's answer to `+ ` after AUTHENTICATE PLAIN: base64 of
    /// `authzid NUL authcid NUL password` (RFC 4616), or `*` to cancel.
    pub fn authenticate_data(&mut self, tag: Tag<'static>, line: &[u8]) -> Step {
        let line = line.trim_ascii();
        if line == b"*" {
            return Step::reply(vec![reply::bad(&tag, "authentication cancelled")]);
        }
        match base64::engine::general_purpose::STANDARD.decode(line) {
            Ok(data) => self.sasl_plain(tag, &data),
            Err(_) => Step::reply(vec![reply::bad(&tag, "invalid base64")]),
        }
    }

    fn sasl_plain(&mut self, tag: Tag<'static>, data: &[u8]) -> Step {
        let mut fields = data.split(|b| *b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Step::reply(vec![reply::bad(&tag, "malformed PLAIN response")]);
        };
        if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(user) {
            return Step::reply(vec![reply::no(
                &tag,
                None,
                "authorization identity must be the user",
            )]);
        }
        Step {
            out: Vec::new(),
            effect: Effect::CheckLogin {
                tag,
                user: String::from_utf8_lossy(user).into_owned(),
                password: String::from_utf8_lossy(password).into_owned(),
            },
        }
    }

    /// The shell checked a password: `valid` or not. Wrong password and unknown user
    /// get the same answer.
    pub fn login_checked(&mut self, tag: Tag<'static>, user: &str, valid: bool) -> Step {
        if !valid {
            return Step::reply(vec![reply::no(
                &tag,
                Some(authentication_failed()),
                "invalid credentials",
            )]);
        }
        self.user = Some(user.to_ascii_lowercase());
        Step::reply(vec![reply::ok(&tag, self.capability_code(), "logged in")])
    }

    /// The client sent `DONE` after IDLE.
    pub fn idle_done(&mut self, store: &Store, tag: Tag<'static>) -> Vec<Out> {
        let mut out = self.poll(store).unwrap_or_default();
        out.push(reply::ok(&tag, None, "IDLE terminated"));
        out
    }

    /// Reports what changed in the selected folder since the last report: new
    /// messages, flag changes by others, expunges (RFC 3501 §7.3–7.4).
    pub fn poll(&mut self, store: &Store) -> Result<Vec<Out>, Fault> {
        let (Some(user), Some(selection)) = (self.user.as_deref(), self.selected.as_mut()) else {
            return Ok(Vec::new());
        };
        selection.sync(store, user, true, self.condstore)
    }

    fn enable(&mut self, tag: &Tag<'static>, capabilities: Vec1<CapabilityEnable<'_>>) -> Step {
        let mut enabled = Vec::new();
        for capability in capabilities.into_iter() {
            if matches!(capability, CapabilityEnable::CondStore) {
                self.condstore = true;
                enabled.push(CapabilityEnable::CondStore);
            }
        }
        Step::reply(vec![
            reply::data(Data::Enabled {
                capabilities: enabled,
            }),
            reply::ok(tag, None, "ENABLE completed"),
        ])
    }

    fn capability_code(&self) -> Option<Code<'static>> {
        Some(Code::Capability(self.capabilities()))
    }

    /// What we support; the login choices depend on TLS (RFC 3501 §6.2.3, §7.2.1).
    fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        if self.user.is_none() {
            if self.tls {
                caps.push(Capability::Auth(AuthMechanism::Plain));
                caps.push(Capability::SaslIr);
            } else {
                if self.config.starttls {
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
        for other in ["SPECIAL-USE", "ESEARCH", "LIST-STATUS"] {
            if let Ok(capability) = Capability::try_from(other) {
                caps.push(capability.into_static());
            }
        }
        Vec1::try_from(caps).unwrap_or_else(|_| Vec1::from(Capability::Imap4Rev1))
    }
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

fn privacy_required() -> Code<'static> {
    other_code("PRIVACYREQUIRED")
}

fn authentication_failed() -> Code<'static> {
    other_code("AUTHENTICATIONFAILED")
}

/// A response code the codec has no variant for (RFC 5530 codes and the like).
pub(crate) fn other_code(name: &'static str) -> Code<'static> {
    Code::Other(imap_codec::imap_types::response::CodeOther::unvalidated(
        name.as_bytes(),
    ))
}

#[cfg(test)]
mod tests;
