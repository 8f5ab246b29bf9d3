//! Operators: the people who log in to the panel. The gestore adds them; an operator's
//! role and ente decide everything they see. Passwords are argon2id, checked on the
//! same terms as a mailbox's.

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::Role;
use crate::manage::field;
use crate::manage::gestore_only;
use crate::manage::validate;
use crate::store::Store;
use crate::store::mailbox::Credential;
use crate::store::management::Operator;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A new operator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    /// Login name: letters, digits, `.`, `-`, `_`, 3 to 64 characters.
    pub username: String,
    /// The role: `gestore`, `lra`, `aggregator`.
    pub role: String,
    /// The ente (required for `lra` and `aggregator`).
    #[serde(default)]
    pub ente: Option<String>,
    /// The domains an LRA may create mailboxes in.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Where mails to the operator go.
    #[serde(default)]
    pub email: Option<String>,
    /// The password.
    pub password: String,
}

/// An operator as shown: never the password hash.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorView {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Ente.
    pub ente: Option<String>,
    /// Domains.
    pub domains: Vec<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Whether it may log in.
    pub disabled: bool,
    /// When it was added.
    pub created: Timestamp,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> OperatorView {
        OperatorView {
            username: o.username.clone(),
            role: o.role,
            ente: o.ente.clone(),
            domains: o.domains.clone(),
            email: o.email.clone(),
            disabled: o.disabled,
            created: o.created,
        }
    }
}

impl Operator {
    /// Who this operator acts as.
    pub fn actor(&self) -> Actor {
        Actor {
            username: self.username.clone(),
            role: self.role,
            ente: self.ente.clone(),
            domains: self.domains.clone(),
        }
    }
}

/// Checks a new password's length.
pub fn check_password(field: &str, password: &str) -> Result<(), ManageError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ManageError::invalid(
            field,
            format!("La password deve avere almeno {MIN_PASSWORD_CHARS} caratteri."),
        ));
    }
    Ok(())
}

fn check_ente(role: Role, ente: Option<&str>) -> Result<Option<String>, ManageError> {
    let ente = ente.map(str::trim).filter(|e| !e.is_empty());
    match (role, ente) {
        (Role::Gestore, _) => Ok(None),
        (_, None) => Err(ManageError::invalid(
            "ente",
            "Un operatore LRA o aggregatore deve appartenere a un ente.",
        )),
        (_, Some(ente)) if ente.chars().count() > 200 || ente.chars().any(char::is_control) => Err(
            ManageError::invalid("ente", "Il nome dell'ente non è valido."),
        ),
        (_, Some(ente)) => Ok(Some(ente.to_string())),
    }
}

fn check_email(email: Option<&str>) -> Result<Option<String>, ManageError> {
    validate::optional(email.unwrap_or_default(), validate::email).map_err(field("email"))
}

/// Adds an operator (the gestore only). `domains` must be managed domains (`own` is
/// the provider's).
pub fn add(
    store: &Store,
    actor: &Actor,
    own: &str,
    new: &NewOperator,
    now: Timestamp,
) -> Result<OperatorView, ManageError> {
    gestore_only(actor)?;
    let username = validate::username(&new.username).map_err(field("username"))?;
    if crate::manage::NOT_OPERATORS.contains(&username.as_str()) {
        // These names stand for the API, the CLI and the daemon in every record they
        // make: an operator of the name would receive the credential links of the
        // mailboxes they created.
        return Err(ManageError::invalid(
            "username",
            "Nome riservato: ne scelga un altro.",
        ));
    }
    let role = Role::parse(new.role.trim()).ok_or_else(|| {
        ManageError::invalid("role", "Il ruolo deve essere gestore, lra o aggregator.")
    })?;
    let ente = check_ente(role, new.ente.as_deref())?;
    let email = check_email(new.email.as_deref())?;
    check_password("password", &new.password)?;
    let domains = crate::manage::domains::known(store, own, &new.domains)?;
    let operator = store.write(|tx| {
        if tx.management().operator(&username)?.is_some() {
            return Ok(None);
        }
        let operator = Operator {
            username: username.clone(),
            password_hash: tx.management().hash_password(&new.password)?,
            role,
            ente: ente.clone(),
            domains: domains.clone(),
            email: email.clone(),
            disabled: false,
            created: now,
        };
        tx.management().put_operator(&operator)?;
        Ok(Some(operator))
    })?;
    operator
        .map(|o| OperatorView::from(&o))
        .ok_or(ManageError::Exists(username))
}

/// The operators this actor may see: every one for the gestore, its ente's otherwise.
pub fn list(store: &Store, actor: &Actor) -> Result<Vec<OperatorView>, ManageError> {
    let all = store.read(|tx| tx.management().operators())?;
    Ok(all
        .iter()
        .filter(|o| actor.is_gestore() || (o.ente.is_some() && o.ente == actor.ente))
        .map(OperatorView::from)
        .collect())
}

/// Disables or enables an operator (the gestore only); an operator cannot disable
/// itself, so a provider never locks out its last gestore by a slip.
pub fn set_disabled(
    store: &Store,
    actor: &Actor,
    username: &str,
    disabled: bool,
) -> Result<OperatorView, ManageError> {
    gestore_only(actor)?;
    let username = username.trim().to_lowercase();
    if disabled && username == actor.username {
        return Err(ManageError::invalid(
            "username",
            "Non è possibile disattivare sé stessi.",
        ));
    }
    let changed = store.write(|tx| {
        let Some(mut operator) = tx.management().operator(&username)? else {
            return Ok(None);
        };
        operator.disabled = disabled;
        tx.management().put_operator(&operator)?;
        Ok(Some(operator))
    })?;
    changed
        .map(|o| OperatorView::from(&o))
        .ok_or(ManageError::NotFound(username))
}

/// Sets an operator's password: the gestore for anyone, an operator for itself.
pub fn set_password(
    store: &Store,
    actor: &Actor,
    username: &str,
    password: &str,
) -> Result<(), ManageError> {
    let username = username.trim().to_lowercase();
    if !actor.is_gestore() && actor.username != username {
        return Err(ManageError::NotFound(username));
    }
    check_password("password", password)?;
    let found = store.write(|tx| {
        let Some(mut operator) = tx.management().operator(&username)? else {
            return Ok(false);
        };
        operator.password_hash = tx.management().hash_password(password)?;
        tx.management().put_operator(&operator)?;
        Ok(true)
    })?;
    if found {
        Ok(())
    } else {
        Err(ManageError::NotFound(username))
    }
}

/// The actor a username and password log in as; `None` for a wrong password, an
/// unknown name or a disabled operator alike. Costs one argon2id check either way:
/// callers run it off the async threads and behind the login throttle.
pub fn authenticate(store: &Store, username: &str, password: &str) -> Option<(Actor, Credential)> {
    let username = username.trim().to_lowercase();
    let operator = store
        .read(|tx| tx.management().verify_operator(&username, password))
        .ok()??;
    Some((operator.actor(), Credential::of(&operator.password_hash)))
}

/// Whether any enabled gestore exists (the first start creates one when none does).
pub fn has_gestore(store: &Store) -> Result<bool, ManageError> {
    let all = store.read(|tx| tx.management().operators())?;
    Ok(all.iter().any(|o| o.role == Role::Gestore && !o.disabled))
}
