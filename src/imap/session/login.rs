//! The not-authenticated state (RFC 3501 §6.2): STARTTLS, LOGIN and AUTHENTICATE
//! PLAIN (RFC 4616), only over TLS. Password checks are the shell's [`Effect`]; the
//! answer comes back through [`Session::login_checked`], with the credential the
//! session then asks the store about before each command (and ends on when it no
//! longer stands).

use base64::Engine;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::Effect;
use crate::imap::session::Session;
use crate::imap::session::State;
use crate::imap::session::Step;
use crate::imap::session::Transport;
use crate::imap::session::other_code;
use crate::store::Store;
use crate::store::mailbox::Credential;

impl Common {
    /// A command before login.
    pub(super) fn not_authenticated(&mut self, tag: Tag<'static>, body: CommandBody<'_>) -> Step {
        let tls = self.transport == Transport::Tls;
        match body {
            CommandBody::StartTLS if tls || !self.config.starttls => {
                Step::reply(vec![reply::bad(&tag, "TLS is already active")])
            }
            CommandBody::StartTLS => Step {
                out: vec![reply::ok(&tag, None, "begin TLS negotiation now")],
                effect: Effect::StartTls,
            },
            _ if !tls => Step::reply(vec![reply::no(
                &tag,
                Some(other_code("PRIVACYREQUIRED")),
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
                Some(data) => sasl_plain(tag, data.declassify()),
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
}

impl Session {
    /// The client's answer to `+ ` after AUTHENTICATE PLAIN: base64 of
    /// `authzid NUL authcid NUL password` (RFC 4616), or `*` to cancel.
    pub fn authenticate_data(&mut self, tag: Tag<'static>, line: &[u8]) -> Step {
        let line = line.trim_ascii();
        if line == b"*" {
            return Step::reply(vec![reply::bad(&tag, "authentication cancelled")]);
        }
        match base64::engine::general_purpose::STANDARD.decode(line) {
            Ok(data) => sasl_plain(tag, &data),
            Err(_) => Step::reply(vec![reply::bad(&tag, "invalid base64")]),
        }
    }

    /// Whether the session is over (LOGOUT, or a login that no longer stands): the
    /// shell closes the connection once it has sent what it holds.
    pub fn ended(&self) -> bool {
        matches!(self.state, State::Logout)
    }

    /// Ends the session when its login no longer stands: the holder's password was
    /// changed or revoked (a subentro hands the mailbox to someone else), or the
    /// mailbox was suspended or deleted. The `* BYE` to send, after which the
    /// connection closes; nothing of the mailbox is read for it first.
    pub(super) fn end_if_revoked(&mut self, store: &Store) -> Option<Out> {
        let (Some(user), Some(credential)) = (self.user(), &self.credential) else {
            return None;
        };
        // A fault answers no: the session ends, and the holder logs in again.
        if store.credential_stands(user, credential).unwrap_or(false) {
            return None;
        }
        tracing::info!(mailbox = %user, "IMAP session ended: its login no longer stands");
        self.state = State::Logout;
        self.credential = None;
        Some(reply::bye("credentials changed or revoked: log in again"))
    }

    /// The shell checked a password: the credential it opened, or `None`. Wrong
    /// password and unknown user get the same answer.
    pub fn login_checked(
        &mut self,
        tag: Tag<'static>,
        user: &str,
        credential: Option<Credential>,
    ) -> Step {
        let Some(credential) = credential else {
            return Step::reply(vec![reply::no(
                &tag,
                Some(other_code("AUTHENTICATIONFAILED")),
                "invalid credentials",
            )]);
        };
        self.credential = Some(credential);
        self.state = State::Authenticated {
            user: user.to_ascii_lowercase(),
        };
        Step::reply(vec![reply::ok(&tag, self.capability_code(), "logged in")])
    }
}

fn sasl_plain(tag: Tag<'static>, data: &[u8]) -> Step {
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
