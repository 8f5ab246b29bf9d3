//! Login and logout. A login goes through the same throttle as SMTP AUTH and IMAP
//! LOGIN ([`crate::net::throttle`]): failures count per address, per (address, user)
//! and per user, and a locked user or address is refused without its password being
//! looked at. The password is checked on the daemon's password threads.

use std::net::IpAddr;
use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::Response;
use serde::Deserialize;

use crate::net::throttle::Admission;
use crate::store::mailbox::Credential;
use crate::web::Actor;
use crate::web::Web;
use crate::web::guard::Visitor;
use crate::web::listener::ClientAddr;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;
use crate::web::session::Current;
use crate::web::session::Session;
use crate::web::session::SessionError;
use crate::web::session::clear_cookie;
use crate::web::session::set_cookie;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    errors: FormErrors,
    username: String,
}

/// The login form's fields (its `csrf` field is the guard's).
#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// What became of a login attempt.
pub(super) enum Outcome {
    /// The password was right: who logged in, with what.
    Accepted(Actor, Credential),
    /// Wrong user or password.
    Refused,
    /// Too many failures: refused without a check.
    Locked,
    /// Too many checks waiting: retry later, nothing counted.
    Busy,
}

/// `GET /accesso`.
pub async fn form(
    State(web): State<Web>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    Visitor(current): Visitor,
) -> Response {
    if current.as_ref().is_some_and(|c| c.session.actor.is_some()) {
        return page::see_other("/");
    }
    let opened = match ensure_session(&web, current, peer.ip()) {
        Ok(opened) => opened,
        Err(error) => return busy(&error),
    };
    let page = login_page(
        opened.current(),
        FormErrors::none(),
        String::new(),
        StatusCode::OK,
    );
    opened.finish(page)
}

/// `POST /accesso`.
pub async fn submit(
    State(web): State<Web>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    Visitor(current): Visitor,
    Form(credentials): Form<Credentials>,
) -> Response {
    // The CSRF guard lets no form through without a session.
    let Some(current) = current else {
        return page::see_other("/accesso");
    };
    let username = credentials.username.trim().to_string();
    if username.is_empty() || credentials.password.is_empty() {
        let mut errors = FormErrors::none();
        if username.is_empty() {
            errors.add("username", "Inserire il nome utente.");
        }
        if credentials.password.is_empty() {
            errors.add("password", "Inserire la password.");
        }
        return login_page(&current, errors, username, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match attempt(
        &web,
        peer.ip(),
        &username,
        credentials.password,
        "web login",
    )
    .await
    {
        Outcome::Accepted(actor, credential) => {
            start_operator_session(&web, &current, actor, credential)
        }
        Outcome::Refused => {
            let errors = FormErrors::general("Nome utente o password non corretti.");
            login_page(&current, errors, username, StatusCode::UNAUTHORIZED)
        }
        Outcome::Locked => {
            let errors = FormErrors::general(
                "Troppi tentativi non riusciti: l'accesso è bloccato per qualche minuto.",
            );
            login_page(&current, errors, username, StatusCode::TOO_MANY_REQUESTS)
        }
        Outcome::Busy => {
            let errors = FormErrors::general("Il servizio è occupato: riprovare tra poco.");
            login_page(&current, errors, username, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// `POST /esci`: ends the session and makes the browser forget it.
pub async fn logout(State(web): State<Web>, Visitor(current): Visitor) -> Response {
    if let Some(current) = current {
        web.sessions.end(&current.id);
    }
    with_cookie(page::see_other("/accesso"), &clear_cookie())
}

/// A session for a page that needs one before any login (its forms carry a token).
pub enum Opened {
    /// The browser already had one.
    Existing(Current),
    /// One was started: the response must give the browser its cookie.
    Started(Current),
}

impl Opened {
    /// The session.
    pub fn current(&self) -> &Current {
        match self {
            Opened::Existing(current) | Opened::Started(current) => current,
        }
    }

    /// `response`, with the cookie of a session just started.
    pub fn finish(&self, response: Response) -> Response {
        match self {
            Opened::Existing(_) => response,
            Opened::Started(current) => with_cookie(response, &set_cookie(&current.id)),
        }
    }
}

/// The visitor's session, or a new anonymous one for the browser at `peer`.
pub fn ensure_session(
    web: &Web,
    current: Option<Current>,
    peer: IpAddr,
) -> Result<Opened, SessionError> {
    match current {
        Some(current) => Ok(Opened::Existing(current)),
        None => Ok(Opened::Started(
            web.sessions.start_anonymous(peer, Instant::now())?,
        )),
    }
}

/// The answer when no session can be started.
pub fn busy(error: &SessionError) -> Response {
    tracing::warn!(%error, "web session not started");
    page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        &Session::none(),
        "Servizio occupato",
        "Il servizio è occupato: riprovare tra poco.",
    )
}

/// `response` with a `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// The throttle's verdict, then the password check; `what` names it in the log (a
/// login, or the current password a change is asked with).
pub(super) async fn attempt(
    web: &Web,
    ip: IpAddr,
    username: &str,
    password: String,
    what: &str,
) -> Outcome {
    let attempt = match web.throttle.admit(ip, username, Instant::now()) {
        Admission::Check(attempt) => attempt,
        Admission::Locked => return Outcome::Locked,
        Admission::Busy => return Outcome::Busy,
    };
    if !attempt.delay().is_zero() {
        tokio::time::sleep(attempt.delay()).await;
    }
    let Some(attempt) = attempt.after_delay(Instant::now()) else {
        return Outcome::Busy;
    };
    match web.authenticate(username, password).await {
        Some((actor, credential)) => {
            attempt.succeeded(Instant::now());
            tracing::info!(operator = %actor.username, "{what}");
            Outcome::Accepted(actor, credential)
        }
        None => {
            attempt.failed();
            tracing::info!(%ip, "{what} refused");
            Outcome::Refused
        }
    }
}

/// A new session for the operator (new id, new CSRF token) replaces the login's.
fn start_operator_session(
    web: &Web,
    anonymous: &Current,
    actor: Actor,
    credential: Credential,
) -> Response {
    web.sessions.end(&anonymous.id);
    match web.sessions.start(actor, credential, Instant::now()) {
        Ok(current) => with_cookie(page::see_other("/"), &set_cookie(&current.id)),
        Err(error) => page::internal_error(&anonymous.session, &error),
    }
}

fn login_page(
    current: &Current,
    errors: FormErrors,
    username: String,
    status: StatusCode,
) -> Response {
    let page = LoginPage {
        chrome: Chrome::new("Accesso", &current.session, Section::None),
        errors,
        username,
    };
    page::render(status, &page)
}
