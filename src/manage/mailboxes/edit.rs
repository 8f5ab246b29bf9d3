//! Edits of a mailbox's administrative fields (notes, requests, the contract's end, the
//! holder), each written with one history line per field it changed.

use jiff::Timestamp;

use super::MailboxForm;
use super::MailboxRow;
use super::change;
use super::expiry;
use super::holder_for;
use super::row;
use super::shown;
use super::visible;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::field;
use crate::manage::gestore_only;
use crate::manage::validate;
use crate::store::Store;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::Request;

/// One field an edit changed: its name, the value before and after.
struct Edited {
    field: &'static str,
    old: String,
    new: String,
}

/// What an edit does to a record, saying which fields it changed.
type Apply<'a> = &'a (dyn Fn(&mut Mailbox) -> Vec<Edited> + Sync);

/// Changes fields of a mailbox record, one history line per field that changed.
fn edit(
    store: &Store,
    actor: &Actor,
    address: &str,
    now: Timestamp,
    apply: Apply<'_>,
) -> Result<MailboxRow, ManageError> {
    let current = visible(store, actor, address)?;
    let changed = store.write(|tx| {
        let mut lines = Vec::new();
        let after = tx
            .mailboxes()
            .update(&current.address, |m| lines = apply(m))?;
        for e in &lines {
            let line = change(actor, now, e.field, &e.old, &e.new);
            tx.management().record_change(&current.address, &line)?;
        }
        Ok(after)
    })?;
    shown(store, &changed)
}

/// Replaces the notes.
pub fn set_notes(
    store: &Store,
    actor: &Actor,
    address: &str,
    notes: &str,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    let notes = validate::optional(notes, validate::nota)
        .map_err(field("note"))?
        .unwrap_or_default();
    edit(store, actor, address, now, &|m| {
        let old = std::mem::replace(&mut m.profile.notes, notes.clone());
        if old == notes {
            Vec::new()
        } else {
            vec![Edited {
                field: "note",
                old,
                new: notes.clone(),
            }]
        }
    })
}

/// Records a request (rinnovo, cessazione) the mailbox waits on; the gestore clears it
/// with `done`.
pub fn request(
    store: &Store,
    actor: &Actor,
    address: &str,
    kind: &str,
    done: bool,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    let kind = match kind.trim() {
        "rinnovo" => Request::Rinnovo,
        "cessazione" => Request::Cessazione,
        _ => {
            return Err(ManageError::invalid(
                "richiesta",
                "La richiesta deve essere rinnovo o cessazione.",
            ));
        }
    };
    if done {
        gestore_only(actor)?;
    }
    edit(store, actor, address, now, &|m| {
        let present = m.profile.requests.contains(&kind);
        match (done, present) {
            (false, false) => {
                m.profile.requests.push(kind);
                vec![Edited {
                    field: "richiesta",
                    old: String::new(),
                    new: kind.as_str().into(),
                }]
            }
            (true, true) => {
                m.profile.requests.retain(|r| *r != kind);
                vec![Edited {
                    field: "richiesta",
                    old: kind.as_str().into(),
                    new: "evasa".into(),
                }]
            }
            _ => Vec::new(),
        }
    })
}

/// Sets the contract's end (the gestore only).
pub fn set_expiry(
    store: &Store,
    actor: &Actor,
    address: &str,
    date: &str,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    gestore_only(actor)?;
    let expires = expiry(date)?;
    let show = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    edit(store, actor, address, now, &|m| {
        let old = std::mem::replace(&mut m.profile.expires, expires);
        if old == expires {
            Vec::new()
        } else {
            vec![Edited {
                field: "scadenza",
                old: show(old),
                new: show(expires),
            }]
        }
    })
}

/// Hands a mailbox to another holder of the same ente (subentro); the mailbox keeps its
/// mail, the history keeps the old holder. The old holder's credentials go with the
/// handover: the password and any one-time link stop working in the same commit, and
/// the new holder gets theirs by a new-password link.
pub fn change_holder(
    store: &Store,
    actor: &Actor,
    address: &str,
    form: &MailboxForm,
    now: Timestamp,
) -> Result<MailboxRow, ManageError> {
    let current = visible(store, actor, address)?;
    let ente = current.profile.ente.clone();
    let (holder, new_holder) = holder_for(store, form, &ente, now)?;
    let old = current.profile.holder.clone().unwrap_or_default();
    if old == holder.codice_fiscale {
        return Err(ManageError::invalid(
            "codice_fiscale",
            "La casella appartiene già a questo titolare.",
        ));
    }
    let changed = store.write(|tx| {
        if new_holder {
            tx.management().put_holder(&holder)?;
        }
        let after = tx.mailboxes().update(&current.address, |m| {
            m.profile.holder = Some(holder.codice_fiscale.clone())
        })?;
        tx.mailboxes().revoke_password(&current.address)?;
        tx.links().void(&current.address)?;
        tx.management().record_change(
            &current.address,
            &change(actor, now, "titolare", &old, &holder.codice_fiscale),
        )?;
        tx.management().record_change(
            &current.address,
            &change(actor, now, "credenziali", "", "revocate"),
        )?;
        Ok(after)
    })?;
    Ok(row(&changed, Some(&holder)))
}
