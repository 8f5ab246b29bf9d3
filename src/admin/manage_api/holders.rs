//! The holders (titolari) of mailboxes: search, create, show, update, within the
//! operator's ente.

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
use crate::manage::holders;
use crate::manage::holders::HolderForm;

pub(super) async fn search_holders(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let table = crate::manage::tables::holders;
    search_response(api, actor, pairs, "titolari.csv", holders::search, table).await
}

pub(super) async fn create_holder(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Input(form): Input<HolderForm>,
) -> Response {
    answer(StatusCode::CREATED, move || {
        holders::create(&api.store, &actor, &form, now())
    })
    .await
}

/// `?ente=` names the holder's ente for the gestore; others act in their own.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct EnteParam {
    #[serde(default)]
    ente: Option<String>,
}

pub(super) async fn show_holder(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(cf): Path<String>,
    Query(param): Query<EnteParam>,
) -> Response {
    answer(StatusCode::OK, move || {
        let ente = actor.acting_ente(param.ente.as_deref());
        holders::get(&api.store, &actor, &ente, &cf)
    })
    .await
}

pub(super) async fn update_holder(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(cf): Path<String>,
    Query(param): Query<EnteParam>,
    Input(form): Input<HolderForm>,
) -> Response {
    answer(StatusCode::OK, move || {
        let ente = actor.acting_ente(param.ente.as_deref());
        holders::update(
            &api.store,
            &actor,
            &ente,
            &cf,
            &form,
            jiff::Timestamp::now(),
        )
    })
    .await
}
