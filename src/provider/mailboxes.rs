//! Mailbox administration shared by the operator commands and the admin HTTP API: the
//! rules a mailbox record must keep (an address of our domain, a known receipt type and
//! conservation rule, a password of at least 8 characters), applied in one transaction.

use jiff::Timestamp;
use serde::Deserialize;

use crate::mail::address::Address;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::mailbox::DEFAULT_QUOTA_BYTES;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;
use crate::store::mailbox::NewMailbox;
use crate::store::mailbox::Profile;

/// The conservation rules a mailbox can have.
pub const CONSERVATION_RULES: [&str; 4] = ["all-inbound", "envelopes", "receipts", "off"];
/// The receipt types a mailbox can default to.
pub const RECEIPT_TYPES: [&str; 3] = ["completa", "breve", "sintetica"];
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Changes to a mailbox; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxChanges {
    /// A new password.
    pub password: Option<String>,
    /// Default receipt type.
    pub receipt: Option<String>,
    /// Conservation rule.
    pub conservation: Option<String>,
    /// Quota in bytes.
    pub quota_bytes: Option<u64>,
    /// `active` or `suspended`.
    pub state: Option<MailboxState>,
}

/// Why a mailbox change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No such mailbox.
    #[error("no mailbox {0}")]
    NotFound(String),
    /// The mailbox exists already.
    #[error("mailbox {0} already exists")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> AdminError {
        match error {
            StoreError::NoSuchMailbox(address) => AdminError::NotFound(address),
            StoreError::MailboxExists(address) => AdminError::Exists(address),
            other => AdminError::Store(other),
        }
    }
}

impl MailboxChanges {
    fn validate(&self) -> Result<(), AdminError> {
        if let Some(receipt) = &self.receipt
            && !RECEIPT_TYPES.contains(&receipt.as_str())
        {
            return Err(AdminError::Invalid(format!(
                "receipt {receipt:?} is not one of {}",
                RECEIPT_TYPES.join(", ")
            )));
        }
        if let Some(rule) = &self.conservation
            && !CONSERVATION_RULES.contains(&rule.as_str())
        {
            return Err(AdminError::Invalid(format!(
                "conservation {rule:?} is not one of {}",
                CONSERVATION_RULES.join(", ")
            )));
        }
        if let Some(password) = &self.password
            && password.chars().count() < MIN_PASSWORD_CHARS
        {
            return Err(AdminError::Invalid(format!(
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        Ok(())
    }
}

/// Creates a mailbox of `domain` (or of a domain added to it), active at once, as the
/// provider's own; the password is required. `by` names who asked (`cli`, `api`) in
/// the reports.
pub fn create(
    store: &Store,
    domain: &str,
    address: &str,
    changes: &MailboxChanges,
    by: &str,
) -> Result<Mailbox, AdminError> {
    let address = Address::parse(address)
        .map_err(|_| AdminError::Invalid(format!("{address:?} is not a mail address")))?;
    let managed = |name: &str| store.read(|tx| tx.management().is_domain(name));
    if !address.domain().eq_ignore_ascii_case(domain) && !managed(address.domain())? {
        return Err(AdminError::Invalid(format!(
            "{address} is not in a domain this provider manages ({domain} or one added with `pecd domain add`)"
        )));
    }
    changes.validate()?;
    let password = changes
        .password
        .as_deref()
        .ok_or_else(|| AdminError::Invalid("a password is required".into()))?;
    let settings = NewMailbox {
        receipt_type: changes.receipt.clone().unwrap_or_else(|| "completa".into()),
        conservation: changes.conservation.clone().unwrap_or_else(|| "off".into()),
        quota_bytes: changes.quota_bytes.unwrap_or(DEFAULT_QUOTA_BYTES),
        profile: Profile {
            created_by: by.to_string(),
            ..Profile::default()
        },
        ..NewMailbox::default()
    };
    let mailbox = store.write(|tx| {
        let mut mailbox =
            tx.mailboxes()
                .create(address.as_str(), password, &settings, Timestamp::now())?;
        if changes.state == Some(MailboxState::Suspended) {
            mailbox = tx
                .mailboxes()
                .update(address.as_str(), |m| m.state = MailboxState::Suspended)?;
        }
        Ok(mailbox)
    })?;
    Ok(mailbox)
}

/// Applies changes to an existing mailbox.
pub fn update(
    store: &Store,
    address: &str,
    changes: &MailboxChanges,
) -> Result<Mailbox, AdminError> {
    changes.validate()?;
    let mailbox = store.write(|tx| {
        if let Some(password) = &changes.password {
            tx.mailboxes().set_password(address, password)?;
        }
        tx.mailboxes().update(address, |m| {
            if let Some(receipt) = &changes.receipt {
                m.receipt_type = receipt.clone();
            }
            if let Some(rule) = &changes.conservation {
                m.conservation = rule.clone();
            }
            if let Some(quota) = changes.quota_bytes {
                m.quota_bytes = quota;
            }
            if let Some(state) = changes.state {
                m.state = state;
            }
        })
    })?;
    Ok(mailbox)
}

/// Deletes a mailbox.
pub fn delete(store: &Store, address: &str) -> Result<(), AdminError> {
    Ok(store.write(|tx| tx.mailboxes().delete(address))?)
}
