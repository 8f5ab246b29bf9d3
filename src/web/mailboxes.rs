//! `/caselle`: the mailbox search (every filter of the management layer, results
//! downloadable as CSV) and the form that creates a mailbox for a holder, waiting for
//! the gestore's activation.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::manage::mailboxes;
use crate::manage::mailboxes::MailboxForm;
use crate::manage::mailboxes::MailboxQuery;
use crate::manage::mailboxes::MailboxRow;
use crate::manage::tables;
use crate::store::mailbox::MailboxType;
use crate::web::Web;
use crate::web::forms;
use crate::web::forms::Filters;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;

/// The states a search filters on, as the form offers them.
const STATES: [(&str, &str); 5] = [
    ("", "Tutti"),
    ("pending", "In attesa di attivazione"),
    ("active", "Attiva"),
    ("suspended", "Sospesa"),
    ("deleted", "Attivata ed eliminata"),
];

/// The pending requests a search filters on.
const REQUESTS: [(&str, &str); 3] = [
    ("", "Qualsiasi"),
    ("rinnovo", "Rinnovo"),
    ("cessazione", "Cessazione"),
];

#[derive(Template)]
#[template(path = "mailboxes.html")]
struct SearchPage {
    chrome: Chrome,
    query: MailboxQuery,
    query_string: String,
    ente: String,
    gestore: bool,
    states: Vec<(&'static str, &'static str)>,
    requests: Vec<(&'static str, &'static str)>,
    rows: Vec<MailboxRow>,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "mailbox_new.html")]
struct NewPage {
    chrome: Chrome,
    form: MailboxFields,
    ente: String,
    gestore: bool,
    types: Vec<(&'static str, &'static str)>,
    errors: FormErrors,
}

/// The new-mailbox form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct MailboxFields {
    address: String,
    codice_fiscale: String,
    nome: String,
    cognome: String,
    email: String,
    ente: String,
    tipo: String,
    scadenza: String,
    note: String,
}

impl MailboxFields {
    fn form(&self) -> MailboxForm {
        MailboxForm {
            address: self.address.clone(),
            codice_fiscale: self.codice_fiscale.clone(),
            nome: self.nome.clone(),
            cognome: self.cognome.clone(),
            email: self.email.clone(),
            ente: Some(self.ente.clone()),
            tipo: self.tipo.clone(),
            scadenza: self.scadenza.clone(),
            note: self.note.clone(),
        }
    }
}

/// `GET /caselle`.
pub async fn search(
    State(web): State<Web>,
    operator: Operator,
    Filters { query, raw }: Filters<MailboxQuery>,
) -> Response {
    let (actor, filters) = (operator.actor.clone(), query.clone());
    let found = forms::run(&web.store, move |store| {
        mailboxes::search(store, &actor, &filters)
    })
    .await;
    let (rows, errors) = match found.map_err(forms::form_errors) {
        Ok(rows) => (rows, FormErrors::none()),
        Err(Ok(errors)) => (Vec::new(), errors),
        Err(Err(error)) => return forms::refusal(&operator.session, error),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = SearchPage {
        chrome: Chrome::new("Caselle", &operator.session, Section::Mailboxes),
        ente: query.ente.clone().unwrap_or_default(),
        query,
        query_string: raw,
        gestore: operator.actor.is_gestore(),
        states: STATES.to_vec(),
        requests: REQUESTS.to_vec(),
        rows,
        errors,
    };
    page::render(status, &page)
}

/// `GET /caselle.csv`: the same search, as a CSV download.
pub async fn csv(
    State(web): State<Web>,
    operator: Operator,
    Filters { query, .. }: Filters<MailboxQuery>,
) -> Response {
    let actor = operator.actor.clone();
    forms::csv_download(&web, &operator, "caselle.csv", move |store| {
        tables::mailboxes(&mailboxes::search(store, &actor, &query)?)
    })
    .await
}

/// `GET /caselle/nuova`.
pub async fn new_form(operator: Operator) -> Response {
    let fields = MailboxFields {
        tipo: MailboxType::Standard.as_str().into(),
        ..MailboxFields::default()
    };
    new_page(&operator, fields, FormErrors::none(), StatusCode::OK)
}

/// `POST /caselle/nuova`.
pub async fn create(
    State(web): State<Web>,
    operator: Operator,
    Form(fields): Form<MailboxFields>,
) -> Response {
    let (actor, form) = (operator.actor.clone(), fields.form());
    let settings = web.api.settings.clone();
    let now = jiff::Timestamp::now();
    let created = forms::run(&web.store, move |store| {
        mailboxes::create(store, &actor, &settings, &form, now)
    })
    .await;
    match created.map_err(forms::form_errors) {
        Ok(row) => {
            let notice = format!(
                "Casella {} creata: attende l'attivazione del gestore.",
                row.address
            );
            let location = format!("/caselle/{}", page::path_segment(&row.address));
            web.done(&operator, notice, &location)
        }
        Err(Ok(errors)) => new_page(&operator, fields, errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

fn new_page(
    operator: &Operator,
    form: MailboxFields,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    let types = [
        MailboxType::Standard,
        MailboxType::MassivaBase,
        MailboxType::MassivaLarge,
    ];
    let page = NewPage {
        chrome: Chrome::new("Nuova casella", &operator.session, Section::Mailboxes),
        ente: form.ente.clone(),
        form,
        gestore: operator.actor.is_gestore(),
        types: types.iter().map(|t| (t.as_str(), t.as_str())).collect(),
        errors,
    };
    page::render(status, &page)
}
