//! `/domini`: the managed domains (an LRA sees those it may use) and, for the gestore,
//! the form that adds one.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::manage::domains;
use crate::manage::domains::NewDomain;
use crate::web::Web;
use crate::web::forms;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    chrome: Chrome,
    domains: Vec<String>,
    gestore: bool,
    form: DomainFields,
    errors: FormErrors,
}

/// The new-domain form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct DomainFields {
    name: String,
    ente: String,
}

/// `GET /domini`.
pub async fn list(State(web): State<Web>, operator: Operator) -> Response {
    show(
        &web,
        &operator,
        DomainFields::default(),
        FormErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// `POST /domini`.
pub async fn add(
    State(web): State<Web>,
    operator: Operator,
    Form(fields): Form<DomainFields>,
) -> Response {
    let (actor, own) = (operator.actor.clone(), web.api.settings.domain.clone());
    let new = NewDomain {
        name: fields.name.clone(),
        ente: Some(fields.ente.clone()),
    };
    let now = jiff::Timestamp::now();
    let added = forms::run(&web.store, move |store| {
        domains::add(store, &actor, &own, &new, now)
    })
    .await;
    match added.map_err(forms::form_errors) {
        Ok(domain) => web.done(
            &operator,
            format!("Dominio {} aggiunto.", domain.name),
            "/domini",
        ),
        Err(Ok(errors)) => {
            show(
                &web,
                &operator,
                fields,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

async fn show(
    web: &Web,
    operator: &Operator,
    form: DomainFields,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    let (actor, own) = (operator.actor.clone(), web.api.settings.domain.clone());
    let found = forms::run(&web.store, move |store| {
        domains::usable(store, &actor, &own)
    })
    .await;
    match found {
        Ok(domains) => {
            let page = DomainsPage {
                chrome: Chrome::new("Domini", &operator.session, Section::Domains),
                domains,
                gestore: operator.actor.is_gestore(),
                form,
                errors,
            };
            page::render(status, &page)
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}
