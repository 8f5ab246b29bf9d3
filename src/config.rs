//! The configuration: one typed tree read from TOML, the operator's interface to the
//! ports, limits and certificates. Unknown keys are errors; paths are relative to the
//! config file's folder; every key is documented in `config/pecd.example.toml`, which a
//! test loads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;

use crate::mail::address::Address;
pub use crate::store::mailbox::MailboxType;

mod agid;
mod limits;

pub use agid::IndexConfig;
pub use agid::StatsConfig;
pub use limits::LimitsConfig;
pub use limits::LoginConfig;
pub use limits::MxConfig;

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
    /// `[mailbox_types.<TYPE>]`: quotas and sending limits of each mailbox type.
    #[serde(default = "MailboxTypeConfig::defaults")]
    pub mailbox_types: BTreeMap<MailboxType, MailboxTypeConfig>,
    /// `[stats]`: the AgID statistics.
    #[serde(default)]
    pub stats: StatsConfig,
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

/// `[provider]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Mail domain; receipts come from `posta-certificata@<domain>`.
    pub domain: String,
    /// Provider name, written as `<gestore-emittente>` in daticert.xml.
    pub name: String,
    /// Where the store lives.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The provider's code in the AgID statistics (CodGestPEC, CodConservatore):
    /// `TIN-<codice fiscale>`, `VAT-<partita IVA>` or `IPA-<code>`; empty: no statistics.
    #[serde(default)]
    pub codice: String,
}

/// `[certificates]`: file paths of the provider's keys and certificates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesConfig {
    /// Trust anchor(s) for chain checks (PEM); in development, the dev CA.
    pub ca: PathBuf,
    /// The S/MIME signing certificate (PEM, leaf first, then any chain).
    pub signing_certificate: PathBuf,
    /// Its private key (PEM).
    pub signing_key: PathBuf,
    /// The TLS server certificate (PEM chain).
    pub tls_certificate: PathBuf,
    /// Its private key (PEM).
    pub tls_key: PathBuf,
    /// RSA key size for keys pecd creates itself (development certificates).
    pub key_bits: u32,
    /// The conservation seal (PEM): signs the archival packages' indexes and the
    /// rapporti di versamento. Unset: the provider's signing certificate does.
    pub conservation_certificate: Option<PathBuf>,
    /// Its private key (PEM).
    pub conservation_key: Option<PathBuf>,
}

impl Default for CertificatesConfig {
    fn default() -> Self {
        CertificatesConfig {
            ca: "certs/ca.pem".into(),
            signing_certificate: "certs/signing.pem".into(),
            signing_key: "certs/signing.key".into(),
            tls_certificate: "certs/tls.pem".into(),
            tls_key: "certs/tls.key".into(),
            conservation_certificate: None,
            conservation_key: None,
            key_bits: 2048,
        }
    }
}

/// `[listen]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// SMTP submission with STARTTLS.
    pub submission: SocketAddr,
    /// SMTP submission with implicit TLS.
    pub submissions: SocketAddr,
    /// SMTP from other providers (punto di ricezione).
    pub mx: SocketAddr,
    /// IMAP with STARTTLS.
    pub imap: SocketAddr,
    /// IMAP with implicit TLS.
    pub imaps: SocketAddr,
    /// The admin HTTP API.
    pub admin: SocketAddr,
    /// HTTPS: the web panel and the JSON API with an operator session; absent, no panel.
    #[serde(default)]
    pub web: Option<SocketAddr>,
}

impl ListenConfig {
    /// The documented port layout: base+0 … base+6 on loopback.
    pub fn from_port_base(base: u16) -> ListenConfig {
        let at = |offset: u16| SocketAddr::from(([127, 0, 0, 1], base.saturating_add(offset)));
        ListenConfig {
            submission: at(0),
            submissions: at(1),
            mx: at(2),
            imap: at(3),
            imaps: at(4),
            admin: at(5),
            web: Some(at(6)),
        }
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig::from_port_base(2587)
    }
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
        let conservation = &self.conservation;
        if !conservation.tiers.contains_key(&conservation.default_tier) {
            return Err(format!(
                "conservation.default_tier {:?} is not in conservation.tiers",
                conservation.default_tier
            ));
        }
        if !conservation.tsa_url.is_empty() && conservation.tsa_certificate.is_none() {
            return Err(
                "conservation.tsa_url needs conservation.tsa_certificate (copied into every package)"
                    .to_string(),
            );
        }
        if conservation.batch_max_messages == 0 {
            return Err("conservation.batch_max_messages must be at least 1".to_string());
        }
        self.validate_mailbox_types()?;
        self.validate_agid()?;
        if !self.notify.smtp.is_empty() && !is_host_port(&self.notify.smtp) {
            return Err(format!(
                "notify.smtp {:?} is not host:port",
                self.notify.smtp
            ));
        }
        if !self.notify.from.is_empty() && Address::parse(&self.notify.from).is_err() {
            return Err(format!(
                "notify.from {:?} is not a mail address",
                self.notify.from
            ));
        }
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

    fn resolve(&mut self, base: &Path) {
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

fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .is_some()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[cfg(test)]
mod tests;
