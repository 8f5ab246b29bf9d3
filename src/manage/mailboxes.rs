//! A mailbox's life as the panel and the API see it: created for a holder by an LRA or
//! the gestore (waiting for activation), activated by the gestore alone, suspended and
//! reactivated, closed (kept, its address never given again), handed to a new holder
//! (subentro). Every change is written with its line in the mailbox's history, in one
//! transaction.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use crate::config::MailboxTypeConfig;
use crate::mail::address::Address;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::domains;
use crate::manage::field;
use crate::manage::gestore_only;
use crate::manage::holders;
use crate::manage::holders::HolderForm;
use crate::manage::validate;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;
use crate::store::mailbox::MailboxType;
use crate::store::mailbox::NewMailbox;
use crate::store::mailbox::Profile;
use crate::store::mailbox::Request;
use crate::store::management::Change;
use crate::store::management::Document;
use crate::store::management::Holder;

mod edit;
mod search;

pub use edit::change_holder;
pub use edit::request;
pub use edit::set_expiry;
pub use edit::set_notes;
pub use search::MailboxQuery;
pub use search::search;

/// What the management rules need of the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `[provider] domain`.
    pub domain: String,
    /// `[mailbox_types]`.
    pub types: BTreeMap<MailboxType, MailboxTypeConfig>,
}

/// A new mailbox as a form or the API sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxForm {
    /// The full address.
    pub address: String,
    /// The holder's codice fiscale; a known one fills name and surname.
    pub codice_fiscale: String,
    /// The holder's name, when the codice fiscale is new.
    pub nome: String,
    /// The holder's surname, when the codice fiscale is new.
    pub cognome: String,
    /// The holder's ordinary e-mail, when the codice fiscale is new.
    pub email: String,
    /// The ente (the gestore chooses; others act for their own).
    pub ente: Option<String>,
    /// `STANDARD`, `MASSIVA-BASE` or `MASSIVA-LARGE`.
    pub tipo: String,
    /// When the contract ends (`AAAA-MM-GG`), if it does.
    pub scadenza: String,
    /// Notes.
    pub note: String,
}

/// One mailbox with its holder, as lists show it.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxRow {
    /// The mailbox.
    pub address: String,
    /// Its state.
    pub state: MailboxState,
    /// Its type.
    pub kind: MailboxType,
    /// Its ente (`""`: the provider's own).
    pub ente: String,
    /// The holder's codice fiscale.
    pub codice_fiscale: String,
    /// The holder's name.
    pub nome: String,
    /// The holder's surname.
    pub cognome: String,
    /// When it was inserted.
    pub created: Timestamp,
    /// Pending requests.
    pub requests: Vec<Request>,
    /// Bytes used.
    pub used_bytes: u64,
    /// Messages received.
    pub received: u64,
    /// Messages sent.
    pub sent: u64,
}

/// One mailbox with everything the detail page shows.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxDetail {
    /// The row.
    pub row: MailboxRow,
    /// The administrative fields.
    pub profile: Profile,
    /// The quota.
    pub quota_bytes: u64,
    /// The holder, when known.
    pub holder: Option<Holder>,
    /// Every change, oldest first.
    pub history: Vec<Change>,
    /// The documents.
    pub documents: Vec<Document>,
}

/// Why the holder gets a one-time link to set a password.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum LinkReason {
    /// The mailbox was activated.
    Activation,
    /// An operator asked for new credentials.
    NewPassword,
}

/// Who must be told that a mailbox is active (or has new credentials), and where it is.
#[derive(Clone, Debug)]
pub struct Activation {
    /// The mailbox.
    pub address: String,
    /// The holder's ordinary e-mail and the creating operator's.
    pub recipients: Vec<String>,
    /// Activation or new password.
    pub reason: LinkReason,
}

/// What the front end does in the transaction that activates a mailbox or asks for a
/// new password: issue the one-time link and queue the mails.
pub type OnActivation<'a> = &'a (dyn Fn(&mut Tx<'_>, &Activation) -> Result<(), StoreError> + Sync);

fn row(m: &Mailbox, holder: Option<&Holder>) -> MailboxRow {
    MailboxRow {
        address: m.address.clone(),
        state: m.state,
        kind: m.profile.kind,
        ente: m.profile.ente.clone(),
        codice_fiscale: m.profile.holder.clone().unwrap_or_default(),
        nome: holder.map(|h| h.nome.clone()).unwrap_or_default(),
        cognome: holder.map(|h| h.cognome.clone()).unwrap_or_default(),
        created: m.created,
        requests: m.profile.requests.clone(),
        used_bytes: m.used_bytes,
        received: m.traffic.received,
        sent: m.traffic.sent,
    }
}

/// The row of `m` with its holder's name, as lists show it after a change.
fn shown(store: &Store, m: &Mailbox) -> Result<MailboxRow, ManageError> {
    let holder = match &m.profile.holder {
        Some(cf) => store.read(|tx| tx.management().holder(&m.profile.ente, cf))?,
        None => None,
    };
    Ok(row(m, holder.as_ref()))
}

fn change(by: &Actor, at: Timestamp, field: &str, old: &str, new: &str) -> Change {
    Change {
        at,
        by: by.username.clone(),
        field: field.to_string(),
        old: old.to_string(),
        new: new.to_string(),
    }
}

/// The mailbox `address` if the actor may see it.
pub(crate) fn visible(store: &Store, actor: &Actor, address: &str) -> Result<Mailbox, ManageError> {
    let not_found = || ManageError::NotFound(address.to_string());
    let mailbox = store
        .read(|tx| tx.mailboxes().get(address))?
        .ok_or_else(not_found)?;
    if actor.may_manage(&mailbox.profile.ente) {
        Ok(mailbox)
    } else {
        Err(not_found())
    }
}

/// The address of a new mailbox: well formed, in a domain the actor may use.
fn new_address(
    store: &Store,
    actor: &Actor,
    settings: &Settings,
    text: &str,
) -> Result<String, ManageError> {
    let address = validate::email(text).map_err(field("address"))?;
    let domain = Address::parse(&address)
        .map(|a| a.domain().to_ascii_lowercase())
        .map_err(|_| ManageError::invalid("address", "L'indirizzo non è valido."))?;
    if !domains::usable(store, actor, &settings.domain)?.contains(&domain) {
        return Err(ManageError::invalid(
            "address",
            format!("Il dominio {domain} non è tra quelli gestibili da questo operatore."),
        ));
    }
    Ok(address.to_lowercase())
}

/// The holder a new mailbox belongs to: the ente's record of the codice fiscale, or a
/// new one made from the form's name and surname.
fn holder_for(
    store: &Store,
    form: &MailboxForm,
    ente: &str,
    now: Timestamp,
) -> Result<(Holder, bool), ManageError> {
    let codice_fiscale =
        validate::codice_fiscale(&form.codice_fiscale).map_err(field("codice_fiscale"))?;
    if let Some(known) = store.read(|tx| tx.management().holder(ente, &codice_fiscale))? {
        return Ok((known, false));
    }
    let indirizzi = if form.email.trim().is_empty() {
        Vec::new()
    } else {
        vec![crate::store::management::PostalAddress {
            email: form.email.clone(),
            ..Default::default()
        }]
    };
    let holder_form = HolderForm {
        codice_fiscale,
        nome: form.nome.clone(),
        cognome: form.cognome.clone(),
        ente: Some(ente.to_string()),
        indirizzi,
        attivita: Vec::new(),
    };
    let holder = holders::validated(&holder_form, ente, now)?;
    Ok((holder, true))
}

fn expiry(text: &str) -> Result<Option<jiff::civil::Date>, ManageError> {
    validate::optional(text, validate::data).map_err(field("scadenza"))
}

/// Creates a mailbox waiting for activation, for a holder found by codice fiscale (or
/// created from the form), with its type's quotas.
pub fn create(
    store: &Store,
    actor: &Actor,
    settings: &Settings,
    form: &MailboxForm,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    let address = new_address(store, actor, settings, &form.address)?;
    let ente = actor.acting_ente(form.ente.as_deref());
    let kind = MailboxType::parse(form.tipo.trim()).ok_or_else(|| {
        ManageError::invalid(
            "tipo",
            "Il tipo deve essere STANDARD, MASSIVA-BASE o MASSIVA-LARGE.",
        )
    })?;
    let limits = settings
        .types
        .get(&kind)
        .cloned()
        .ok_or_else(|| ManageError::invalid("tipo", "Tipo non configurato."))?;
    let expires = expiry(&form.scadenza)?;
    let notes = validate::optional(&form.note, validate::nota)
        .map_err(field("note"))?
        .unwrap_or_default();
    let (holder, new_holder) = holder_for(store, form, &ente, now)?;
    let settings = NewMailbox {
        quota_bytes: limits.inbox_quota_bytes,
        state: MailboxState::Pending,
        profile: Profile {
            holder: Some(holder.codice_fiscale.clone()),
            ente: ente.clone(),
            kind,
            created_by: actor.username.clone(),
            expires,
            notes,
            archive_quota_bytes: limits.archive_quota_bytes,
            ..Profile::default()
        },
        ..NewMailbox::default()
    };
    let mailbox = store
        .write(|tx| {
            if new_holder {
                tx.management().put_holder(&holder)?;
            }
            let mailbox = tx
                .mailboxes()
                .create_without_password(&address, &settings, now)?;
            tx.management()
                .record_change(&address, &change(actor, now, "stato", "", "pending"))?;
            Ok(mailbox)
        })
        .map_err(|e| match e {
            StoreError::MailboxExists(a) => ManageError::Exists(a),
            other => other.into(),
        })?;
    Ok(row(&mailbox, Some(&holder)))
}

/// One mailbox with its holder, history and documents.
pub fn get(store: &Store, actor: &Actor, address: &str) -> Result<MailboxDetail, ManageError> {
    let mailbox = visible(store, actor, address)?;
    let (holder, history, documents) = store.read(|tx| {
        let holder = match &mailbox.profile.holder {
            Some(cf) => tx.management().holder(&mailbox.profile.ente, cf)?,
            None => None,
        };
        Ok((
            holder,
            tx.management().history(&mailbox.address)?,
            tx.management().documents(&mailbox.address)?,
        ))
    })?;
    Ok(MailboxDetail {
        row: row(&mailbox, holder.as_ref()),
        profile: mailbox.profile.clone(),
        quota_bytes: mailbox.quota_bytes,
        holder,
        history,
        documents,
    })
}

/// Moves a visible mailbox from one of `from` to `to`, recording it; `hook` runs in the
/// same transaction with the record after the change.
fn transition(
    store: &Store,
    actor: &Actor,
    address: &str,
    from: &[MailboxState],
    to: MailboxState,
    now: Timestamp,
    hook: &(dyn Fn(&mut Tx<'_>, &Mailbox) -> Result<(), StoreError> + Sync),
) -> Result<Mailbox, ManageError> {
    let current = visible(store, actor, address)?;
    if !from.contains(&current.state) {
        return Err(ManageError::invalid(
            "stato",
            format!(
                "La casella è {}: operazione non possibile.",
                state_label(current.state)
            ),
        ));
    }
    let changed = store.write(|tx| {
        let Some(before) = tx.mailboxes().get(&current.address)? else {
            return Err(StoreError::NoSuchMailbox(current.address.clone()));
        };
        if before.state != current.state {
            return Err(StoreError::Conflict(format!(
                "{} changed state",
                current.address
            )));
        }
        let after = tx.mailboxes().update(&current.address, |m| {
            m.state = to;
            if to == MailboxState::Active && m.profile.activated.is_none() {
                m.profile.activated = Some(now);
            }
        })?;
        tx.management().record_change(
            &current.address,
            &change(actor, now, "stato", before.state.as_str(), to.as_str()),
        )?;
        hook(tx, &after)?;
        Ok(after)
    })?;
    Ok(changed)
}

/// The Italian name of a state.
pub fn state_label(state: MailboxState) -> &'static str {
    match state {
        MailboxState::Pending => "in attesa di attivazione",
        MailboxState::Active => "attiva",
        MailboxState::Suspended => "sospesa",
        MailboxState::Deleted => "attivata ed eliminata",
    }
}

/// Who the activation and new-password mails go to.
fn recipients(tx: &mut Tx<'_>, mailbox: &Mailbox) -> Result<Vec<String>, StoreError> {
    let mut to = Vec::new();
    if let Some(cf) = &mailbox.profile.holder
        && let Some(holder) = tx.management().holder(&mailbox.profile.ente, cf)?
    {
        to.extend(
            holder
                .indirizzi
                .iter()
                .map(|a| a.email.clone())
                .filter(|e| !e.is_empty())
                .take(1),
        );
    }
    if let Some(operator) = tx.management().operator(&mailbox.profile.created_by)?
        && !operator.disabled
        && let Some(email) = operator.email
    {
        to.push(email);
    }
    to.dedup();
    Ok(to)
}

/// Activates a pending mailbox (the gestore only); `on_activation` issues the one-time
/// link and queues the mails in the same transaction.
pub fn activate(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
    on_activation: OnActivation<'_>,
) -> Result<MailboxRow, ManageError> {
    gestore_only(actor)?;
    let hook = |tx: &mut Tx<'_>, m: &Mailbox| {
        let activation = Activation {
            address: m.address.clone(),
            recipients: recipients(tx, m)?,
            reason: LinkReason::Activation,
        };
        on_activation(tx, &activation)
    };
    let m = transition(
        store,
        actor,
        address,
        &[MailboxState::Pending],
        MailboxState::Active,
        now,
        &hook,
    )?;
    shown(store, &m)
}

/// Sends the holder a fresh one-time link to set a new password.
pub fn new_password(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
    on_activation: OnActivation<'_>,
) -> Result<(), ManageError> {
    let mailbox = visible(store, actor, address)?;
    if mailbox.state != MailboxState::Active {
        return Err(ManageError::invalid(
            "stato",
            "Solo una casella attiva riceve nuove credenziali.",
        ));
    }
    store.write(|tx| {
        let activation = Activation {
            address: mailbox.address.clone(),
            recipients: recipients(tx, &mailbox)?,
            reason: LinkReason::NewPassword,
        };
        on_activation(tx, &activation)?;
        tx.management().record_change(
            &mailbox.address,
            &change(actor, now, "credenziali", "", "link inviato"),
        )
    })?;
    Ok(())
}

fn no_hook(_: &mut Tx<'_>, _: &Mailbox) -> Result<(), StoreError> {
    Ok(())
}

/// Suspends an active mailbox.
pub fn suspend(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    let m = transition(
        store,
        actor,
        address,
        &[MailboxState::Active],
        MailboxState::Suspended,
        now,
        // A link mailed before cannot set a password that would wait for reactivation.
        &|tx, m| tx.links().void(&m.address),
    )?;
    shown(store, &m)
}

/// Puts a suspended mailbox back in service (the gestore only).
pub fn reactivate(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    gestore_only(actor)?;
    let m = transition(
        store,
        actor,
        address,
        &[MailboxState::Suspended],
        MailboxState::Active,
        now,
        &no_hook,
    )?;
    shown(store, &m)
}

/// Closes a mailbox (the gestore only): kept for the registro and the reports, its
/// address never given again.
pub fn cease(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    gestore_only(actor)?;
    let from = [
        MailboxState::Pending,
        MailboxState::Active,
        MailboxState::Suspended,
    ];
    let clear = |tx: &mut Tx<'_>, m: &Mailbox| {
        tx.mailboxes()
            .update(&m.address, |m| m.profile.requests.clear())
            .map(|_| ())
    };
    let m = transition(
        store,
        actor,
        address,
        &from,
        MailboxState::Deleted,
        now,
        &clear,
    )?;
    shown(store, &m)
}
