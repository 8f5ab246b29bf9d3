//! The admin HTTP API (port N+5): mailboxes and the event log for postmasters,
//! JSON over HTTP on the loopback, every request authenticated with the bearer token of
//! `[admin] token`. It goes through `provider::mailboxes` and the store, never around
//! them.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/health` | `{"status":"ok"}` |
//! | `GET /v1/mailboxes` | every mailbox |
//! | `POST /v1/mailboxes` | create: `{"address", "password", "receipt"?, "conservation"?, "quota_bytes"?}` |
//! | `GET /v1/mailboxes/{address}` | one mailbox |
//! | `PATCH /v1/mailboxes/{address}` | change: `{"password"?, "receipt"?, "conservation"?, "quota_bytes"?, "state"?}` |
//! | `DELETE /v1/mailboxes/{address}` | delete |
//! | `GET /v1/log?msgid=&mailbox=&since=&until=` | event-log records |
//! | `GET /v1/log/verify` | the hash chain check |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document of every path, these and the management plane's ([`manage_api`]) |
//! | `GET /metrics` | Prometheus text format ([`scrape`]); no bearer token when `[metrics] public = true` |
//! | `GET /v1/exports/{token}` | the revocation export the token names, for 30 days; no bearer token: the 128-bit link token is the credential (`pecd conservation revoke`) |

pub mod listener;
pub mod manage_api;
pub mod openapi;
pub mod scrape;

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::admin::listener::Admitted;
use crate::admin::manage_api::ManageApi;
use crate::manage::Actor;
use crate::net::http;
use crate::provider::mailboxes;
use crate::provider::mailboxes::AdminError;
use crate::provider::mailboxes::MailboxChanges;
use crate::store::Store;
use crate::store::log::LogQuery;
use crate::store::mailbox::Mailbox;

#[derive(Clone)]
struct Api {
    store: Store,
    domain: String,
    token: String,
}

/// Serves the API on `listener` until shutdown.
pub async fn serve(
    listener: Admitted,
    store: Store,
    manage: ManageApi,
    token: String,
    scrape: scrape::Scrape,
    shutdown: CancellationToken,
) {
    let domain = manage.settings.domain.clone();
    let api = Api {
        store,
        domain,
        token,
    };
    // The user's download link carries its own secret; everything else needs the
    // postmaster's bearer token.
    let public = Router::new()
        .route("/v1/exports/{token}", get(download))
        .with_state(api.clone());
    let public_metrics = scrape.public;
    let metrics = scrape::routes(scrape);
    let (public, private) = if public_metrics {
        (public.merge(metrics), Router::new())
    } else {
        (public, metrics)
    };
    let router = Router::new()
        .route(
            "/v1/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/v1/mailboxes", get(list).post(create))
        .route(
            "/v1/mailboxes/{address}",
            get(show).patch(change).delete(remove),
        )
        .route("/v1/log", get(log))
        .route("/v1/log/verify", get(verify))
        .with_state(api.clone())
        .merge(manage_api::routes().with_state(manage))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(private)
        // Bodies are read only once the bearer token is checked.
        .layer(axum::middleware::from_fn_with_state(
            (crate::web::MAX_REQUEST_BYTES, http::Deadlines::DEFAULT.body),
            http::buffered_body,
        ))
        // The bearer token is the provider's own: it acts as the gestore.
        .layer(axum::Extension(Actor::gestore(crate::manage::API)))
        .layer(axum::middleware::from_fn_with_state(api, authenticate))
        .merge(public);
    let address: Option<SocketAddr> = axum::serve::Listener::local_addr(&listener).ok();
    tracing::info!(?address, "admin API listening");
    http::serve(
        listener,
        router,
        |peer| peer,
        http::Deadlines::DEFAULT,
        shutdown,
    )
    .await;
}

/// Bearer-token check, in constant time.
async fn authenticate(State(api): State<Api>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ok = given.len() == api.token.len()
        && openssl::memcmp::eq(given.as_bytes(), api.token.as_bytes());
    if ok {
        next.run(request).await
    } else {
        failure(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
    }
}

/// A revocation export, while its link is valid: streamed from its file, so a large
/// export (or many downloads of it at once) takes no more memory than a buffer each.
async fn download(State(api): State<Api>, Path(token): Path<String>) -> Response {
    let store = api.store.clone();
    let now = jiff::Timestamp::now();
    let found = tokio::task::spawn_blocking(move || {
        let record: Option<crate::conservation::export::Revocation> = store
            .read(|tx| tx.conservation().revocation(&token))
            .ok()
            .flatten();
        record.filter(|r| r.expires > now)
    })
    .await
    .ok()
    .flatten();
    let Some(record) = found else {
        return failure(StatusCode::NOT_FOUND, "no such export, or its link expired");
    };
    let file = match tokio::fs::File::open(&record.file).await {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, file = %record.file.display(), "export not readable");
            return failure(StatusCode::NOT_FOUND, "no such export, or its link expired");
        }
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    let name = format!("conservazione-{}.zip", record.mailbox.replace('@', "_at_"));
    let mut response =
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/zip"),
    );
    if let Ok(value) = format!("attachment; filename=\"{name}\"").parse() {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    if let Some(length) = length {
        headers.insert(axum::http::header::CONTENT_LENGTH, length.into());
    }
    response
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The one place store and rule errors become HTTP statuses.
fn error_response(error: AdminError) -> Response {
    let status = match &error {
        AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Exists(_) => StatusCode::CONFLICT,
        AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%error, "admin API");
        return failure(status, "internal error");
    }
    failure(status, &error.to_string())
}

fn mailbox_json(m: &Mailbox) -> Value {
    json!({
        "address": m.address,
        "state": m.state,
        "quota_bytes": m.quota_bytes,
        "used_bytes": m.used_bytes,
        "receipt": m.receipt_type,
        "conservation": m.conservation,
        "created": m.created.to_string(),
    })
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error_response(error)),
        Err(_) => Err(failure(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

async fn list(State(api): State<Api>) -> Response {
    match blocking(move || Ok(api.store.read(|tx| tx.mailboxes().list())?)).await {
        Ok(all) => Json(Value::Array(all.iter().map(mailbox_json).collect())).into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMailbox {
    address: String,
    #[serde(flatten)]
    changes: MailboxChanges,
}

async fn create(
    State(api): State<Api>,
    body: Result<Json<NewMailbox>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return failure(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    match blocking(move || {
        mailboxes::create(
            &api.store,
            &api.domain,
            &new.address,
            &new.changes,
            crate::manage::API,
        )
    })
    .await
    {
        Ok(mailbox) => (StatusCode::CREATED, Json(mailbox_json(&mailbox))).into_response(),
        Err(response) => response,
    }
}

async fn show(State(api): State<Api>, Path(address): Path<String>) -> Response {
    let lookup = address.clone();
    match blocking(move || Ok(api.store.read(|tx| tx.mailboxes().get(&lookup))?)).await {
        Ok(Some(mailbox)) => Json(mailbox_json(&mailbox)).into_response(),
        Ok(None) => error_response(AdminError::NotFound(address)),
        Err(response) => response,
    }
}

async fn change(
    State(api): State<Api>,
    Path(address): Path<String>,
    body: Result<Json<MailboxChanges>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(changes) = match body {
        Ok(body) => body,
        Err(rejection) => return failure(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    match blocking(move || mailboxes::update(&api.store, &address, &changes)).await {
        Ok(mailbox) => Json(mailbox_json(&mailbox)).into_response(),
        Err(response) => response,
    }
}

async fn remove(State(api): State<Api>, Path(address): Path<String>) -> Response {
    match blocking(move || mailboxes::delete(&api.store, &address)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    msgid: Option<String>,
    mailbox: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

async fn log(State(api): State<Api>, Query(params): Query<LogParams>) -> Response {
    let time = |text: Option<String>| -> Result<Option<jiff::Timestamp>, AdminError> {
        text.map(|t| LogQuery::parse_time(&t).map_err(AdminError::Invalid))
            .transpose()
    };
    let query = match (time(params.since), time(params.until)) {
        (Ok(since), Ok(until)) => LogQuery {
            msgid: params.msgid,
            mailbox: params.mailbox,
            since,
            until,
        },
        (Err(error), _) | (_, Err(error)) => return error_response(error),
    };
    match blocking(move || Ok(api.store.read(|tx| tx.events().query(&query))?)).await {
        Ok(records) => Json(json!(records)).into_response(),
        Err(response) => response,
    }
}

async fn verify(State(api): State<Api>) -> Response {
    match blocking(move || Ok(api.store.read(|tx| tx.events().verify_chain())?)).await {
        Ok(Ok(count)) => Json(json!({ "intact": true, "records": count })).into_response(),
        Ok(Err(broken)) => {
            Json(json!({ "intact": false, "seq": broken.seq, "reason": broken.reason }))
                .into_response()
        }
        Err(response) => response,
    }
}
