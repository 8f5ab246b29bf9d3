//! `[conservation]`: the conservation gateway's batching, quotas and retention.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[conservation]`: the conservation gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConservationConfig {
    /// Run the ingest and audit worker in `pecd serve`.
    pub enabled: bool,
    /// RFC 3161 TSA URL (`http://…`); empty uses the built-in TSA (development).
    pub tsa_url: String,
    /// The remote TSA's certificate (PEM), copied into every package.
    pub tsa_certificate: Option<PathBuf>,
    /// Formats accepted into conservation.
    pub allowed_formats: Vec<String>,
    /// At most this many messages per archival package.
    pub batch_max_messages: usize,
    /// At most about this many message bytes per archival package.
    pub batch_max_bytes: u64,
    /// Seconds a mailbox's first queued message waits for others to join its package.
    pub batch_wait_secs: u64,
    /// Seconds between looks at the ingest queue.
    pub poll_secs: u64,
    /// Seconds between scheduled fixity audits (one day).
    pub audit_interval_secs: u64,
    /// The tier of mailboxes that have none.
    pub default_tier: String,
    /// Quota tiers: name = bytes.
    pub tiers: BTreeMap<String, u64>,
    /// Default retention, in years.
    pub retention_years: u32,
    /// Retention classes: PEC kind = years (others get `retention_years`).
    pub retention_classes: BTreeMap<String, u32>,
}

impl ConservationConfig {
    /// The default tier is one of the tiers, a remote TSA comes with its certificate,
    /// and a package holds at least one message.
    pub(super) fn validate(&self) -> Result<(), String> {
        if !self.tiers.contains_key(&self.default_tier) {
            return Err(format!(
                "conservation.default_tier {:?} is not in conservation.tiers",
                self.default_tier
            ));
        }
        if !self.tsa_url.is_empty() && self.tsa_certificate.is_none() {
            return Err(
                "conservation.tsa_url needs conservation.tsa_certificate (copied into every package)"
                    .to_string(),
            );
        }
        if self.batch_max_messages == 0 {
            return Err("conservation.batch_max_messages must be at least 1".to_string());
        }
        Ok(())
    }
}

impl Default for ConservationConfig {
    fn default() -> Self {
        ConservationConfig {
            enabled: true,
            tsa_url: String::new(),
            tsa_certificate: None,
            allowed_formats: vec!["message/rfc822".into()],
            batch_max_messages: 500,
            batch_max_bytes: 256 << 20,
            batch_wait_secs: 60,
            poll_secs: 5,
            audit_interval_secs: 86_400,
            default_tier: "small".into(),
            tiers: BTreeMap::from([
                ("small".to_string(), 1u64 << 30),
                ("medium".to_string(), 5u64 << 30),
                ("xlarge".to_string(), 25u64 << 30),
            ]),
            retention_years: 10,
            retention_classes: BTreeMap::new(),
        }
    }
}
