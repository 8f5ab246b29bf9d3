//! The checks in front of every handler: which session a request belongs to, the CSRF
//! token of every request that changes something, and who may see operator pages.
//!
//! The CSRF token is checked here, once, for every method but GET and HEAD, whatever
//! the form: a URL-encoded form and a multipart upload carry it in their `csrf` field,
//! the JSON API in the `X-CSRF-Token` header (which another site cannot set without
//! the panel's consent). Handlers never see a request that failed the check.
//!
//! A request without a session is refused before its body is read, and the body of
//! anyone but a logged-in operator uploading a document is held to a form's size: a
//! stranger cannot make the panel hold megabytes per connection. A logged-in
//! operator's session is checked against the store on every request, so disabling or
//! removing an operator ends their sessions at their next request.

use std::time::Instant;

use axum::Form;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::Multipart;
use axum::extract::Request;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Redirect;
use axum::response::Response;
use serde::Deserialize;

use crate::net::http::BodyError;
use crate::net::http::declared_length;
use crate::net::http::read_body;
use crate::store::mailbox::Credential;
use crate::web::Actor;
use crate::web::Web;
use crate::web::page;
use crate::web::session::Current;
use crate::web::session::Session;
use crate::web::session::cookie_id;
use crate::web::session::csrf_matches;

/// The header the JSON API sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The request's session, if its cookie names a live one (a request extension).
#[derive(Clone, Debug)]
pub struct Visitor(pub Option<Current>);

/// A logged-in operator's request: the session and who it is.
#[derive(Clone, Debug)]
pub struct Operator {
    /// The session's id (the cookie's value).
    pub id: String,
    /// The session.
    pub session: Session,
    /// Who is logged in.
    pub actor: Actor,
}

/// Middleware: looks the request's session up (and restarts its idle time), and
/// hardens every response.
pub async fn sessions(State(web): State<Web>, mut request: Request, next: Next) -> Response {
    let current = cookie_id(request.headers())
        .and_then(|id| web.sessions.touch(id, Instant::now()))
        .and_then(|current| as_stored(&web, current));
    request.extensions_mut().insert(Visitor(current));
    let mut response = next.run(request).await;
    page::harden(&mut response);
    response
}

/// A logged-in operator's session as the store says now: the operator re-read (role,
/// ente, domains), or no session if they were disabled, removed or given a new
/// password, which also ends it.
fn as_stored(web: &Web, mut current: Current) -> Option<Current> {
    let Some(actor) = &current.session.actor else {
        return Some(current);
    };
    let username = actor.username.clone();
    match web.store.read(|tx| tx.management().operator(&username)) {
        Ok(Some(operator))
            if !operator.disabled
                && Some(Credential::of(&operator.password_hash)) == current.session.credential =>
        {
            current.session.actor = Some(operator.actor());
            Some(current)
        }
        Ok(_) => {
            tracing::info!(operator = %username, "web session ended: operator disabled, removed or given a new password");
            web.sessions.end(&current.id);
            None
        }
        Err(error) => {
            tracing::warn!(%error, "web session refused: operator not read");
            None
        }
    }
}

/// Middleware: refuses a request that changes something unless it carries its
/// session's CSRF token.
pub async fn csrf(State(web): State<Web>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let session = request
        .extensions()
        .get::<Visitor>()
        .and_then(|visitor| visitor.0.clone())
        .map(|current| current.session);
    // Refused unread: the connection closes after the answer.
    let Some(session) = session else {
        return expired();
    };
    let (limit, upload) = body_limit(&web, &session, request.uri().path());
    // Refused unread, except an operator's upload: its browser, still sending, is
    // better served by reading up to the limit and answering than by a reset.
    if !upload && declared_length(&request).is_some_and(|length| length > limit as u64) {
        return too_large(&session);
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, limit, web.settings.deadlines.body).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return too_large(&session),
        Err(BodyError::TooSlow) => {
            return page::message(
                StatusCode::REQUEST_TIMEOUT,
                &session,
                "Richiesta incompleta",
                "I dati non sono arrivati in tempo. Riprovare.",
            );
        }
    };
    let token = match parts.headers.get(CSRF_HEADER) {
        Some(value) => value.to_str().ok().map(str::to_string),
        None => form_token(&parts.headers, &bytes).await,
    };
    if !token.is_some_and(|token| csrf_matches(&session, &token)) {
        let path = loggable(parts.uri.path());
        tracing::info!(%path, "web request refused: missing or wrong CSRF token");
        return page::message(
            StatusCode::FORBIDDEN,
            &session,
            "Richiesta non valida",
            "La richiesta non proviene da un modulo di questa sessione. Ricaricare la pagina e riprovare.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// `path` as the log may hold it: a one-time link's token is a password until used.
fn loggable(path: &str) -> &str {
    if path.starts_with("/attiva/") {
        "/attiva/{token}"
    } else {
        path
    }
}

/// The largest body a request may send, and whether it is an upload: a document's
/// room for a logged-in operator on an upload route (the panel's form or the JSON
/// API's), a form's for everyone else.
fn body_limit(web: &Web, session: &Session, path: &str) -> (usize, bool) {
    let route = path.ends_with("/documenti") || path.ends_with("/documents");
    if session.actor.is_some() && route {
        (web.settings.max_request_bytes, true)
    } else {
        (web.settings.max_form_bytes, false)
    }
}

fn too_large(session: &Session) -> Response {
    page::message(
        StatusCode::PAYLOAD_TOO_LARGE,
        session,
        "Richiesta troppo grande",
        "I dati inviati superano la dimensione massima accettata.",
    )
}

/// The session ended (expired, logged out, or the server restarted) before the form
/// was sent.
fn expired() -> Response {
    let anonymous = Session::none();
    page::message(
        StatusCode::FORBIDDEN,
        &anonymous,
        "Sessione scaduta",
        "La sessione è scaduta. Accedere di nuovo e ripetere l'operazione.",
    )
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: String,
}

/// The `csrf` field of a URL-encoded or multipart form body.
async fn form_token(headers: &HeaderMap, bytes: &Bytes) -> Option<String> {
    let content_type = headers.get(CONTENT_TYPE)?.clone();
    let copy = Request::builder()
        .method(Method::POST)
        .header(CONTENT_TYPE, content_type.clone())
        .body(Body::from(bytes.clone()))
        .ok()?;
    let kind = content_type.to_str().ok()?;
    if kind.starts_with("application/x-www-form-urlencoded") {
        let Form(field) = Form::<CsrfField>::from_request(copy, &()).await.ok()?;
        return Some(field.csrf);
    }
    if kind.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(copy, &()).await.ok()?;
        while let Ok(Some(field)) = form.next_field().await {
            if field.name() == Some("csrf") {
                return field.text().await.ok();
            }
        }
    }
    None
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Visitor, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .unwrap_or(Visitor(None)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Response;

    /// Anyone not logged in is sent to the login page.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Operator, Response> {
        let current = parts
            .extensions
            .get::<Visitor>()
            .and_then(|visitor| visitor.0.clone());
        match current {
            Some(Current { id, session }) => match session.actor.clone() {
                Some(actor) => Ok(Operator { id, session, actor }),
                None => Err(Redirect::to("/accesso").into_response()),
            },
            None => Err(Redirect::to("/accesso").into_response()),
        }
    }
}

/// Middleware of the JSON API: the session's operator becomes the request's [`Actor`];
/// without one the answer is a JSON 401.
pub async fn api_actor(mut request: Request, next: Next) -> Response {
    let actor = request
        .extensions()
        .get::<Visitor>()
        .and_then(|visitor| visitor.0.as_ref())
        .and_then(|current| current.session.actor.clone());
    match actor {
        Some(actor) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": "accesso richiesto" })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_one_time_link_s_token_never_reaches_the_log() {
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            super::loggable(&format!("/attiva/{token}")),
            "/attiva/{token}"
        );
        assert_eq!(super::loggable("/caselle/nuova"), "/caselle/nuova");
    }
}
