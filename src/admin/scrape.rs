//! `GET /metrics`: the daemon's metrics in the Prometheus text format, read and encoded
//! off the async threads (the scrape reads the queues from the store). Behind the
//! admin bearer token unless `[metrics] public = true`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::admin::listener::Admitted;
use crate::metrics::Metrics;
use crate::metrics::scrape;
use crate::store::Store;

/// What a scrape reads: the registry and the store behind the scrape-time gauges.
#[derive(Clone)]
pub struct Scrape {
    /// The registry.
    pub metrics: Metrics,
    /// The store.
    pub store: Store,
    /// `[metrics] public`: no bearer token needed.
    pub public: bool,
}

/// The `/metrics` route.
pub fn routes(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(scrape)
}

/// Serves `/metrics` alone (no `[admin] token`, `[metrics] public = true`).
pub async fn serve_alone(listener: Admitted, scrape: Scrape, shutdown: CancellationToken) {
    tracing::info!("metrics listening without the admin API (no [admin] token)");
    let deadlines = crate::net::http::Deadlines::DEFAULT;
    crate::net::http::serve(listener, routes(scrape), |peer| peer, deadlines, shutdown).await;
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    let backlog_age = if scrape.public {
        scrape::PUBLIC_BACKLOG_AGE
    } else {
        std::time::Duration::ZERO
    };
    let encoded = tokio::task::spawn_blocking(move || {
        scrape::encode(
            &scrape.metrics,
            &scrape.store,
            jiff::Timestamp::now(),
            backlog_age,
        )
    })
    .await;
    match encoded {
        Ok(text) => ([(CONTENT_TYPE, scrape::CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
}
