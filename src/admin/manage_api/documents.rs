//! A mailbox's PDF documents: list, upload, download.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::ManageApi;
use super::answer;
use super::formats::pdf_response;
use super::now;
use super::run;
use crate::manage::Actor;
use crate::manage::documents;
use crate::manage::mailboxes;

pub(super) async fn list_documents(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::get(&api.store, &actor, &address).map(|detail| detail.documents)
    })
    .await
}

/// `?tipo=contratto&nome=contratto.pdf`, the PDF as the body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadParams {
    tipo: String,
    #[serde(default)]
    nome: String,
}

pub(super) async fn upload_document(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
    Query(params): Query<UploadParams>,
    body: Bytes,
) -> Response {
    answer(StatusCode::CREATED, move || {
        documents::upload(
            &api.store,
            &actor,
            &address,
            &params.tipo,
            &params.nome,
            &body,
            now(),
        )
    })
    .await
}

pub(super) async fn download_document(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path((address, id)): Path<(String, u64)>,
) -> Response {
    match run(move || documents::download(&api.store, &actor, &address, id)).await {
        Ok((document, bytes)) => pdf_response(&document.filename, bytes),
        Err(response) => response,
    }
}
