//! The sections of the management plane: `[admin]` (the admin API), `[web]` (the
//! panel), `[notify]` (ordinary mail to people) and `[mailbox_types]` (what each type
//! of mailbox gets).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::mail::address::Address;
use crate::store::mailbox::MailboxType;

/// `[admin]`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The bearer token every request must carry; empty disables the API.
    pub token: String,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminConfig { token: .. }")
    }
}

/// `[web]`: the web panel on `[listen] web`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// The panel's public base URL, used in the links mailed to people; empty means
    /// `https://<[listen] web>`.
    pub url: String,
    /// Minutes of inactivity after which an operator's session ends.
    pub session_minutes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            url: String::new(),
            session_minutes: 30,
        }
    }
}

/// `[notify]`: the smarthost that carries ordinary (non-PEC) mail to people.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// `host:port` of the smarthost; empty keeps the mails queued (and says so in the log).
    pub smtp: String,
    /// The sender; empty means `noreply@<[provider] domain>`.
    pub from: String,
    /// Seconds before a mail the smarthost did not take is tried again.
    pub retry_secs: u64,
}

impl NotifyConfig {
    /// The smarthost is `host:port` and the sender a mail address, when set.
    pub(super) fn validate(&self) -> Result<(), String> {
        if !self.smtp.is_empty() && !super::is_host_port(&self.smtp) {
            return Err(format!("notify.smtp {:?} is not host:port", self.smtp));
        }
        if !self.from.is_empty() && Address::parse(&self.from).is_err() {
            return Err(format!("notify.from {:?} is not a mail address", self.from));
        }
        Ok(())
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            smtp: String::new(),
            from: String::new(),
            retry_secs: 300,
        }
    }
}

/// The fewest recipients per message a provider may allow (DM 2 novembre 2005, art. 12).
pub const MIN_RECIPIENTS: usize = 50;

/// `[mailbox_types.<TYPE>]`: what a new mailbox of a type gets, and what the access
/// point lets it send.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MailboxTypeConfig {
    /// The INBOX and folders quota.
    pub inbox_quota_bytes: u64,
    /// The conservation archive quota.
    pub archive_quota_bytes: u64,
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Most messages sent per day (UTC).
    pub max_messages_per_day: u64,
}

impl MailboxTypeConfig {
    /// The types and limits a provider gets when it configures none.
    pub fn defaults() -> BTreeMap<MailboxType, MailboxTypeConfig> {
        let gib = 1u64 << 30;
        let kind = |inbox, archive, recipients, per_day| MailboxTypeConfig {
            inbox_quota_bytes: inbox,
            archive_quota_bytes: archive,
            max_recipients: recipients,
            max_messages_per_day: per_day,
        };
        BTreeMap::from([
            (MailboxType::Standard, kind(gib, gib, 50, 500)),
            (MailboxType::MassivaBase, kind(2 * gib, 5 * gib, 500, 5_000)),
            (
                MailboxType::MassivaLarge,
                kind(5 * gib, 25 * gib, 1_000, 50_000),
            ),
        ])
    }
}
