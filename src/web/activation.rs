//! `/attiva/{token}`: the page of the one-time link mailed to a holder, where they choose
//! their mailbox's password. No login: the 128-bit token is the credential, and it works
//! once ([`crate::notify::redeem`]). The form still carries a CSRF token of an anonymous
//! session, so another site cannot submit it in the holder's browser.

use askama::Template;
use axum::Form;
use axum::extract::ConnectInfo;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::notify;
use crate::notify::LinkError;
use crate::web::Web;
use crate::web::guard::Visitor;
use crate::web::listener::ClientAddr;
use crate::web::login;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;
use crate::web::session::Session;

#[derive(Template)]
#[template(path = "activation.html")]
struct LinkPage {
    chrome: Chrome,
    token: String,
    mailbox: Option<String>,
    errors: FormErrors,
}

/// The password form.
#[derive(Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    password: String,
    #[serde(default)]
    conferma: String,
}

/// `GET /attiva/{token}`.
pub async fn form(
    State(web): State<Web>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    Visitor(current): Visitor,
    Path(token): Path<String>,
) -> Response {
    let opened = match login::ensure_session(&web, current, peer.ip()) {
        Ok(opened) => opened,
        Err(error) => return login::busy(&error),
    };
    let (store, lookup) = (web.store.clone(), token.clone());
    let now = jiff::Timestamp::now();
    let checked = tokio::task::spawn_blocking(move || notify::check(&store, &lookup, now)).await;
    let session = &opened.current().session;
    let response = match checked {
        Ok(Ok(link)) => show(
            session,
            token,
            Some(link.mailbox),
            FormErrors::none(),
            StatusCode::OK,
        ),
        Ok(Err(error)) => show(
            session,
            token,
            None,
            FormErrors::general(error.to_string()),
            gone(&error),
        ),
        Err(error) => page::internal_error(session, &error),
    };
    opened.finish(response)
}

/// `POST /attiva/{token}`.
pub async fn submit(
    State(web): State<Web>,
    Visitor(current): Visitor,
    Path(token): Path<String>,
    Form(form): Form<NewPassword>,
) -> Response {
    // The CSRF guard lets no form through without a session.
    let session = current.map(|c| c.session).unwrap_or_else(Session::none);
    let (store, lookup) = (web.store.clone(), token.clone());
    let now = jiff::Timestamp::now();
    let checked = tokio::task::spawn_blocking(move || notify::check(&store, &lookup, now)).await;
    let mailbox = match checked {
        Ok(Ok(link)) => link.mailbox,
        Ok(Err(error)) => {
            let errors = FormErrors::general(error.to_string());
            return show(&session, token, None, errors, gone(&error));
        }
        Err(error) => return page::internal_error(&session, &error),
    };
    if form.password != form.conferma {
        let errors = FormErrors::field("conferma", "Le due password non coincidono.");
        return show(
            &session,
            token,
            Some(mailbox),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let store = web.store.clone();
    let (redeem_token, password) = (token.clone(), form.password);
    let redeemed =
        tokio::task::spawn_blocking(move || notify::redeem(&store, &redeem_token, &password, now))
            .await;
    match redeemed {
        Ok(Ok(address)) => page::message(
            StatusCode::OK,
            &session,
            "Password impostata",
            &format!(
                "La password della casella {address} è impostata: ora può accedere con il suo programma di posta."
            ),
        ),
        Ok(Err(error @ (LinkError::PasswordTooShort | LinkError::PasswordTooLong))) => {
            let errors = FormErrors::field("password", error.to_string());
            show(
                &session,
                token,
                Some(mailbox),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Ok(Err(error)) => {
            let errors = FormErrors::general(error.to_string());
            show(&session, token, None, errors, gone(&error))
        }
        Err(error) => page::internal_error(&session, &error),
    }
}

/// The status of a link that does not work: unknown, or no longer.
fn gone(error: &LinkError) -> StatusCode {
    match error {
        LinkError::Malformed(_) | LinkError::Unknown | LinkError::NoMailbox(_) => {
            StatusCode::NOT_FOUND
        }
        LinkError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::GONE,
    }
}

fn show(
    session: &Session,
    token: String,
    mailbox: Option<String>,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    let page = LinkPage {
        chrome: Chrome::new("Password della casella PEC", session, Section::None),
        token,
        mailbox,
        errors,
    };
    page::render(status, &page)
}
