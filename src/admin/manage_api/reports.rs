//! The reports: the summary per ente and the usage per mailbox.

use axum::Extension;
use axum::extract::Query;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::ManageApi;
use super::formats::Format;
use super::formats::list_response;
use super::run;
use crate::manage::Actor;
use crate::manage::reports;

pub(super) async fn summary(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(format): Query<Format>,
) -> Response {
    let csv = format.format.as_deref() == Some("csv");
    let found = run(move || reports::summary(&api.store, &actor, &api.settings.domain)).await;
    list_response(found, csv, "riepilogo-enti.csv", |summary| {
        crate::manage::tables::entes(summary)
    })
}

/// `?ente=` (gestore and aggregators) and `?format=csv`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct UsageParams {
    #[serde(default)]
    ente: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn usage(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<UsageParams>,
) -> Response {
    let csv = params.format.as_deref() == Some("csv");
    let found = run(move || reports::usage(&api.store, &actor, params.ente.as_deref())).await;
    list_response(found, csv, "utilizzo-caselle.csv", |rows| {
        crate::manage::tables::usage(rows)
    })
}
