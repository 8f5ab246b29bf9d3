//! The management plane: what the provider (gestore), its customer organisations'
//! Local Registration Authorities and aggregators do to domains, operators, holders and
//! mailboxes. One set of rules, used by the operator commands, the JSON API and the web
//! panel alike: every action takes the [`Actor`] doing it, sees only what that actor
//! may see, validates every field, and changes the store in one transaction that also
//! records the change in the mailbox's history.
//!
//! Whatever is outside an actor's reach is reported as not found, never as forbidden,
//! so that one ente's operator cannot learn what another ente has.
//!
//! This layer sits beside `provider` and `conservation`: it uses `store`, `mail`,
//! `pec` and `crypto`, and never a front end (`admin`, `web`, `cli`, `smtp`, `imap`).
//! Everything a user types or uploads is checked here ([`validate`]) before anything
//! is stored.

pub mod csv;
pub mod documents;
pub mod domains;
pub mod holders;
pub mod mailboxes;
pub mod operators;
pub mod pdf;
pub mod reports;
pub mod tables;
pub mod validate;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::mailbox::Mailbox;
pub use crate::store::management::Role;

/// Who is acting.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Actor {
    /// The operator's name (`cli` for operator commands, `api` for the bearer token).
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// The ente they act for; `None` for the gestore.
    pub ente: Option<String>,
    /// The domains an LRA may create mailboxes in.
    pub domains: Vec<String>,
}

/// The name the admin API's token acts under.
pub const API: &str = "api";
/// The name the operator commands act under.
pub const CLI: &str = "cli";
/// The name the daemon acts under (the first gestore operator it creates).
pub const SERVE: &str = "serve";
/// The names the provider acts under when no operator does: never an operator's.
pub const NOT_OPERATORS: [&str; 3] = [API, CLI, SERVE];

impl Actor {
    /// The provider itself, acting through operator commands or the admin token.
    pub fn gestore(username: &str) -> Actor {
        Actor {
            username: username.to_string(),
            role: Role::Gestore,
            ente: None,
            domains: Vec::new(),
        }
    }

    /// Whether this actor is the provider.
    pub fn is_gestore(&self) -> bool {
        self.role == Role::Gestore
    }

    /// The ente whose records this actor changes: its own, or (for the gestore) the one
    /// it names (`""`: the provider's own).
    pub fn acting_ente(&self, named: Option<&str>) -> String {
        match (&self.ente, self.is_gestore()) {
            (_, true) => named.unwrap_or_default().trim().to_string(),
            (Some(own), false) => own.clone(),
            (None, false) => String::new(),
        }
    }

    /// Whether this actor may see and change the records of `ente`.
    pub fn may_manage(&self, ente: &str) -> bool {
        self.is_gestore() || self.ente.as_deref() == Some(ente)
    }

    /// Whether this actor may read reports over every ente.
    pub fn sees_every_ente(&self) -> bool {
        matches!(self.role, Role::Gestore | Role::Aggregator)
    }

    /// Which entes a list shows: those this actor may list (`wide`: every ente, as the
    /// gestore's searches and the aggregator's reports do), narrowed to `named` if it
    /// names one.
    pub fn reach(&self, named: Option<&str>, wide: bool) -> Reach {
        match (wide, &self.ente) {
            (true, _) => named.map_or(Reach::Every, |e| Reach::Ente(e.to_string())),
            (false, Some(own)) => Reach::Ente(own.clone()),
            (false, None) => Reach::Nothing,
        }
    }
}

/// The entes a list covers.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Reach {
    /// Every ente, and the provider's own mailboxes.
    Every,
    /// One ente (`""`: the provider's own).
    Ente(String),
    /// None: an operator without an ente.
    Nothing,
}

impl Reach {
    /// The ente, or `None` for every one.
    fn ente(&self) -> Option<&str> {
        match self {
            Reach::Ente(ente) => Some(ente),
            Reach::Every | Reach::Nothing => None,
        }
    }

    /// The mailboxes within reach, by address.
    fn mailboxes(&self, tx: &ReadTx<'_>) -> Result<Vec<Mailbox>, StoreError> {
        match self {
            Reach::Every => tx.mailboxes().list(),
            Reach::Nothing => Ok(Vec::new()),
            Reach::Ente(ente) => {
                let mut found = Vec::new();
                for address in tx.management().ente_mailboxes(ente)? {
                    found.extend(tx.mailboxes().get(&address)?);
                }
                found.sort_by(|a, b| a.address.cmp(&b.address));
                Ok(found)
            }
        }
    }
}

/// Why a management action was refused. A refused action changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// A field is wrong; the message is shown next to it.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's name, as in the API and the form.
        field: String,
        /// An Italian sentence that says what is wrong.
        message: String,
    },
    /// Nothing of that name within the actor's reach.
    #[error("non trovato: {0}")]
    NotFound(String),
    /// It exists already.
    #[error("esiste già: {0}")]
    Exists(String),
    /// The actor's role may not do this to what it can see (e.g. an LRA activating).
    #[error("operazione riservata al gestore")]
    GestoreOnly,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ManageError {
    /// A refusal of one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> ManageError {
        ManageError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Maps a field check's refusal to the field it concerns.
pub(crate) fn field(name: &str) -> impl Fn(validate::FieldError) -> ManageError + '_ {
    move |error| ManageError::invalid(name, error.to_string())
}

/// The gestore-only guard.
fn gestore_only(actor: &Actor) -> Result<(), ManageError> {
    if actor.is_gestore() {
        Ok(())
    } else {
        Err(ManageError::GestoreOnly)
    }
}

#[cfg(test)]
mod tests;
