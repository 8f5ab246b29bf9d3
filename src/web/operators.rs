//! `/operatori`: the gestore's list of operators, the form that adds one, and the
//! buttons that disable and enable them. Other roles get the not-found page.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::manage::operators;
use crate::manage::operators::NewOperator;
use crate::manage::operators::OperatorView;
use crate::web::Web;
use crate::web::forms;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;

/// The roles a new operator may have, as the form offers them.
const ROLES: [(&str, &str); 3] = [
    ("lra", "LRA (ente)"),
    ("aggregator", "Aggregatore"),
    ("gestore", "Gestore"),
];

#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsPage {
    chrome: Chrome,
    operators: Vec<OperatorView>,
    roles: Vec<(&'static str, &'static str)>,
    form: OperatorFields,
    errors: FormErrors,
}

/// The new-operator form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OperatorFields {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    ente: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    email: String,
}

impl OperatorFields {
    fn new_operator(&self) -> NewOperator {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        NewOperator {
            username: self.username.clone(),
            role: self.role.clone(),
            ente: text(&self.ente),
            domains: self
                .domains
                .split(',')
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect(),
            email: text(&self.email),
            password: self.password.clone(),
        }
    }
}

/// `GET /operatori`.
pub async fn list(State(web): State<Web>, operator: Operator) -> Response {
    let fields = OperatorFields {
        role: "lra".into(),
        ..OperatorFields::default()
    };
    show(&web, &operator, fields, FormErrors::none(), StatusCode::OK).await
}

/// `POST /operatori`.
pub async fn add(
    State(web): State<Web>,
    operator: Operator,
    Form(fields): Form<OperatorFields>,
) -> Response {
    if !operator.actor.is_gestore() {
        return page::not_found(&operator.session);
    }
    let (actor, new) = (operator.actor.clone(), fields.new_operator());
    let own = web.api.settings.domain.clone();
    let now = jiff::Timestamp::now();
    let result = forms::run(&web.store, move |store| {
        operators::add(store, &actor, &own, &new, now)
    })
    .await;
    match result {
        Ok(added) => web.done(
            &operator,
            format!("Operatore {} aggiunto.", added.username),
            "/operatori",
        ),
        Err(error) => match forms::form_errors(error) {
            Ok(errors) => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                show(&web, &operator, fields, errors, status).await
            }
            Err(error) => forms::refusal(&operator.session, error),
        },
    }
}

/// `POST /operatori/{username}/disattiva` and `…/riattiva`.
pub async fn set_disabled(
    State(web): State<Web>,
    operator: Operator,
    Path((username, action)): Path<(String, String)>,
) -> Response {
    let disabled = match action.as_str() {
        "disattiva" => true,
        "riattiva" => false,
        _ => return page::not_found(&operator.session),
    };
    let actor = operator.actor.clone();
    let result = forms::run(&web.store, move |store| {
        operators::set_disabled(store, &actor, &username, disabled)
    })
    .await;
    match result {
        Ok(changed) => {
            let state = if changed.disabled {
                "disattivato"
            } else {
                "riattivato"
            };
            let notice = format!("Operatore {} {state}.", changed.username);
            web.done(&operator, notice, "/operatori")
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}

async fn show(
    web: &Web,
    operator: &Operator,
    form: OperatorFields,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    if !operator.actor.is_gestore() {
        return page::not_found(&operator.session);
    }
    let actor = operator.actor.clone();
    let listed = forms::run(&web.store, move |store| operators::list(store, &actor)).await;
    match listed {
        Ok(operators) => {
            let page = OperatorsPage {
                chrome: Chrome::new("Operatori", &operator.session, Section::Operators),
                operators,
                roles: ROLES.to_vec(),
                form,
                errors,
            };
            page::render(status, &page)
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}
