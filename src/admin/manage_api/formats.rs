//! The shapes a list or a document takes on the wire besides JSON: `?format=csv`
//! downloads, query strings decoded into the rules' query types, PDF downloads.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ManageApi;
use super::refusal;
use super::run;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::csv::Table;
use crate::store::Store;

/// `?format=csv` asks for a list as CSV.
#[derive(Deserialize, Default)]
pub(super) struct Format {
    #[serde(default)]
    pub format: Option<String>,
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

pub(super) fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> serde_json::Value {
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

/// A search whose query is the query string, answered as JSON or, with
/// `?format=csv`, as the CSV download `name` with the rows `table` makes.
pub(super) async fn search_response<Q, T>(
    api: ManageApi,
    actor: Actor,
    pairs: Vec<(String, String)>,
    name: &str,
    search: fn(&Store, &Actor, &Q) -> Result<Vec<T>, ManageError>,
    table: fn(&[T]) -> Result<Table, ManageError>,
) -> Response
where
    Q: DeserializeOwned + 'static,
    T: Serialize + Send + 'static,
{
    let csv = wants_csv(&pairs);
    let found = run(move || {
        let query: Q = decode_query(without_format(pairs))?;
        search(&api.store, &actor, &query)
    })
    .await;
    list_response(found, csv, name, |found| table(found))
}

/// A list found (or the refusal met looking for it), as JSON or, when `csv`, as the
/// CSV download `name` with the rows `table` makes.
pub(super) fn list_response<T: Serialize>(
    found: Result<T, Response>,
    csv: bool,
    name: &str,
    table: impl FnOnce(&T) -> Result<Table, ManageError>,
) -> Response {
    match (found, csv) {
        (Err(response), _) => response,
        (Ok(found), false) => Json(found).into_response(),
        (Ok(found), true) => match table(&found) {
            Ok(table) => csv_response(name, table),
            Err(error) => refusal(error),
        },
    }
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
