//! Reload on SIGHUP: `pecd serve` reads its config file again and puts in force what
//! can change under running connections: the signing certificate and key, the
//! conservation seal, the TLS certificate and key (new handshakes get them; open
//! connections keep theirs), the
//! providers index, and the provider's tunable settings (`[limits]` of the access
//! point, `[timers]`, `[mx]`, `[mailbox_types]`, `[clamav]`, `[login]`).
//! Everything new is read and checked first and swapped in only when all of it is
//! good: a config that does not load, a certificate that does not read or match its
//! key, an index that does not parse, and the reload is refused, logged and counted,
//! with the old configuration kept whole. Keys whose change needs a restart (listeners,
//! the data folder, the provider's identity, connection caps, `[routes]`,
//! `[relay]`, `[admin]`) are named in the log when they differ.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::serve::Started;
use crate::config::Config;
use crate::conservation::worker::Gateway;
use crate::crypto::identity::Signer;
use crate::metrics::Metrics;
use crate::net::tls::ServedCertificate;
use crate::provider::Provider;

/// What a reload replaces, and the config in force.
pub struct Reloader {
    path: PathBuf,
    current: Config,
    provider: Provider,
    served: Arc<ServedCertificate>,
    gateway: Arc<std::sync::OnceLock<Arc<Gateway>>>,
    throttle: crate::net::throttle::AuthThrottle,
}

/// A reload's new material, all read before anything is swapped.
struct Loaded {
    config: Config,
    signer: Signer,
    seal: Signer,
    tls: Arc<rustls::sign::CertifiedKey>,
    index: crate::pec::index::ProvidersIndex,
}

impl Reloader {
    /// Reloads `path` into `provider` and what `started` holds; `current` is the
    /// config in force.
    pub fn new(path: &Path, current: Config, provider: Provider, started: Started) -> Reloader {
        Reloader {
            path: path.to_path_buf(),
            current,
            provider,
            served: started.served,
            gateway: started.gateway,
            throttle: started.throttle,
        }
    }

    /// Reads the config again and puts it in force, or keeps the old one whole.
    pub fn reload(&mut self) {
        let metrics = self.provider.metrics().clone();
        match load(&self.path) {
            Ok(loaded) => {
                let restart = needs_restart(&self.current, &loaded.config);
                if !restart.is_empty() {
                    tracing::warn!(keys = %restart.join(", "), "changes not applied until a restart");
                }
                self.apply(loaded);
                metrics.reload(true);
                tracing::info!(path = %self.path.display(), "configuration reloaded");
            }
            Err(error) => {
                metrics.reload(false);
                tracing::error!(path = %self.path.display(), error = %format!("{error:#}"), "configuration not reloaded; the previous one stays in force");
            }
        }
    }

    fn apply(&mut self, loaded: Loaded) {
        let Loaded {
            config,
            signer,
            seal,
            tls,
            index,
        } = loaded;
        let providers = index.providers().len();
        if let Some(gateway) = self.gateway.get() {
            gateway.set_signers(signer.clone(), seal);
        }
        self.provider.set_signer(signer);
        self.served.set(tls);
        self.provider.set_index(index);
        self.provider.set_settings(super::serve::settings(&config));
        let anomaly = crate::provider::delivery_point::AnomalyLimits::from(&config.mx);
        self.provider.set_anomaly_limits(anomaly);
        let policy = super::serve::throttle_policy(&config.login);
        self.throttle.set_policy(policy);
        let metrics = self.provider.metrics();
        metrics.index_loaded(providers, jiff::Timestamp::now());
        watch_certificates(&config, metrics);
        self.current = config;
    }
}

/// Reads and checks everything a reload needs.
fn load(path: &Path) -> anyhow::Result<Loaded> {
    let config = Config::load(path)?;
    let (signer, seal) = super::serve::signers(&config)?;
    let certificates = &config.certificates;
    let tls = ServedCertificate::read(&certificates.tls_certificate, &certificates.tls_key)
        .context("cannot load the TLS certificate")?;
    let index = super::serve::providers_index(&config)?;
    Ok(Loaded {
        config,
        signer,
        seal,
        tls,
        index,
    })
}

/// The keys that differ between `old` and `new` and take effect only at a restart.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let differs = |a: String, b: String| a != b;
    // The parts a reload applies, taken as unchanged for the comparison.
    let mut limits = new.limits.clone();
    limits.max_recipients = old.limits.max_recipients;
    limits.max_total_bytes = old.limits.max_total_bytes;
    let pairs = [
        (
            "provider",
            differs(format!("{:?}", old.provider), format!("{:?}", new.provider)),
        ),
        (
            "listen",
            differs(format!("{:?}", old.listen), format!("{:?}", new.listen)),
        ),
        (
            "limits (but max_recipients and max_total_bytes)",
            differs(format!("{:?}", old.limits), format!("{limits:?}")),
        ),
        ("routes", old.routes != new.routes),
        (
            "relay",
            differs(format!("{:?}", old.relay), format!("{:?}", new.relay)),
        ),
        ("admin", old.admin.token != new.admin.token),
        ("metrics", old.metrics.public != new.metrics.public),
        ("log", old.log.format != new.log.format),
        (
            "conservation",
            differs(
                format!("{:?}", old.conservation),
                format!("{:?}", new.conservation),
            ),
        ),
        (
            "web",
            differs(format!("{:?}", old.web), format!("{:?}", new.web)),
        ),
        (
            "notify",
            differs(format!("{:?}", old.notify), format!("{:?}", new.notify)),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key)
        .collect()
}

/// Watches the expiry of every certificate the config names: the signing and TLS
/// certificates, the conservation seal (the signing certificate when none is set) and
/// the time-stamping authority's (the remote TSA's, or the built-in one once made).
pub fn watch_certificates(config: &Config, metrics: &Metrics) {
    let certificates = &config.certificates;
    metrics.certificate("signing", &certificates.signing_certificate);
    metrics.certificate("tls", &certificates.tls_certificate);
    let seal = certificates
        .conservation_certificate
        .as_ref()
        .unwrap_or(&certificates.signing_certificate);
    metrics.certificate("conservation_seal", seal);
    let built_in = config.provider.data_dir.join("conservation/tsa/tsa.pem");
    match &config.conservation.tsa_certificate {
        Some(tsa) => metrics.certificate("tsa", tsa),
        None if built_in.exists() => metrics.certificate("tsa", &built_in),
        None => {}
    }
}

/// Waits for signals: SIGHUP reloads, SIGINT or SIGTERM returns (shutdown).
pub async fn serve_signals(reloader: &mut Reloader) {
    use tokio::signal::unix::SignalKind;
    use tokio::signal::unix::signal;
    let (Ok(mut terminate), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot watch SIGTERM and SIGHUP; only SIGINT stops pecd");
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate.recv() => return,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                tokio::task::block_in_place(|| reloader.reload());
            }
        }
    }
}
