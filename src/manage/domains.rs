//! The mail domains this provider manages: `[provider] domain` always, plus those the
//! gestore adds (its own, or dedicated to an ente). Every managed domain is in the
//! providers-index entry and accepted by the access and reception points; LRAs only read
//! them.

use jiff::Timestamp;
use serde::Deserialize;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::field;
use crate::manage::gestore_only;
use crate::manage::validate;
use crate::store::Store;
use crate::store::management::Domain;

/// A domain to add.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The domain name.
    pub name: String,
    /// The ente it is dedicated to.
    #[serde(default)]
    pub ente: Option<String>,
}

/// The normalized domain name, or a field error: a name with at least one dot.
pub fn check_name(name: &str) -> Result<String, ManageError> {
    let name = validate::dominio(name.trim().trim_end_matches('.')).map_err(field("name"))?;
    if name.contains('.') {
        Ok(name)
    } else {
        Err(ManageError::invalid(
            "name",
            "Il dominio non è valido: indicare un nome come esempio.it.",
        ))
    }
}

/// Adds a managed domain (the gestore only).
pub fn add(
    store: &Store,
    actor: &Actor,
    own: &str,
    new: &NewDomain,
    now: Timestamp,
) -> Result<Domain, ManageError> {
    gestore_only(actor)?;
    let name = check_name(&new.name)?;
    if name.eq_ignore_ascii_case(own) {
        return Err(ManageError::Exists(name));
    }
    let ente = new
        .ente
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let added = store.write(|tx| {
        if tx.management().domain(&name)?.is_some() {
            return Ok(None);
        }
        let domain = Domain {
            name: name.clone(),
            ente: ente.clone(),
            added_by: actor.username.clone(),
            added: now,
        };
        tx.management().put_domain(&domain)?;
        Ok(Some(domain))
    })?;
    added.ok_or(ManageError::Exists(name))
}

/// Every managed domain: the provider's own first, then the added ones by name.
pub fn all(store: &Store, own: &str) -> Result<Vec<String>, ManageError> {
    let added = store.read(|tx| tx.management().domains())?;
    let mut names = vec![own.to_ascii_lowercase()];
    names.extend(added.into_iter().map(|d| d.name));
    Ok(names)
}

/// The domains an actor may create mailboxes in: every one for the gestore, its own
/// list for an LRA or aggregator.
pub fn usable(store: &Store, actor: &Actor, own: &str) -> Result<Vec<String>, ManageError> {
    let all = all(store, own)?;
    if actor.is_gestore() {
        return Ok(all);
    }
    Ok(all
        .into_iter()
        .filter(|d| actor.domains.iter().any(|m| m.eq_ignore_ascii_case(d)))
        .collect())
}

/// `names`, normalized, each a managed domain (an LRA's list).
pub(crate) fn known(
    store: &Store,
    own: &str,
    names: &[String],
) -> Result<Vec<String>, ManageError> {
    let managed = all(store, own)?;
    let mut out = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let name = check_name(name)
            .ok()
            .filter(|n| managed.contains(n))
            .ok_or_else(|| {
                ManageError::invalid(
                    "domains",
                    format!("Il dominio {name:?} non è gestito da questo gestore."),
                )
            })?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}
