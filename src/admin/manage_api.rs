//! The management plane's JSON API: the same routes on the admin listener (the bearer
//! token acts as the gestore) and on the web listener (the operator's session), so
//! automation and people go through the one set of rules in [`crate::manage`]. Each
//! handler takes the [`Actor`] the listener put in the request's extensions; every
//! list also comes as CSV with `?format=csv`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRequest;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::domains;
use crate::manage::domains::NewDomain;
use crate::manage::mailboxes::Activation;
use crate::manage::mailboxes::Settings;
use crate::manage::operators;
use crate::manage::operators::NewOperator;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;

mod documents;
mod formats;
mod holders;
mod mailboxes;
mod reports;

use documents::download_document;
use documents::list_documents;
use documents::upload_document;
pub use formats::csv_response;
pub use formats::pdf_response;
use holders::create_holder;
use holders::search_holders;
use holders::show_holder;
use holders::update_holder;
use mailboxes::act;
use mailboxes::change_holder;
use mailboxes::create_mailbox;
use mailboxes::request;
use mailboxes::search_mailboxes;
use mailboxes::set_expiry;
use mailboxes::set_notes;
use mailboxes::show_mailbox;
use reports::summary;
use reports::usage;

/// What the activation of a mailbox does besides changing its state: issue the
/// one-time link and queue the mails (the composition root supplies it).
pub type ActivationHook =
    Arc<dyn Fn(&mut Tx<'_>, &Activation) -> Result<(), StoreError> + Send + Sync>;

/// The largest upload body: a document at its limit, and room for nothing else.
const UPLOAD_LIMIT: usize = crate::manage::documents::MAX_DOCUMENT_BYTES + 1;

/// The state every management route shares.
#[derive(Clone)]
pub struct ManageApi {
    /// The store.
    pub store: Store,
    /// The configuration the rules need.
    pub settings: Arc<Settings>,
    /// Run in the transaction that activates a mailbox or asks for a new password.
    pub on_activation: ActivationHook,
}

/// Every management route; the caller adds the layer that puts the [`Actor`] in.
pub fn routes() -> Router<ManageApi> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/domains", get(list_domains).post(add_domain))
        .route("/v1/operators", get(list_operators).post(add_operator))
        .route("/v1/operators/{username}/disable", post(disable_operator))
        .route("/v1/operators/{username}/enable", post(enable_operator))
        .route("/v1/holders", get(search_holders).post(create_holder))
        .route("/v1/holders/{cf}", get(show_holder).put(update_holder))
        .route("/v1/holders/{cf}/mailboxes", post(create_mailbox))
        .route("/v1/search/mailboxes", get(search_mailboxes))
        .route("/v1/mailboxes/{address}/detail", get(show_mailbox))
        .route("/v1/mailboxes/{address}/activate", post(act))
        .route("/v1/mailboxes/{address}/suspend", post(act))
        .route("/v1/mailboxes/{address}/reactivate", post(act))
        .route("/v1/mailboxes/{address}/cease", post(act))
        .route("/v1/mailboxes/{address}/new-password", post(act))
        .route("/v1/mailboxes/{address}/holder", post(change_holder))
        .route("/v1/mailboxes/{address}/notes", post(set_notes))
        .route("/v1/mailboxes/{address}/requests", post(request))
        .route("/v1/mailboxes/{address}/expiry", post(set_expiry))
        .route(
            "/v1/mailboxes/{address}/documents",
            get(list_documents).post(upload_document),
        )
        .route(
            "/v1/mailboxes/{address}/documents/{id}",
            get(download_document),
        )
        .route("/v1/reports/summary", get(summary))
        .route("/v1/reports/usage", get(usage))
        // Room for a document at its limit; every route is behind authentication.
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
}

/// The HTTP status of a refusal.
pub fn status_of(error: &ManageError) -> StatusCode {
    match error {
        ManageError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ManageError::NotFound(_) => StatusCode::NOT_FOUND,
        ManageError::Exists(_) => StatusCode::CONFLICT,
        ManageError::GestoreOnly => StatusCode::FORBIDDEN,
        ManageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refusal as JSON: `{"error": …, "field": …}`.
fn refusal(error: ManageError) -> Response {
    let status = status_of(&error);
    let body = match &error {
        ManageError::Invalid { field, message } => json!({ "error": message, "field": field }),
        ManageError::Store(store) => {
            tracing::error!(error = %store, "management API");
            json!({ "error": "errore interno" })
        }
        other => json!({ "error": other.to_string() }),
    };
    (status, Json(body)).into_response()
}

/// Runs a management action off the async threads.
async fn run<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ManageError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(refusal(error)),
        Err(_) => Err(refusal(ManageError::Store(StoreError::Internal(
            "a management task failed",
        )))),
    }
}

/// A JSON answer, or the refusal.
async fn answer<T: Serialize + Send + 'static>(
    status: StatusCode,
    work: impl FnOnce() -> Result<T, ManageError> + Send + 'static,
) -> Response {
    match run(work).await {
        Ok(value) => (status, Json(value)).into_response(),
        Err(response) => response,
    }
}

/// A body that did not parse as the route's JSON.
fn bad_body(rejection: &axum::extract::rejection::JsonRejection) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": rejection.body_text() })),
    )
        .into_response()
}

/// A JSON body, or the JSON refusal of one that does not parse as the route's type.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Input(value)),
            Err(rejection) => Err(bad_body(&rejection)),
        }
    }
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

async fn me(Extension(actor): Extension<Actor>) -> Response {
    Json(json!({
        "username": actor.username,
        "role": actor.role,
        "ente": actor.ente,
        "domains": actor.domains,
    }))
    .into_response()
}

async fn list_domains(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
) -> Response {
    answer(StatusCode::OK, move || {
        domains::usable(&api.store, &actor, &api.settings.domain)
    })
    .await
}

async fn add_domain(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Input(new): Input<NewDomain>,
) -> Response {
    answer(StatusCode::CREATED, move || {
        domains::add(&api.store, &actor, &api.settings.domain, &new, now())
    })
    .await
}

async fn list_operators(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
) -> Response {
    answer(StatusCode::OK, move || operators::list(&api.store, &actor)).await
}

async fn add_operator(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Input(new): Input<NewOperator>,
) -> Response {
    answer(StatusCode::CREATED, move || {
        operators::add(&api.store, &actor, &api.settings.domain, &new, now())
    })
    .await
}

async fn disable_operator(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
) -> Response {
    answer(StatusCode::OK, move || {
        operators::set_disabled(&api.store, &actor, &username, true)
    })
    .await
}

async fn enable_operator(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
) -> Response {
    answer(StatusCode::OK, move || {
        operators::set_disabled(&api.store, &actor, &username, false)
    })
    .await
}
