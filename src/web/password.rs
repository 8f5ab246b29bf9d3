//! `/password`: an operator changes their own password. The current one is checked as a
//! login is (behind the login throttle, on the password threads), so a session left
//! open cannot be used to guess it; the new one must meet the policy and be typed twice.
//! The change ends every other session of the operator (their credential no longer
//! stands) and this one goes on under a new id.

use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::manage::operators;
use crate::web::Web;
use crate::web::forms;
use crate::web::guard::Operator;
use crate::web::listener::ClientAddr;
use crate::web::login::Outcome;
use crate::web::login::attempt;
use crate::web::login::with_cookie;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;
use crate::web::session::set_cookie;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: FormErrors,
}

/// The form as typed (never shown again: password fields start empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordFields {
    attuale: String,
    password: String,
    conferma: String,
}

/// `GET /password`.
pub async fn form(operator: Operator) -> Response {
    show(&operator, FormErrors::none(), StatusCode::OK)
}

/// `POST /password`.
pub async fn change(
    State(web): State<Web>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    operator: Operator,
    Form(fields): Form<PasswordFields>,
) -> Response {
    let mut errors = FormErrors::none();
    if fields.attuale.is_empty() {
        errors.add("attuale", "Inserire la password attuale.");
    }
    if fields.password != fields.conferma {
        errors.add("conferma", "Le due password nuove non coincidono.");
    }
    if !errors.is_empty() {
        return show(&operator, errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let username = operator.actor.username.clone();
    let what = "web password change: current password";
    match attempt(&web, peer.ip(), &username, fields.attuale, what).await {
        Outcome::Accepted(..) => {}
        Outcome::Refused => {
            errors.add("attuale", "La password attuale non è corretta.");
            return show(&operator, errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Outcome::Locked => {
            let errors =
                FormErrors::general("Troppi tentativi non riusciti: riprovare tra qualche minuto.");
            return show(&operator, errors, StatusCode::TOO_MANY_REQUESTS);
        }
        Outcome::Busy => {
            let errors = FormErrors::general("Il servizio è occupato: riprovare tra poco.");
            return show(&operator, errors, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let (actor, new) = (operator.actor.clone(), fields.password.clone());
    let changed = forms::run(&web.store, move |store| {
        operators::set_password(store, &actor, &actor.username, &new)
    })
    .await;
    match changed.map_err(forms::form_errors) {
        Ok(()) => continue_session(&web, &operator, fields.password).await,
        Err(Ok(errors)) => show(&operator, errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

/// After the change: this session is replaced by one under the new credential (a new
/// id), the others end at their next request.
async fn continue_session(web: &Web, operator: &Operator, password: String) -> Response {
    let Some((actor, credential)) = web.authenticate(&operator.actor.username, password).await
    else {
        return page::internal_error(&operator.session, &"the new password does not open");
    };
    web.sessions.end(&operator.id);
    match web.sessions.start(actor, credential, Instant::now()) {
        Ok(current) => {
            let notice = "Password cambiata: le altre sessioni sono state chiuse.".to_string();
            web.sessions.notify(&current.id, notice);
            with_cookie(page::see_other("/"), &set_cookie(&current.id))
        }
        Err(error) => page::internal_error(&operator.session, &error),
    }
}

fn show(operator: &Operator, errors: FormErrors, status: StatusCode) -> Response {
    let page = PasswordPage {
        chrome: Chrome::new("Cambia password", &operator.session, Section::None),
        errors,
    };
    page::render(status, &page)
}
