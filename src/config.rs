//! The configuration: one typed tree read from TOML, the operator's interface to the
//! ports, limits and certificates. Unknown keys are errors; paths are relative to the
//! config file's folder; every key is documented in `config/pecd.example.toml`, which a
//! test loads.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;

use crate::mail::address::Address;
pub use crate::store::mailbox::MailboxType;

mod agid;
mod conservation;
mod delivery;
mod limits;
mod management;
mod ops;
mod provider;
mod store;

pub use agid::IndexConfig;
pub use agid::StatsConfig;
pub use conservation::ConservationConfig;
pub use delivery::ClamavConfig;
pub use delivery::RelayConfig;
pub use delivery::TimersConfig;
pub use limits::LimitsConfig;
pub use limits::LoginConfig;
pub use limits::MxConfig;
pub use management::AdminConfig;
pub use management::MIN_RECIPIENTS;
pub use management::MailboxTypeConfig;
pub use management::NotifyConfig;
pub use management::WebConfig;
pub use ops::LogConfig;
pub use ops::LogFormat;
pub use ops::MetricsConfig;
pub use provider::CertificatesConfig;
pub use provider::ListenConfig;
pub use provider::ProviderConfig;
pub use store::Backend;
pub use store::S3Config;
pub use store::StoreConfig;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[provider]`: who we are.
    pub provider: ProviderConfig,
    /// `[certificates]`: signing and TLS material.
    #[serde(default)]
    pub certificates: CertificatesConfig,
    /// `[index]`: the providers index.
    #[serde(default)]
    pub index: IndexConfig,
    /// `[routes]`: domain → `host:port` of that provider's punto di ricezione.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// `[listen]`: socket addresses of the listeners.
    #[serde(default)]
    pub listen: ListenConfig,
    /// `[limits]`: sizes, counts and timeouts.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[timers]`: the 12 h / 24 h PEC timers.
    #[serde(default)]
    pub timers: TimersConfig,
    /// `[relay]`: outbound delivery to other providers.
    #[serde(default)]
    pub relay: RelayConfig,
    /// `[mx]`: the punto di ricezione.
    #[serde(default)]
    pub mx: MxConfig,
    /// `[clamav]`: virus checks.
    #[serde(default)]
    pub clamav: ClamavConfig,
    /// `[admin]`: the admin HTTP API.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[conservation]`: the conservation gateway.
    #[serde(default)]
    pub conservation: ConservationConfig,
    /// `[login]`: password-guessing defences of SMTP AUTH and IMAP LOGIN.
    #[serde(default)]
    pub login: LoginConfig,
    /// `[web]`: the web panel.
    #[serde(default)]
    pub web: WebConfig,
    /// `[notify]`: ordinary mail to people (activation links).
    #[serde(default)]
    pub notify: NotifyConfig,
    /// `[metrics]`: the Prometheus endpoint on the admin listener.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[log]`: the daemon's log format.
    #[serde(default)]
    pub log: LogConfig,
    /// `[mailbox_types.<TYPE>]`: quotas and sending limits of each mailbox type.
    #[serde(default = "MailboxTypeConfig::defaults")]
    pub mailbox_types: BTreeMap<MailboxType, MailboxTypeConfig>,
    /// `[stats]`: the AgID statistics.
    #[serde(default)]
    pub stats: StatsConfig,
    /// `[store]`: the engine that holds the data.
    #[serde(default)]
    pub store: StoreConfig,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads, parses and validates a config file; relative paths become relative to
    /// the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|error| match error {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            },
            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string().trim().to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: PathBuf::new(),
            message,
        })?;
        config.resolve(base);
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let service = crate::pec::headers::service_address(&self.provider.domain);
        Address::parse(&service).map_err(|_| {
            format!(
                "provider.domain {:?} is not a mail domain",
                self.provider.domain
            )
        })?;
        if self.provider.name.trim().is_empty() {
            return Err("provider.name is empty".to_string());
        }
        if !(1024..=16384).contains(&self.certificates.key_bits) {
            return Err(format!(
                "certificates.key_bits {} is outside 1024..=16384",
                self.certificates.key_bits
            ));
        }
        for (domain, target) in &self.routes {
            if !is_host_port(target) {
                return Err(format!("routes.{domain:?} = {target:?} is not host:port"));
            }
        }
        self.limits.validate()?;
        self.conservation.validate()?;
        self.validate_mailbox_types()?;
        self.validate_agid()?;
        self.notify.validate()?;
        self.store.validate()?;
        Ok(())
    }

    /// Every type is configured (a partial table would leave mailboxes without limits),
    /// and none allows less than the regulation's recipient minimum of a message.
    fn validate_mailbox_types(&self) -> Result<(), String> {
        for kind in MailboxType::ALL {
            let Some(limits) = self.mailbox_types.get(&kind) else {
                return Err(format!("mailbox_types.{} is missing", kind.as_str()));
            };
            if limits.max_recipients < MIN_RECIPIENTS {
                return Err(format!(
                    "mailbox_types.{}.max_recipients {} is below the minimum of {}",
                    kind.as_str(),
                    limits.max_recipients,
                    MIN_RECIPIENTS
                ));
            }
        }
        Ok(())
    }

    /// The sender of ordinary mail to people.
    pub fn notify_from(&self) -> String {
        if self.notify.from.is_empty() {
            format!("noreply@{}", self.provider.domain)
        } else {
            self.notify.from.clone()
        }
    }

    /// The web panel's public base URL, without a trailing slash; empty when there is
    /// no panel.
    pub fn web_url(&self) -> String {
        if !self.web.url.is_empty() {
            return self.web.url.trim_end_matches('/').to_string();
        }
        self.listen
            .web
            .map(|address| format!("https://{address}"))
            .unwrap_or_default()
    }

    /// Makes relative paths relative to `base` (the config file's folder).
    pub(crate) fn resolve(&mut self, base: &Path) {
        let join = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        join(&mut self.provider.data_dir);
        join(&mut self.index.ldif);
        if let Some(path) = &mut self.index.signer_ca {
            join(path);
        }
        for path in &mut self.index.tls_roots {
            join(path);
        }
        if let Some(path) = &mut self.conservation.tsa_certificate {
            join(path);
        }
        let certs = &mut self.certificates;
        for path in [
            &mut certs.ca,
            &mut certs.signing_certificate,
            &mut certs.signing_key,
            &mut certs.tls_certificate,
            &mut certs.tls_key,
        ] {
            join(path);
        }
        for path in [
            &mut certs.conservation_certificate,
            &mut certs.conservation_key,
        ]
        .into_iter()
        .flatten()
        {
            join(path);
        }
    }

    /// The text `pecd init` writes: a complete, runnable provider configuration.
    pub fn template(domain: &str, name: &str, port_base: u16, admin_token: &str) -> String {
        let listen = ListenConfig::from_port_base(port_base);
        let web = listen.web.map(|a| a.to_string()).unwrap_or_default();
        let name = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!(
            "# pecd provider {domain}, written by `pecd init`. Every key is documented in\n\
             # config/pecd.example.toml of the pecd source tree.\n\n\
             [provider]\ndomain = \"{domain}\"\nname = \"{name}\"\ndata_dir = \"data\"\n\n\
             [certificates]\nca = \"certs/ca.pem\"\nsigning_certificate = \"certs/signing.pem\"\n\
             signing_key = \"certs/signing.key\"\ntls_certificate = \"certs/tls.pem\"\n\
             tls_key = \"certs/tls.key\"\nkey_bits = 2048\n\
             conservation_certificate = \"certs/conservation.pem\"\n\
             conservation_key = \"certs/conservation.key\"\n\n\
             [index]\nldif = \"index.ldif\"\n\n\
             [admin]\ntoken = \"{admin_token}\"\n\n\
             [routes]\n\n\
             [listen]\nsubmission = \"{}\"\nsubmissions = \"{}\"\nmx = \"{}\"\nimap = \"{}\"\nimaps = \"{}\"\nadmin = \"{}\"\nweb = \"{}\"\n",
            listen.submission,
            listen.submissions,
            listen.mx,
            listen.imap,
            listen.imaps,
            listen.admin,
            web
        )
    }
}

/// Whether `text` ends in `:port`.
fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .is_some()
}

#[cfg(test)]
mod tests;
