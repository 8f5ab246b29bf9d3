//! The management plane's JSON API: the same routes on the admin listener (the bearer
//! token acts as the gestore) and on the web listener (the operator's session), so
//! automation and people go through the one set of rules in [`crate::manage`]. Each
//! handler takes the [`Actor`] the listener put in the request's extensions; every
//! list also comes as CSV with `?format=csv`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRequest;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::csv::Table;
use crate::manage::documents;
use crate::manage::domains;
use crate::manage::domains::NewDomain;
use crate::manage::holders;
use crate::manage::holders::HolderForm;
use crate::manage::holders::HolderQuery;
use crate::manage::mailboxes;
use crate::manage::mailboxes::Activation;
use crate::manage::mailboxes::MailboxForm;
use crate::manage::mailboxes::MailboxQuery;
use crate::manage::mailboxes::Settings;
use crate::manage::operators;
use crate::manage::operators::NewOperator;
use crate::manage::reports;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;

/// What the activation of a mailbox does besides changing its state: issue the
/// one-time link and queue the mails (the composition root supplies it).
pub type ActivationHook =
    Arc<dyn Fn(&mut Tx<'_>, &Activation) -> Result<(), StoreError> + Send + Sync>;

/// The largest upload body: a document at its limit, and room for nothing else.
const UPLOAD_LIMIT: usize = documents::MAX_DOCUMENT_BYTES + 1;

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

/// `?format=csv` asks for a list as CSV.
#[derive(Deserialize, Default)]
struct Format {
    #[serde(default)]
    format: Option<String>,
}

fn wants_csv(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, v)| k == "format" && v == "csv")
}

fn without_format(query: Vec<(String, String)>) -> Vec<(String, String)> {
    query.into_iter().filter(|(k, _)| k != "format").collect()
}

/// A query string decoded into `T` (unknown keys refused with their name).
fn decode_query<T: serde::de::DeserializeOwned>(
    pairs: Vec<(String, String)>,
) -> Result<T, ManageError> {
    let encoded = serde_urlencoded_pairs(&pairs);
    serde_json::from_value(encoded).map_err(|e| ManageError::invalid("query", e.to_string()))
}

fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A CSV download named `name`.
pub fn csv_response(name: &str, table: Table) -> Response {
    match table.finish() {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    crate::manage::csv::CONTENT_TYPE.to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => refusal(ManageError::invalid("csv", error.to_string())),
    }
}

async fn search_holders(
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
    match (found, csv) {
        (Err(response), _) => response,
        (Ok(found), false) => Json(found).into_response(),
        (Ok(found), true) => match crate::manage::tables::holders(&found) {
            Ok(table) => csv_response("titolari.csv", table),
            Err(error) => refusal(error),
        },
    }
}

async fn create_holder(
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
struct EnteParam {
    #[serde(default)]
    ente: Option<String>,
}

async fn show_holder(
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

async fn update_holder(
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

async fn create_mailbox(
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

async fn search_mailboxes(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let csv = wants_csv(&pairs);
    let found = run(move || {
        let query: MailboxQuery = decode_query(without_format(pairs))?;
        mailboxes::search(&api.store, &actor, &query)
    })
    .await;
    match (found, csv) {
        (Err(response), _) => response,
        (Ok(found), false) => Json(found).into_response(),
        (Ok(found), true) => match crate::manage::tables::mailboxes(&found) {
            Ok(table) => csv_response("caselle.csv", table),
            Err(error) => refusal(error),
        },
    }
}

async fn show_mailbox(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path(address): Path<String>,
) -> Response {
    answer(StatusCode::OK, move || {
        mailboxes::get(&api.store, &actor, &address)
    })
    .await
}

async fn change_holder(
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
async fn act(
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
struct Notes {
    note: String,
}

async fn set_notes(
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
struct RequestBody {
    richiesta: String,
    #[serde(default)]
    evasa: bool,
}

async fn request(
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
struct Expiry {
    scadenza: String,
}

async fn set_expiry(
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

async fn list_documents(
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
struct UploadParams {
    tipo: String,
    #[serde(default)]
    nome: String,
}

async fn upload_document(
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

/// A document's bytes as a download.
pub fn pdf_response(name: &str, bytes: Vec<u8>) -> Response {
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"')
        .collect();
    (
        [
            (
                header::CONTENT_TYPE,
                crate::manage::pdf::MEDIA_TYPE.to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

async fn download_document(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Path((address, id)): Path<(String, u64)>,
) -> Response {
    match run(move || documents::download(&api.store, &actor, &address, id)).await {
        Ok((document, bytes)) => pdf_response(&document.filename, bytes),
        Err(response) => response,
    }
}

async fn summary(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(format): Query<Format>,
) -> Response {
    let csv = format.format.as_deref() == Some("csv");
    match run(move || reports::summary(&api.store, &actor, &api.settings.domain)).await {
        Err(response) => response,
        Ok(summary) if !csv => Json(summary).into_response(),
        Ok(summary) => match crate::manage::tables::entes(&summary) {
            Ok(table) => csv_response("riepilogo-enti.csv", table),
            Err(error) => refusal(error),
        },
    }
}

/// `?ente=` (gestore and aggregators) and `?format=csv`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    #[serde(default)]
    ente: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

async fn usage(
    State(api): State<ManageApi>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<UsageParams>,
) -> Response {
    let csv = params.format.as_deref() == Some("csv");
    match run(move || reports::usage(&api.store, &actor, params.ente.as_deref())).await {
        Err(response) => response,
        Ok(rows) if !csv => Json(rows).into_response(),
        Ok(rows) => match crate::manage::tables::usage(&rows) {
            Ok(table) => csv_response("utilizzo-caselle.csv", table),
            Err(error) => refusal(error),
        },
    }
}
