//! Mailboxes: creation for a holder, search, detail, and the changes of their
//! life (state, holder, notes, requests, expiry).

use axum::Extension;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::Input;
use super::ManageApi;
use super::answer;
use super::formats::search_response;
use super::now;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::mailboxes;
use crate::manage::mailboxes::MailboxForm;

pub(super) async fn create_mailbox(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(cf): Path<String>,
    Input(mut form): Input<MailboxForm>,
) -> Response {
    form.codice_fiscale = cf;
    answer(StatusCode::CREATED, move || {
        mailboxes::create(&api.store, &actor, &api.settings, &form, now())
    })
    .await
}

pub(super) async fn search_mailboxes(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let table = crate::manage::tables::mailboxes;
    search_response(api, actor, pairs, "caselle.csv", mailboxes::search, table).await
}

pub(super) async fn show_mailbox(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::get(&api.store, &actor, &address)
    })
    .await
}

pub(super) async fn change_holder(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    Input(form): Input<MailboxForm>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::change_holder(&api.store, &actor, &address, &form, now())
    })
    .await
}

/// The actions without a body, named by the path's last segment.
pub(super) async fn act(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let action = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    answer(StatusCode::OK, move || {
        let (store, at) = (&api.store, now());
        match action.as_str() {
            "activate" => mailboxes::activate(store, &actor, &address, at, &*api.on_activation),
            "suspend" => mailboxes::suspend(store, &actor, &address, at),
            "reactivate" => mailboxes::reactivate(store, &actor, &address, at),
            "cease" => mailboxes::cease(store, &actor, &address, at),
            "new-password" => {
                mailboxes::new_password(store, &actor, &address, at, &*api.on_activation)
                    .and_then(|()| mailboxes::get(store, &actor, &address).map(|d| d.row))
            }
            _ => Err(ManageError::NotFound(action.clone())),
        }
    })
    .await
}

/// `{"note": …}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Notes {
    note: String,
}

pub(super) async fn set_notes(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    Input(notes): Input<Notes>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::set_notes(&api.store, &actor, &address, &notes.note, now())
    })
    .await
}

/// `{"richiesta": "rinnovo"|"cessazione", "evasa"?: true}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestBody {
    richiesta: String,
    #[serde(default)]
    evasa: bool,
}

pub(super) async fn request(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    Input(body): Input<RequestBody>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::request(
            &api.store,
            &actor,
            &address,
            &body.richiesta,
            body.evasa,
            now(),
        )
    })
    .await
}

/// `{"scadenza": "AAAA-MM-GG" | ""}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Expiry {
    scadenza: String,
}

pub(super) async fn set_expiry(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    Input(body): Input<Expiry>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::set_expiry(&api.store, &actor, &address, &body.scadenza, now())
    })
    .await
}
