//! Holders (titolari): the people a mailbox belongs to, with their addresses and the
//! companies or activities linked to them. Each ente keeps its own holders, so that a
//! codice fiscale typed by one ente's operator never shows another ente's record.

use jiff::Timestamp;
use serde::Deserialize;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::Reach;
use crate::manage::field;
use crate::manage::validate;
use crate::store::Store;
use crate::store::management::Change;
use crate::store::management::Company;
use crate::store::management::Holder;
use crate::store::management::PostalAddress;

/// A holder as a form or the API sends it; every field is checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolderForm {
    /// Codice fiscale.
    pub codice_fiscale: String,
    /// Name.
    pub nome: String,
    /// Surname.
    pub cognome: String,
    /// The ente (the gestore chooses; others act for their own).
    pub ente: Option<String>,
    /// Addresses and contacts.
    pub indirizzi: Vec<PostalAddress>,
    /// Companies and activities.
    pub attivita: Vec<Company>,
}

/// What a holder search asks; every field given must match (case-insensitive part of
/// the value).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolderQuery {
    /// Part of the name.
    pub nome: String,
    /// Part of the surname.
    pub cognome: String,
    /// Part of the codice fiscale.
    pub codice_fiscale: String,
    /// Part of an ordinary e-mail.
    pub email: String,
    /// Part of a telephone number.
    pub telefono: String,
    /// Part of a fax number.
    pub fax: String,
    /// Part of a ragione sociale.
    pub ragione_sociale: String,
    /// Part of a partita IVA.
    pub partita_iva: String,
    /// Part of the address of one of the holder's mailboxes.
    pub pec: String,
    /// Only this ente's (the gestore's filter).
    pub ente: Option<String>,
}

impl HolderQuery {
    /// Whether it asks nothing of a holder.
    pub fn is_empty(&self) -> bool {
        [
            &self.nome,
            &self.cognome,
            &self.codice_fiscale,
            &self.email,
            &self.telefono,
            &self.fax,
            &self.ragione_sociale,
            &self.partita_iva,
            &self.pec,
        ]
        .iter()
        .all(|field| field.trim().is_empty())
    }
}

fn postal(index: usize, a: &PostalAddress) -> Result<PostalAddress, ManageError> {
    let at = |name: &str| format!("indirizzi[{index}].{name}");
    let opt = |input: &str, name: &str, check: fn(&str) -> Result<String, validate::FieldError>| {
        validate::optional(input, check)
            .map(Option::unwrap_or_default)
            .map_err(|e| ManageError::invalid(&at(name), e.to_string()))
    };
    Ok(PostalAddress {
        via: opt(&a.via, "via", validate::indirizzo)?,
        localita: opt(&a.localita, "localita", validate::indirizzo)?,
        provincia: opt(&a.provincia, "provincia", validate::provincia)?,
        cap: opt(&a.cap, "cap", validate::cap)?,
        telefono: opt(&a.telefono, "telefono", validate::telefono)?,
        fax: opt(&a.fax, "fax", validate::telefono)?,
        email: opt(&a.email, "email", validate::email)?,
        cellulare: opt(&a.cellulare, "cellulare", validate::telefono)?,
    })
}

fn company(index: usize, c: &Company) -> Result<Company, ManageError> {
    let at = |name: &str| format!("attivita[{index}].{name}");
    let opt = |input: &str, name: &str, check: fn(&str) -> Result<String, validate::FieldError>| {
        validate::optional(input, check)
            .map(Option::unwrap_or_default)
            .map_err(|e| ManageError::invalid(&at(name), e.to_string()))
    };
    Ok(Company {
        ragione_sociale: validate::ragione_sociale(&c.ragione_sociale)
            .map_err(|e| ManageError::invalid(&at("ragione_sociale"), e.to_string()))?,
        forma_giuridica: opt(
            &c.forma_giuridica,
            "forma_giuridica",
            validate::ragione_sociale,
        )?,
        partita_iva: opt(&c.partita_iva, "partita_iva", validate::partita_iva)?,
        rea: opt(&c.rea, "rea", validate::rea)?,
        codice_destinatario: opt(
            &c.codice_destinatario,
            "codice_destinatario",
            validate::codice_destinatario,
        )?,
        pec_fatturazione: opt(&c.pec_fatturazione, "pec_fatturazione", validate::email)?,
        referente: opt(&c.referente, "referente", validate::nome)?,
    })
}

/// The checked holder a form describes, for `ente`.
pub(crate) fn validated(
    form: &HolderForm,
    ente: &str,
    now: Timestamp,
) -> Result<Holder, ManageError> {
    Ok(Holder {
        codice_fiscale: validate::codice_fiscale(&form.codice_fiscale)
            .map_err(field("codice_fiscale"))?,
        nome: validate::nome(&form.nome).map_err(field("nome"))?,
        cognome: validate::nome(&form.cognome).map_err(field("cognome"))?,
        ente: ente.to_string(),
        indirizzi: form
            .indirizzi
            .iter()
            .enumerate()
            .map(|(i, a)| postal(i, a))
            .collect::<Result<_, _>>()?,
        attivita: form
            .attivita
            .iter()
            .enumerate()
            .map(|(i, c)| company(i, c))
            .collect::<Result<_, _>>()?,
        created: now,
    })
}

/// Creates a holder in the actor's ente (the gestore names one, or none for the
/// provider's own).
pub fn create(
    store: &Store,
    actor: &Actor,
    form: &HolderForm,
    now: Timestamp,
) -> Result<Holder, ManageError> {
    let ente = actor.acting_ente(form.ente.as_deref());
    let holder = validated(form, &ente, now)?;
    let created = store.write(|tx| {
        if tx
            .management()
            .holder(&ente, &holder.codice_fiscale)?
            .is_some()
        {
            return Ok(false);
        }
        tx.management().put_holder(&holder)?;
        Ok(true)
    })?;
    if created {
        Ok(holder)
    } else {
        Err(ManageError::Exists(holder.codice_fiscale))
    }
}

/// Changes a holder's name, addresses and companies (the codice fiscale and the ente
/// stay). Each field that changed goes into the history of every mailbox of the
/// holder, in the same commit, as `titolare: <field>`.
pub fn update(
    store: &Store,
    actor: &Actor,
    ente: &str,
    codice_fiscale: &str,
    form: &HolderForm,
    now: Timestamp,
) -> Result<Holder, ManageError> {
    let current = get(store, actor, ente, codice_fiscale)?;
    let mut form = form.clone();
    form.codice_fiscale = current.codice_fiscale.clone();
    let mut holder = validated(&form, &current.ente, current.created)?;
    holder.created = current.created;
    let changes: Vec<Change> = changed_fields(&current, &holder)
        .into_iter()
        .map(|(field, old, new)| Change {
            at: now,
            by: actor.username.clone(),
            field: format!("titolare: {field}"),
            old,
            new,
        })
        .collect();
    store.write(|tx| {
        tx.management().put_holder(&holder)?;
        if changes.is_empty() {
            return Ok(());
        }
        for address in tx.management().ente_mailboxes(&holder.ente)? {
            let owned = tx.mailboxes().get(&address)?.is_some_and(|m| {
                m.profile.holder.as_deref() == Some(holder.codice_fiscale.as_str())
            });
            if owned {
                for change in &changes {
                    tx.management().record_change(&address, change)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(holder)
}

/// The fields of a holder that differ between `old` and `new`: name, value before,
/// value after (addresses and companies written out, one per `; `).
fn changed_fields(old: &Holder, new: &Holder) -> Vec<(&'static str, String, String)> {
    let fields = [
        ("nome", old.nome.clone(), new.nome.clone()),
        ("cognome", old.cognome.clone(), new.cognome.clone()),
        (
            "indirizzi",
            addresses(&old.indirizzi),
            addresses(&new.indirizzi),
        ),
        (
            "attività",
            companies(&old.attivita),
            companies(&new.attivita),
        ),
    ];
    fields.into_iter().filter(|(_, a, b)| a != b).collect()
}

fn addresses(all: &[PostalAddress]) -> String {
    written_out(all.iter().map(|a| {
        [
            &a.via,
            &a.cap,
            &a.localita,
            &a.provincia,
            &a.telefono,
            &a.cellulare,
            &a.fax,
            &a.email,
        ]
    }))
}

fn companies(all: &[Company]) -> String {
    written_out(all.iter().map(|c| {
        [
            &c.ragione_sociale,
            &c.forma_giuridica,
            &c.partita_iva,
            &c.rea,
            &c.codice_destinatario,
        ]
    }))
}

/// Each entry's non-empty fields joined by `, `, the entries by `; `.
fn written_out<'a, const N: usize>(entries: impl Iterator<Item = [&'a String; N]>) -> String {
    entries
        .map(|fields| {
            fields
                .iter()
                .filter(|f| !f.is_empty())
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One holder within the actor's reach.
pub fn get(
    store: &Store,
    actor: &Actor,
    ente: &str,
    codice_fiscale: &str,
) -> Result<Holder, ManageError> {
    let codice_fiscale = codice_fiscale.trim().to_ascii_uppercase();
    let not_found = || ManageError::NotFound(codice_fiscale.clone());
    if !actor.may_manage(ente) {
        return Err(not_found());
    }
    store
        .read(|tx| tx.management().holder(ente, &codice_fiscale))?
        .ok_or_else(not_found)
}

fn contains(value: &str, part: &str) -> bool {
    part.trim().is_empty() || value.to_lowercase().contains(&part.trim().to_lowercase())
}

/// Whether `holder` (owner of `mailboxes`) matches every field `query` gives.
pub(crate) fn matches(holder: &Holder, query: &HolderQuery, mailboxes: &[String]) -> bool {
    let any_address = |pick: fn(&PostalAddress) -> &str, part: &str| {
        part.trim().is_empty() || holder.indirizzi.iter().any(|a| contains(pick(a), part))
    };
    let any_company = |pick: fn(&Company) -> &str, part: &str| {
        part.trim().is_empty() || holder.attivita.iter().any(|c| contains(pick(c), part))
    };
    contains(&holder.nome, &query.nome)
        && contains(&holder.cognome, &query.cognome)
        && contains(&holder.codice_fiscale, &query.codice_fiscale)
        && any_address(|a| &a.email, &query.email)
        && (any_address(|a| &a.telefono, &query.telefono)
            || any_address(|a| &a.cellulare, &query.telefono))
        && any_address(|a| &a.fax, &query.fax)
        && any_company(|c| &c.ragione_sociale, &query.ragione_sociale)
        && any_company(|c| &c.partita_iva, &query.partita_iva)
        && (query.pec.trim().is_empty() || mailboxes.iter().any(|m| contains(m, &query.pec)))
}

/// The holders within the actor's reach that match `query`, by ente and codice fiscale.
pub fn search(
    store: &Store,
    actor: &Actor,
    query: &HolderQuery,
) -> Result<Vec<Holder>, ManageError> {
    let reach = actor.reach(query.ente.as_deref(), actor.is_gestore());
    if reach == Reach::Nothing {
        return Ok(Vec::new());
    }
    let (holders, owned) = store.read(|tx| {
        let holders = tx.management().holders(reach.ente())?;
        let owned = if query.pec.trim().is_empty() {
            Vec::new()
        } else {
            tx.mailboxes().list()?
        };
        Ok((holders, owned))
    })?;
    Ok(holders
        .into_iter()
        .filter(|h| {
            let mailboxes: Vec<String> = owned
                .iter()
                .filter(|m| {
                    m.profile.ente == h.ente
                        && m.profile.holder.as_deref() == Some(&h.codice_fiscale)
                })
                .map(|m| m.address.clone())
                .collect();
            matches(h, query, &mailboxes)
        })
        .collect())
}
