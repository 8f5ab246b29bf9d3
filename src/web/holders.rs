//! `/titolari`: holder search (every field of the management layer's search, results
//! as CSV), and the form that creates or edits a holder with one address and one
//! company, each field checked by [`crate::manage::holders`].

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::manage::holders;
use crate::manage::holders::HolderForm;
use crate::manage::holders::HolderQuery;
use crate::manage::tables;
use crate::store::management::Company;
use crate::store::management::Holder;
use crate::store::management::PostalAddress;
use crate::web::Web;
use crate::web::forms;
use crate::web::forms::Filters;
use crate::web::guard::Operator;
use crate::web::page;
use crate::web::page::Chrome;
use crate::web::page::FormErrors;
use crate::web::page::Section;

#[derive(Template)]
#[template(path = "holders.html")]
struct SearchPage {
    chrome: Chrome,
    query: HolderQuery,
    query_string: String,
    ente: String,
    gestore: bool,
    holders: Vec<Holder>,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "holder_form.html")]
struct FormPage {
    chrome: Chrome,
    action: String,
    editing: bool,
    gestore: bool,
    form: HolderFields,
    errors: FormErrors,
}

/// The holder form as typed: the holder, one address, one company.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct HolderFields {
    codice_fiscale: String,
    nome: String,
    cognome: String,
    ente: String,
    via: String,
    localita: String,
    provincia: String,
    cap: String,
    telefono: String,
    fax: String,
    email: String,
    cellulare: String,
    ragione_sociale: String,
    forma_giuridica: String,
    partita_iva: String,
    rea: String,
    codice_destinatario: String,
    pec_fatturazione: String,
    referente: String,
}

impl HolderFields {
    fn form(&self) -> HolderForm {
        let f = self.clone();
        let address = PostalAddress {
            via: f.via,
            localita: f.localita,
            provincia: f.provincia,
            cap: f.cap,
            telefono: f.telefono,
            fax: f.fax,
            email: f.email,
            cellulare: f.cellulare,
        };
        let company = Company {
            ragione_sociale: f.ragione_sociale,
            forma_giuridica: f.forma_giuridica,
            partita_iva: f.partita_iva,
            rea: f.rea,
            codice_destinatario: f.codice_destinatario,
            pec_fatturazione: f.pec_fatturazione,
            referente: f.referente,
        };
        HolderForm {
            codice_fiscale: f.codice_fiscale,
            nome: f.nome,
            cognome: f.cognome,
            ente: Some(f.ente),
            indirizzi: Some(address)
                .filter(|a| *a != PostalAddress::default())
                .into_iter()
                .collect(),
            attivita: Some(company)
                .filter(|c| *c != Company::default())
                .into_iter()
                .collect(),
        }
    }

    fn of(holder: &Holder) -> HolderFields {
        let a = holder.indirizzi.first().cloned().unwrap_or_default();
        let c = holder.attivita.first().cloned().unwrap_or_default();
        HolderFields {
            codice_fiscale: holder.codice_fiscale.clone(),
            nome: holder.nome.clone(),
            cognome: holder.cognome.clone(),
            ente: holder.ente.clone(),
            via: a.via,
            localita: a.localita,
            provincia: a.provincia,
            cap: a.cap,
            telefono: a.telefono,
            fax: a.fax,
            email: a.email,
            cellulare: a.cellulare,
            ragione_sociale: c.ragione_sociale,
            forma_giuridica: c.forma_giuridica,
            partita_iva: c.partita_iva,
            rea: c.rea,
            codice_destinatario: c.codice_destinatario,
            pec_fatturazione: c.pec_fatturazione,
            referente: c.referente,
        }
    }
}

/// Which holder a page edits.
#[derive(Deserialize)]
pub struct HolderKey {
    #[serde(default)]
    ente: String,
    cf: String,
}

impl HolderKey {
    fn action(&self) -> String {
        format!(
            "/titolari/scheda?ente={}&cf={}",
            page::path_segment(&self.ente),
            page::path_segment(&self.cf)
        )
    }
}

/// `GET /titolari`.
pub async fn search(
    State(web): State<Web>,
    operator: Operator,
    Filters { query, raw }: Filters<HolderQuery>,
) -> Response {
    let (actor, filters) = (operator.actor.clone(), query.clone());
    let found = forms::run(&web.store, move |store| {
        holders::search(store, &actor, &filters)
    })
    .await;
    match found {
        Ok(holders) => {
            let page = SearchPage {
                chrome: Chrome::new("Titolari", &operator.session, Section::Holders),
                ente: query.ente.clone().unwrap_or_default(),
                query,
                query_string: raw,
                gestore: operator.actor.is_gestore(),
                holders,
                errors: FormErrors::none(),
            };
            page::render(StatusCode::OK, &page)
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}

/// `GET /titolari.csv`.
pub async fn csv(
    State(web): State<Web>,
    operator: Operator,
    Filters { query, .. }: Filters<HolderQuery>,
) -> Response {
    let actor = operator.actor.clone();
    forms::csv_download(&web, &operator, "titolari.csv", move |store| {
        tables::holders(&holders::search(store, &actor, &query)?)
    })
    .await
}

/// `GET /titolari/nuovo`.
pub async fn new_form(operator: Operator) -> Response {
    let page = form_page(&operator, None, HolderFields::default(), FormErrors::none());
    page::render(StatusCode::OK, &page)
}

/// `POST /titolari/nuovo`.
pub async fn create(
    State(web): State<Web>,
    operator: Operator,
    Form(fields): Form<HolderFields>,
) -> Response {
    let (actor, form) = (operator.actor.clone(), fields.form());
    let now = jiff::Timestamp::now();
    let created = forms::run(&web.store, move |store| {
        holders::create(store, &actor, &form, now)
    })
    .await;
    match created.map_err(forms::form_errors) {
        Ok(holder) => {
            let key = HolderKey {
                ente: holder.ente,
                cf: holder.codice_fiscale,
            };
            web.done(&operator, "Titolare creato.".into(), &key.action())
        }
        Err(Ok(errors)) => {
            let page = form_page(&operator, None, fields, errors);
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

/// `GET /titolari/scheda?ente=…&cf=…`.
pub async fn edit_form(
    State(web): State<Web>,
    operator: Operator,
    Query(key): Query<HolderKey>,
) -> Response {
    let actor = operator.actor.clone();
    let (ente, cf) = (key.ente.clone(), key.cf.clone());
    let found = forms::run(&web.store, move |store| {
        holders::get(store, &actor, &ente, &cf)
    })
    .await;
    match found {
        Ok(holder) => {
            let fields = HolderFields::of(&holder);
            let page = form_page(&operator, Some(&key), fields, FormErrors::none());
            page::render(StatusCode::OK, &page)
        }
        Err(error) => forms::refusal(&operator.session, error),
    }
}

/// `POST /titolari/scheda?ente=…&cf=…`.
pub async fn update(
    State(web): State<Web>,
    operator: Operator,
    Query(key): Query<HolderKey>,
    Form(mut fields): Form<HolderFields>,
) -> Response {
    fields.codice_fiscale = key.cf.clone();
    let (actor, form) = (operator.actor.clone(), fields.form());
    let (ente, cf) = (key.ente.clone(), key.cf.clone());
    let updated = forms::run(&web.store, move |store| {
        holders::update(store, &actor, &ente, &cf, &form, jiff::Timestamp::now())
    })
    .await;
    match updated.map_err(forms::form_errors) {
        Ok(_) => web.done(&operator, "Titolare salvato.".into(), &key.action()),
        Err(Ok(errors)) => {
            let page = form_page(&operator, Some(&key), fields, errors);
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(Err(error)) => forms::refusal(&operator.session, error),
    }
}

fn form_page(
    operator: &Operator,
    key: Option<&HolderKey>,
    form: HolderFields,
    errors: FormErrors,
) -> FormPage {
    let title = if key.is_some() {
        "Scheda del titolare"
    } else {
        "Nuovo titolare"
    };
    FormPage {
        chrome: Chrome::new(title, &operator.session, Section::Holders),
        action: key.map_or_else(|| "/titolari/nuovo".to_string(), HolderKey::action),
        editing: key.is_some(),
        gestore: operator.actor.is_gestore(),
        form,
        errors,
    }
}
