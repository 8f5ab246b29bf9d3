//! The sections of a message's way between providers: `[relay]` (outbound delivery),
//! `[timers]` (the 12 h / 24 h PEC timers) and `[clamav]` (virus checks).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[clamav]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClamavConfig {
    /// Scan every message with clamd (off in the development config).
    pub enabled: bool,
    /// clamd's address: `host:port`, or `unix:/path/to/clamd.ctl`.
    pub address: String,
    /// Seconds to wait for clamd.
    pub timeout_secs: u64,
}

impl Default for ClamavConfig {
    fn default() -> Self {
        ClamavConfig {
            enabled: false,
            address: "127.0.0.1:3310".into(),
            timeout_secs: 60,
        }
    }
}

/// `[timers]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersConfig {
    /// Seconds until the preavviso di mancata consegna (12 h).
    pub warning_secs: u64,
    /// Seconds until the final avviso (24 h).
    pub final_secs: u64,
    /// How often timers are checked, in seconds.
    pub tick_secs: u64,
}

impl Default for TimersConfig {
    fn default() -> Self {
        TimersConfig {
            warning_secs: 12 * 3600,
            final_secs: 24 * 3600,
            tick_secs: 5,
        }
    }
}

/// `[relay]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// First retry delay in seconds; it doubles per attempt up to 30 minutes.
    pub retry_base_secs: u64,
    /// Seconds after which an undeliverable message is given up (the 24 h notices
    /// tell the sender).
    pub give_up_secs: u64,
    /// Extra CA certificates (PEM) trusted for other providers' TLS, beyond none.
    pub tls_roots: Vec<PathBuf>,
    /// DNS servers for MX lookups (`ip:port`); empty means the system's configuration.
    pub nameservers: Vec<SocketAddr>,
    /// The SMTP port of mail hosts found through DNS.
    pub mx_port: u16,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            retry_base_secs: 60,
            give_up_secs: 24 * 3600,
            tls_roots: Vec::new(),
            nameservers: Vec::new(),
            mx_port: 25,
        }
    }
}
