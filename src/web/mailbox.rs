//! `/caselle/{address}`: one mailbox with its history, notes and documents, and the
//! actions its state and the operator's role allow. Each action is a small form whose
//! POST changes one thing and comes back here; a refused field is shown next to it.
//! A mailbox outside the operator's reach is not found, whatever the URL.

use askama::Template;
use axum::Form;
use axum::extract::Multipart;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::admin::manage_api::pdf_response;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::documents;
use crate::manage::mailboxes;
use crate::manage::mailboxes::MailboxDetail;
use crate::manage::mailboxes::MailboxForm;
use crate::store::Store;
use crate::store::mailbox::MailboxState;
use crate::store::management::DocumentKind;
use crate::web::Web;
use crate::web::forms;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;

#[derive(Template)]
#[template(path = "mailbox.html")]
struct DetailPage {
    chrome: Chrome,
    d: MailboxDetail,
    segment: String,
    actions: Vec<(&'static str, &'static str)>,
    requests: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    errors: FormErrors,
}

/// The fields of every action form (each sends only its own).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionFields {
    note: String,
    richiesta: String,
    codice_fiscale: String,
    nome: String,
    cognome: String,
    email: String,
}

/// The state changes offered for a mailbox in `state` to `actor`: (path, label).
fn actions(state: MailboxState, actor: &Actor) -> Vec<(&'static str, &'static str)> {
    let gestore = actor.is_gestore();
    let offered: &[(&str, &str, bool)] = match state {
        MailboxState::Pending => &[("attiva", "Attiva", true), ("cessa", "Cessa", true)],
        MailboxState::Active => &[
            ("sospendi", "Sospendi", false),
            ("nuova-password", "Invia nuova password", false),
            ("cessa", "Cessa", true),
        ],
        MailboxState::Suspended => &[("riattiva", "Riattiva", true), ("cessa", "Cessa", true)],
        MailboxState::Deleted => &[],
    };
    offered
        .iter()
        .filter(|(_, _, gestore_only)| gestore || !gestore_only)
        .map(|(path, label, _)| (*path, *label))
        .collect()
}

/// `GET /caselle/{address}`.
pub async fn show(
    State(web): State<Web>,
    operator: Operator,
    Path(address): Path<String>,
) -> Response {
    detail(&web, &operator, address, FormErrors::none(), StatusCode::OK).await
}

/// `POST /caselle/{address}/{action}`.
pub async fn act(
    State(web): State<Web>,
    operator: Operator,
    Path((address, action)): Path<(String, String)>,
    Form(fields): Form<ActionFields>,
) -> Response {
    let actor = operator.actor.clone();
    let api = web.api.clone();
    let target = address.clone();
    let now = jiff::Timestamp::now();
    let done = forms::run(&web.store, move |store| {
        let hook = api.on_activation.clone();
        let a = (store, &actor, target.as_str());
        match action.as_str() {
            "attiva" => mailboxes::activate(a.0, a.1, a.2, now, &*hook)
                .map(|_| "Casella attivata: il titolare riceverà il link per la password."),
            "sospendi" => mailboxes::suspend(a.0, a.1, a.2, now).map(|_| "Casella sospesa."),
            "riattiva" => mailboxes::reactivate(a.0, a.1, a.2, now).map(|_| "Casella riattivata."),
            "cessa" => mailboxes::cease(a.0, a.1, a.2, now).map(|_| "Casella cessata."),
            "nuova-password" => mailboxes::new_password(a.0, a.1, a.2, now, &*hook)
                .map(|()| "Link per la nuova password inviato."),
            "note" => {
                mailboxes::set_notes(a.0, a.1, a.2, &fields.note, now).map(|_| "Note salvate.")
            }
            "richiesta" => mailboxes::request(a.0, a.1, a.2, &fields.richiesta, false, now)
                .map(|_| "Richiesta registrata."),
            "subentro" => subentro(a.0, a.1, a.2, &fields, now),
            _ => Err(ManageError::NotFound(action)),
        }
    })
    .await;
    answer(&web, &operator, address, done).await
}

fn subentro(
    store: &Store,
    actor: &Actor,
    address: &str,
    fields: &ActionFields,
    now: jiff::Timestamp,
) -> Result<&'static str, ManageError> {
    let form = MailboxForm {
        codice_fiscale: fields.codice_fiscale.clone(),
        nome: fields.nome.clone(),
        cognome: fields.cognome.clone(),
        email: fields.email.clone(),
        ..MailboxForm::default()
    };
    mailboxes::change_holder(store, actor, address, &form, now).map(|_| {
        "Titolare cambiato: le credenziali del titolare precedente non valgono più. \
         Invii al nuovo titolare una nuova password."
    })
}

/// `POST /caselle/{address}/documenti`: a PDF upload (multipart, the only way a
/// browser sends a file without scripts).
pub async fn upload(
    State(web): State<Web>,
    operator: Operator,
    Path(address): Path<String>,
    form: Multipart,
) -> Response {
    let upload = match read_upload(form).await {
        Ok(upload) => upload,
        Err(errors) => {
            return detail(
                &web,
                &operator,
                address,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (actor, target) = (operator.actor.clone(), address.clone());
    let now = jiff::Timestamp::now();
    let done = forms::run(&web.store, move |store| {
        let Upload {
            kind,
            filename,
            bytes,
        } = upload;
        documents::upload(store, &actor, &target, &kind, &filename, &bytes, now)
            .map(|_| "Documento caricato.")
    })
    .await;
    answer(&web, &operator, address, done).await
}

/// An uploaded document as the form sent it.
struct Upload {
    kind: String,
    filename: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut form: Multipart) -> Result<Upload, FormErrors> {
    let unreadable = || FormErrors::field("file", "Il file non è stato ricevuto: riprovare.");
    let mut upload = Upload {
        kind: String::new(),
        filename: String::new(),
        bytes: Vec::new(),
    };
    while let Some(field) = form.next_field().await.map_err(|_| unreadable())? {
        match field.name() {
            Some("tipo") => upload.kind = field.text().await.map_err(|_| unreadable())?,
            Some("file") => {
                upload.filename = field.file_name().unwrap_or_default().to_string();
                upload.bytes = field.bytes().await.map_err(|_| unreadable())?.to_vec();
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// `GET /caselle/{address}/documenti/{id}`.
pub async fn download(
    State(web): State<Web>,
    operator: Operator,
    Path((address, id)): Path<(String, u64)>,
) -> Response {
    let actor = operator.actor.clone();
    let found = forms::run(&web.store, move |store| {
        documents::download(store, &actor, &address, id)
    })
    .await;
    match found {
        Ok((document, bytes)) => pdf_response(&document.filename, bytes),
        Err(error) => forms::refusal(&operator.session, error),
    }
}

/// After an action: back to the mailbox with a notice, or the page with the messages.
async fn answer(
    web: &Web,
    operator: &Operator,
    address: String,
    done: Result<&'static str, ManageError>,
) -> Response {
    match done.map_err(forms::form_errors) {
        Ok(notice) => {
            let location = format!("/caselle/{}", page::path_segment(&address));
            web.done(operator, notice.to_string(), &location)
        }
        Err(Ok(errors)) => {
            detail(
                web,
                operator,
                address,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

async fn detail(
    web: &Web,
    operator: &Operator,
    address: String,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    let actor = operator.actor.clone();
    let found = forms::run(&web.store, move |store| {
        mailboxes::get(store, &actor, &address)
    })
    .await;
    let d = match found {
        Ok(d) => d,
        Err(error) => return forms::refusal(&operator.session, error),
    };
    let page = DetailPage {
        chrome: Chrome::new(d.row.address.clone(), &operator.session, Section::Mailboxes),
        segment: page::path_segment(&d.row.address),
        actions: actions(d.row.state, &operator.actor),
        requests: vec![("rinnovo", "Rinnovo"), ("cessazione", "Cessazione")],
        kinds: DocumentKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        d,
        errors,
    };
    page::render(status, &page)
}
