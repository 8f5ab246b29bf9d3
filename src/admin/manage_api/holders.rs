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
use super::formats::decode_query;
use super::formats::list_response;
use super::formats::wants_csv;
use super::formats::without_format;
use super::now;
use super::run;
use crate::manage::Actor;
use crate::manage::holders;
use crate::manage::holders::HolderForm;
use crate::manage::holders::HolderQuery;

pub(super) async fn search_holders(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let csv = wants_csv(&pairs);
    let found = run(move || {
        let query: HolderQuery = decode_query(without_format(pairs))?;
        holders::search(&api.store, &actor, &query)
    })
    .await;
    list_response(found, csv, "titolari.csv", |found| {
        crate::manage::tables::holders(found)
    })
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
        holders::update(&api.store, &actor, &ente, &cf, &form)
    })
    .await
}
