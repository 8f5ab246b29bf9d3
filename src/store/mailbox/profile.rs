//! What a mailbox record says about the mailbox besides its messages: its state, its
//! type and the limits the type sets, the administrative profile the management plane
//! keeps, and the traffic counted as it happens.

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

/// Whether a mailbox takes mail.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxState {
    /// Created, waiting for the provider to activate it (in attesa di attivazione): no
    /// login, deliveries fail.
    Pending,
    /// In service.
    Active,
    /// Suspended by the postmaster: deliveries fail with `5.2.1`.
    Suspended,
    /// Activated and then closed (attivata ed eliminata): kept for the registro and the
    /// reports, its address not given again.
    Deleted,
}

impl MailboxState {
    /// The name in the API, the panel's forms and the counters.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxState::Pending => "pending",
            MailboxState::Active => "active",
            MailboxState::Suspended => "suspended",
            MailboxState::Deleted => "deleted",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<MailboxState> {
        [
            MailboxState::Pending,
            MailboxState::Active,
            MailboxState::Suspended,
            MailboxState::Deleted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The types of mailbox a provider sells; each has its quotas and sending limits
/// (`[mailbox_types.<TYPE>]`).
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum MailboxType {
    /// One person's or office's mailbox.
    #[default]
    #[serde(rename = "STANDARD")]
    Standard,
    /// Bulk sending, small.
    #[serde(rename = "MASSIVA-BASE")]
    MassivaBase,
    /// Bulk sending, large.
    #[serde(rename = "MASSIVA-LARGE")]
    MassivaLarge,
}

impl MailboxType {
    /// Every type, in the order the panel lists them.
    pub const ALL: [MailboxType; 3] = [
        MailboxType::Standard,
        MailboxType::MassivaBase,
        MailboxType::MassivaLarge,
    ];

    /// The name in the configuration, the API and the panel.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxType::Standard => "STANDARD",
            MailboxType::MassivaBase => "MASSIVA-BASE",
            MailboxType::MassivaLarge => "MASSIVA-LARGE",
        }
    }

    /// The type named `text`, if any.
    pub fn parse(text: &str) -> Option<MailboxType> {
        MailboxType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// A request a mailbox waits on.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Request {
    /// Rinnovo: the contract is to be extended.
    Rinnovo,
    /// Cessazione: the mailbox is to be closed.
    Cessazione,
}

impl Request {
    /// The name in the API and the panel.
    pub fn as_str(self) -> &'static str {
        match self {
            Request::Rinnovo => "rinnovo",
            Request::Cessazione => "cessazione",
        }
    }
}

/// A mailbox's administrative fields.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(default)]
pub struct Profile {
    /// The holder's codice fiscale (the holder is the ente's record of it).
    pub holder: Option<String>,
    /// The owning ente (`""`: the provider's own).
    pub ente: String,
    /// The type.
    pub kind: MailboxType,
    /// Who created it (`cli`, `api` or an operator).
    pub created_by: String,
    /// When it was activated.
    pub activated: Option<Timestamp>,
    /// When the contract ends.
    pub expires: Option<jiff::civil::Date>,
    /// Renewal or cessation requests waiting.
    pub requests: Vec<Request>,
    /// Whether the signed activation contract was uploaded.
    pub contract: bool,
    /// Free notes of the operators.
    pub notes: String,
    /// The conservation archive quota of its type.
    pub archive_quota_bytes: u64,
}

/// What a mailbox sent and received, counted as it happens.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(default)]
pub struct Traffic {
    /// Certified messages delivered to it.
    pub received: u64,
    /// Messages it sent (accepted at the punto di accesso).
    pub sent: u64,
    /// The UTC day `sent_that_day` counts.
    pub day: Option<jiff::civil::Date>,
    /// Messages sent on `day`.
    pub sent_that_day: u64,
}

/// What a mailbox type lets the punto di accesso take from one mailbox.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct SendingLimits {
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Most messages per UTC day.
    pub max_per_day: u64,
}

/// Why the punto di accesso may not take one more message from a mailbox.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum SendingLimit {
    /// More recipients than its type allows.
    Recipients {
        /// The type's limit.
        limit: usize,
    },
    /// Its type's messages of the day are used up.
    Daily {
        /// The type's limit.
        limit: u64,
    },
}
