//! The one place where the management layer's answers become what a page shows: its
//! work runs off the async threads ([`run`]), a refused field becomes a message next
//! to that field ([`form_errors`]), and everything else a page of its own ([`refusal`]):
//! not found (also for what is outside the operator's reach), reserved to the gestore,
//! or an internal error whose details go only to the log.

use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::admin::manage_api::csv_response;
use crate::manage::ManageError;
use crate::manage::csv::Table;
use crate::manage::holders::HolderQuery;
use crate::manage::mailboxes::MailboxQuery;
use crate::store::Store;
use crate::web::Web;
use crate::web::guard::Operator;
use crate::web::guard::Visitor;
use crate::web::page;
use crate::web::page::FormErrors;
use crate::web::session::Session;

/// Runs management work on the blocking pool.
pub async fn run<T: Send + 'static>(
    store: &Store,
    work: impl FnOnce(&Store) -> Result<T, ManageError> + Send + 'static,
) -> Result<T, ManageError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || work(&store)).await {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(%error, "web: management task failed");
            Err(ManageError::Store(crate::store::StoreError::Internal(
                "the management task failed",
            )))
        }
    }
}

/// The messages a refused form shows next to its fields, or the error itself when it
/// is not about the form's content.
pub fn form_errors(error: ManageError) -> Result<FormErrors, ManageError> {
    match error {
        ManageError::Invalid { field, message } => {
            Ok(FormErrors::field(field_name(&field), message))
        }
        ManageError::Exists(what) => Ok(FormErrors::general(format!("Esiste già: {what}."))),
        other => Err(other),
    }
}

/// The form field a management field name is shown at: the panel's forms edit one
/// address and one company, named without their list position.
fn field_name(field: &str) -> &str {
    ["indirizzi[0].", "attivita[0]."]
        .iter()
        .find_map(|prefix| field.strip_prefix(prefix))
        .unwrap_or(field)
}

/// The page for an error that is not about a form's content.
pub fn refusal(session: &Session, error: ManageError) -> Response {
    match error {
        ManageError::NotFound(_) => page::not_found(session),
        ManageError::GestoreOnly => page::message(
            StatusCode::FORBIDDEN,
            session,
            "Operazione non consentita",
            "Questa operazione è riservata al gestore.",
        ),
        ManageError::Invalid { message, .. } => page::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            session,
            "Operazione non possibile",
            &message,
        ),
        ManageError::Exists(what) => page::message(
            StatusCode::CONFLICT,
            session,
            "Operazione non possibile",
            &format!("Esiste già: {what}."),
        ),
        ManageError::Store(error) => page::internal_error(session, &error),
    }
}

/// A search's filters from the query string, and the query string itself (for the
/// link to the same search as CSV). Unknown filters answer "not found".
pub struct Filters<Q> {
    /// The filters.
    pub query: Q,
    /// The query string as sent.
    pub raw: String,
}

/// A search with an `ente` filter, which the gestore may leave empty: every ente.
pub trait EnteFilter {
    /// The filter.
    fn ente(&mut self) -> &mut Option<String>;
}

impl EnteFilter for MailboxQuery {
    fn ente(&mut self) -> &mut Option<String> {
        &mut self.ente
    }
}

impl EnteFilter for HolderQuery {
    fn ente(&mut self) -> &mut Option<String> {
        &mut self.ente
    }
}

impl<S, Q> FromRequestParts<S> for Filters<Q>
where
    S: Send + Sync,
    Q: DeserializeOwned + EnteFilter + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Filters<Q>, Response> {
        let raw = parts.uri.query().unwrap_or_default().to_string();
        match Query::<Q>::try_from_uri(&parts.uri) {
            Ok(Query(mut query)) => {
                let ente = query.ente();
                *ente = ente.take().filter(|e| !e.trim().is_empty());
                Ok(Filters { query, raw })
            }
            Err(_) => {
                let visitor = parts.extensions.get::<Visitor>();
                let session = visitor
                    .and_then(|v| v.0.as_ref())
                    .map(|c| c.session.clone());
                Err(page::not_found(&session.unwrap_or_else(Session::none)))
            }
        }
    }
}

/// A table the management layer builds, downloaded as the CSV file `name`.
pub async fn csv_download(
    web: &Web,
    operator: &Operator,
    name: &str,
    work: impl FnOnce(&Store) -> Result<Table, ManageError> + Send + 'static,
) -> Response {
    match run(&web.store, work).await {
        Ok(table) => csv_response(name, table),
        Err(error) => refusal(&operator.session, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_error_is_shown_at_its_field_and_list_positions_are_dropped() {
        let errors = form_errors(ManageError::invalid("indirizzi[0].cap", "CAP errato")).unwrap();
        assert_eq!(errors.of("cap"), Some("CAP errato"));
        let errors = form_errors(ManageError::invalid("nome", "Nome mancante")).unwrap();
        assert_eq!(errors.of("nome"), Some("Nome mancante"));
        let errors = form_errors(ManageError::Exists("a@b.it".into())).unwrap();
        assert_eq!(errors.general_message(), Some("Esiste già: a@b.it."));
        assert!(form_errors(ManageError::NotFound("x".into())).is_err());
    }
}
