//! Mailbox search: the filters of the panel's and the API's mailbox lists, applied to
//! the mailboxes within the actor's reach, with the holder's fields matched by the
//! holder search's own rule.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::MailboxRow;
use super::row;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::Reach;
use crate::manage::field;
use crate::manage::holders;
use crate::manage::holders::HolderQuery;
use crate::manage::validate;
use crate::store::Store;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;
use crate::store::management::Holder;

/// What a mailbox search asks; every field given must match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxQuery {
    /// The domain.
    pub dominio: String,
    /// Part of the address.
    pub indirizzo: String,
    /// Part of the holder's name.
    pub nome: String,
    /// Part of the holder's surname.
    pub cognome: String,
    /// Part of the holder's codice fiscale.
    pub codice_fiscale: String,
    /// Part of the holder's ordinary e-mail.
    pub email: String,
    /// Part of a ragione sociale of the holder.
    pub ragione_sociale: String,
    /// Inserted on or after (`AAAA-MM-GG`).
    pub dal: String,
    /// Inserted on or before (`AAAA-MM-GG`).
    pub al: String,
    /// The state.
    pub stato: String,
    /// A pending request (`rinnovo`, `cessazione`).
    pub richiesta: String,
    /// Only this ente's (the gestore's filter).
    pub ente: Option<String>,
}

fn query_dates(
    query: &MailboxQuery,
) -> Result<(Option<jiff::civil::Date>, Option<jiff::civil::Date>), ManageError> {
    Ok((
        validate::optional(&query.dal, validate::data).map_err(field("dal"))?,
        validate::optional(&query.al, validate::data).map_err(field("al"))?,
    ))
}

fn contains(value: &str, part: &str) -> bool {
    part.trim().is_empty() || value.to_lowercase().contains(&part.trim().to_lowercase())
}

fn row_matches(
    m: &Mailbox,
    holder: Option<&Holder>,
    query: &MailboxQuery,
    range: (Option<jiff::civil::Date>, Option<jiff::civil::Date>),
) -> bool {
    let day = m.created.to_zoned(jiff::tz::TimeZone::UTC).date();
    let domain = m
        .address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    let about_holder = HolderQuery {
        nome: query.nome.clone(),
        cognome: query.cognome.clone(),
        codice_fiscale: query.codice_fiscale.clone(),
        email: query.email.clone(),
        ragione_sociale: query.ragione_sociale.clone(),
        ..HolderQuery::default()
    };
    let holder_matches = match holder {
        Some(holder) => holders::matches(holder, &about_holder, &[]),
        None => about_holder.is_empty(),
    };
    (query.dominio.trim().is_empty() || domain.eq_ignore_ascii_case(query.dominio.trim()))
        && contains(&m.address, &query.indirizzo)
        && holder_matches
        && range.0.is_none_or(|from| day >= from)
        && range.1.is_none_or(|to| day <= to)
        && (query.stato.trim().is_empty() || m.state.as_str() == query.stato.trim())
        && (query.richiesta.trim().is_empty()
            || m.profile
                .requests
                .iter()
                .any(|r| r.as_str() == query.richiesta.trim()))
}

/// The mailboxes within the actor's reach that match `query`, by address.
pub fn search(
    store: &Store,
    actor: &Actor,
    query: &MailboxQuery,
) -> Result<Vec<MailboxRow>, ManageError> {
    let range = query_dates(query)?;
    if !query.stato.trim().is_empty() && MailboxState::parse(query.stato.trim()).is_none() {
        return Err(ManageError::invalid("stato", "Stato sconosciuto."));
    }
    let reach = actor.reach(query.ente.as_deref(), actor.is_gestore());
    let (mailboxes, holders) = store.read(|tx| {
        let holders = match reach {
            Reach::Nothing => Vec::new(),
            _ => tx.management().holders(reach.ente())?,
        };
        Ok((reach.mailboxes(tx)?, holders))
    })?;
    let by_key: BTreeMap<(&str, &str), &Holder> = holders
        .iter()
        .map(|h| ((h.ente.as_str(), h.codice_fiscale.as_str()), h))
        .collect();
    Ok(mailboxes
        .iter()
        .filter_map(|m| {
            let holder = m
                .profile
                .holder
                .as_deref()
                .and_then(|cf| by_key.get(&(m.profile.ente.as_str(), cf)).copied());
            row_matches(m, holder, query, range).then(|| row(m, holder))
        })
        .collect())
}
