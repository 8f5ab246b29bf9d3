//! The summary (`/`, the home page) and the reports (`/report`): counts per state, type
//! and operator, one line per ente, usage per mailbox, each table also as CSV. What an
//! operator sees is decided by [`crate::manage::reports`]: an LRA its ente, the gestore
//! and aggregators every ente.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::manage::reports;
use crate::manage::reports::Summary;
use crate::manage::reports::UsageRow;
use crate::manage::tables;
use crate::web::Web;
use crate::web::forms;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::Section;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    summary: Summary,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    usage: Vec<UsageRow>,
}

/// `GET /`.
pub async fn home(State(web): State<Web>, operator: Operator) -> Response {
    let (actor, own) = (operator.actor.clone(), web.api.settings.domain.clone());
    let found = forms::run(&web.store, move |store| {
        reports::summary(store, &actor, &own)
    })
    .await;
    match found {
        Ok(summary) => {
            let chrome = Chrome::new("Riepilogo", &operator.session, Section::Home);
            page::render(StatusCode::OK, &HomePage { chrome, summary })
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}

/// `GET /report`.
pub async fn usage(State(web): State<Web>, operator: Operator) -> Response {
    let actor = operator.actor.clone();
    let found = forms::run(&web.store, move |store| reports::usage(store, &actor, None)).await;
    match found {
        Ok(usage) => {
            let chrome = Chrome::new("Report", &operator.session, Section::Reports);
            page::render(StatusCode::OK, &ReportsPage { chrome, usage })
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}

/// `GET /report/enti.csv`.
pub async fn entes_csv(State(web): State<Web>, operator: Operator) -> Response {
    let (actor, own) = (operator.actor.clone(), web.api.settings.domain.clone());
    forms::csv_download(&web, &operator, "enti.csv", move |store| {
        tables::entes(&reports::summary(store, &actor, &own)?)
    })
    .await
}

/// `GET /report/utilizzo.csv`.
pub async fn usage_csv(State(web): State<Web>, operator: Operator) -> Response {
    let actor = operator.actor.clone();
    forms::csv_download(&web, &operator, "utilizzo.csv", move |store| {
        tables::usage(&reports::usage(store, &actor, None)?)
    })
    .await
}
