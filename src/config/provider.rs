//! Who the provider is and where it listens: `[provider]`, `[certificates]` and
//! `[listen]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

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

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
