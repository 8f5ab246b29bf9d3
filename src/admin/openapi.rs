//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the JSON API, on the admin and
//! the web listeners alike. It is written by hand beside the routes it describes
//! (`openapi.json` in this folder); a test checks it with a real validator and that
//! every route the code declares is in it.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::response::Response;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Serves [`DOCUMENT`].
pub async fn document() -> Response {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}
