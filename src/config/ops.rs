//! The sections for running pecd as infrastructure: `[metrics]` (the Prometheus
//! endpoint) and `[log]` (the log's format).

use serde::Deserialize;

/// `[metrics]`: `GET /metrics` on the admin listener.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` without the admin bearer token (for a scraper on a trusted
    /// network); by default it needs the token like every other admin path. With no
    /// `[admin] token`, `true` opens the admin listener for `/metrics` alone.
    pub public: bool,
}

/// `[log]`: what `pecd serve` writes to stderr (the journal, under systemd).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (one readable line per event) or `json` (one JSON object per line, the
    /// event's fields as keys: `msgid`, `mailbox`, `peer`, … where they apply).
    pub format: LogFormat,
}

/// The log's format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
