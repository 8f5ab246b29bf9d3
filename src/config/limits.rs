//! The sections that bound what peers may cost: `[limits]` (sizes, connections,
//! deadlines), `[login]` (password guessing) and `[mx]` (ordinary mail's share).

use std::num::NonZeroU32;
use std::num::NonZeroU64;
use std::num::NonZeroUsize;

use serde::Deserialize;

/// `[login]`: how failed logins are counted and locked out (`net::throttle`). Zero is
/// refused where it would disable a defence.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failures from one address, whatever the accounts, before it is locked out.
    pub failures_per_address: NonZeroU32,
    /// Seconds an address's (or an address and account's) full count takes to drain.
    pub address_lock_secs: NonZeroU64,
    /// Failures from one address against one account before that pair is locked out.
    pub failures_per_address_account: NonZeroU32,
    /// Failures against one account, from any addresses, before it is locked out.
    pub failures_per_account: NonZeroU32,
    /// Seconds an account takes to forget one failure.
    pub account_release_secs: NonZeroU64,
    /// Seconds a successful login keeps its address exempt from its account's lock;
    /// 0 exempts no address.
    pub trusted_address_secs: u64,
    /// The most addresses, accounts and pairs each throttle table remembers.
    pub max_tracked_entries: NonZeroUsize,
    /// The most password checks admitted and not yet answered; beyond it logins get a
    /// temporary refusal.
    pub max_pending_checks: NonZeroUsize,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            failures_per_address: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            address_lock_secs: NonZeroU64::new(900).unwrap_or(NonZeroU64::MIN),
            failures_per_address_account: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            failures_per_account: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            account_release_secs: NonZeroU64::new(180).unwrap_or(NonZeroU64::MIN),
            trusted_address_secs: 30 * 24 * 3600,
            max_tracked_entries: NonZeroUsize::new(16_384).unwrap_or(NonZeroUsize::MIN),
            max_pending_checks: NonZeroUsize::new(32).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest message SMTP accepts (advertised as SIZE); bigger ones get a 552.
    pub max_message_bytes: usize,
    /// Most recipients per message (never below the DM art. 12 minimum of 50).
    pub max_recipients: usize,
    /// Largest recipients × size (never below the DM art. 12 minimum of 30 MB).
    pub max_total_bytes: u64,
    /// Most simultaneous connections per SMTP or IMAP listener.
    pub max_connections: usize,
    /// Most simultaneous connections per listener from one client address (an IPv6
    /// client: its /64), so that one host cannot take every slot.
    pub connections_per_ip: usize,
    /// Seconds to wait for an SMTP command.
    pub command_timeout_secs: u64,
    /// Seconds to wait for the whole DATA.
    pub data_timeout_secs: u64,
    /// Seconds from connect to a successful login (IMAP, SMTP submission); then the
    /// connection is closed, whatever it did meanwhile.
    pub unauthenticated_timeout_secs: u64,
    /// Seconds an MX session may take from its start, or from the end of its last
    /// message, to the end of the next DATA command line; then it is closed.
    pub mx_transaction_timeout_secs: u64,
    /// Bytes of message bodies all MX sessions together may hold in memory while
    /// receiving; a message that finds no room gets `452` (try again later).
    pub mx_in_flight_bytes: usize,
    /// Failed AUTH attempts before a connection is closed.
    pub max_auth_failures: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: 100 * 1024 * 1024,
            max_recipients: 100,
            max_total_bytes: 100 * 1024 * 1024,
            max_connections: 500,
            connections_per_ip: 100,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            unauthenticated_timeout_secs: 120,
            mx_transaction_timeout_secs: 300,
            mx_in_flight_bytes: 512 * 1024 * 1024,
            max_auth_failures: 3,
        }
    }
}

impl LimitsConfig {
    /// Caps and timeouts of zero would refuse every client.
    pub(super) fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("max_connections", self.max_connections as u64),
            ("connections_per_ip", self.connections_per_ip as u64),
            ("command_timeout_secs", self.command_timeout_secs),
            ("data_timeout_secs", self.data_timeout_secs),
            (
                "unauthenticated_timeout_secs",
                self.unauthenticated_timeout_secs,
            ),
            (
                "mx_transaction_timeout_secs",
                self.mx_transaction_timeout_secs,
            ),
            ("mx_in_flight_bytes", self.mx_in_flight_bytes as u64),
        ] {
            if value == 0 {
                return Err(format!("limits.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// `[mx]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MxConfig {
    /// Accept ordinary (non-PEC) mail, delivered inside a busta di anomalia.
    pub accept_ordinary_mail: bool,
    /// Largest ordinary message the MX wraps in a busta di anomalia; bigger ones are
    /// refused at SMTP, since anyone on the Internet can send them.
    pub anomaly_max_message_bytes: u64,
    /// The share of each mailbox's quota that anomalies may fill, so that mail nobody
    /// certified cannot crowd out certified mail.
    #[serde(deserialize_with = "percent")]
    pub anomaly_quota_percent: u8,
}

impl Default for MxConfig {
    fn default() -> Self {
        MxConfig {
            accept_ordinary_mail: true,
            anomaly_max_message_bytes: 10 * 1024 * 1024,
            anomaly_quota_percent: 10,
        }
    }
}

/// A share in percent: 0 to 100.
fn percent<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let value = u8::deserialize(deserializer)?;
    if value > 100 {
        return Err(serde::de::Error::custom(format!(
            "{value} is not a percentage (0 to 100)"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod mx_tests {
    use std::path::Path;

    use crate::config::Config;
    use crate::config::ConfigError;

    fn mx(section: &str) -> Result<Config, ConfigError> {
        let text = format!("[provider]\ndomain = \"a.test\"\nname = \"A\"\n[mx]\n{section}");
        Config::parse(&text, Path::new("."))
    }

    #[test]
    fn the_anomaly_limits_default_to_ten_mib_and_ten_percent() {
        let config = mx("").unwrap();
        assert_eq!(config.mx.anomaly_max_message_bytes, 10 * 1024 * 1024);
        assert_eq!(config.mx.anomaly_quota_percent, 10);
        let config = mx("anomaly_quota_percent = 0\nanomaly_max_message_bytes = 1000\n").unwrap();
        assert_eq!(config.mx.anomaly_quota_percent, 0);
        assert_eq!(config.mx.anomaly_max_message_bytes, 1000);
    }

    #[test]
    fn a_share_above_a_hundred_percent_is_an_error() {
        let error = mx("anomaly_quota_percent = 101\n").unwrap_err().to_string();
        assert!(error.contains("not a percentage"), "{error}");
        assert!(mx("anomaly_quota_percent = -1\n").is_err());
    }
}
