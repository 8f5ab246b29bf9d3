//! `pecd serve`: wires the provider together and runs it until SIGINT/SIGTERM
//! (the whole object graph is visible here). On a fresh checkout
//! it creates the development certificates and a providers index holding this provider
//! only, and says so.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::config::LoginConfig;
use crate::conservation::worker::Gateway;
use crate::crypto::identity::Signer;
use crate::crypto::trust;
use crate::manage::mailboxes::Activation;
use crate::manage::mailboxes::LinkReason;
use crate::net::throttle::AuthThrottle;
use crate::net::throttle::ThrottlePolicy;
use crate::net::tls;
use crate::pec::access::Limits;
use crate::pec::compose::Issuer;
use crate::pec::index::ProvidersIndex;
use crate::provider::Provider;
use crate::provider::Settings;
use crate::provider::TimerDurations;
use crate::provider::clamd::Clamd;
use crate::provider::clamd::ClamdAddress;
use crate::provider::mx::Directory;
use crate::provider::relay;
use crate::provider::relay::Pacing;
use crate::provider::timers;
use crate::smtp::client::ClientOptions;
use crate::smtp::client::ClientTimeouts;
use crate::store::Store;
use crate::store::mailbox::SendingLimits;

mod listeners;

use listeners::Listeners;

/// The file, in the data folder, holding the first gestore's password.
pub const FIRST_PASSWORD_FILE: &str = "admin-password";

/// On a provider with no gestore operator yet, creates `admin` with a random password
/// and writes it to [`FIRST_PASSWORD_FILE`], so the web panel can be reached on the
/// first start.
fn first_gestore(config: &Config, store: &Store) -> anyhow::Result<()> {
    if crate::manage::operators::has_gestore(store)? {
        return Ok(());
    }
    create_first_gestore(config, store)
}

/// Creates `admin`, unless another node of the cluster just did.
fn create_first_gestore(config: &Config, store: &Store) -> anyhow::Result<()> {
    let mut secret = [0u8; 12];
    openssl::rand::rand_bytes(&mut secret).context("no randomness for the first password")?;
    let password = hex::encode(secret);
    // Written where only the daemon's user can read it, never logged: logs travel to
    // places a password must not.
    let path = config.provider.data_dir.join(FIRST_PASSWORD_FILE);
    let line = format!("{password}\n");
    super::files::write_file(&path, line.as_bytes(), super::files::Audience::Owner)?;
    let new = crate::manage::operators::NewOperator {
        username: "admin".to_string(),
        role: "gestore".to_string(),
        ente: None,
        domains: Vec::new(),
        email: None,
        password,
    };
    let actor = crate::manage::Actor::gestore(crate::manage::SERVE);
    let added = crate::manage::operators::add(
        store,
        &actor,
        &config.provider.domain,
        &new,
        jiff::Timestamp::now(),
    );
    if let Err(crate::manage::ManageError::Exists(_)) = added {
        // Another node of the cluster, starting at the same time, created it: its
        // password is in that node's data folder, and this one would open nothing.
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    added.context("cannot create the first gestore operator")?;
    tracing::warn!(
        username = "admin",
        password_file = %path.display(),
        url = %config.web_url(),
        "created the first gestore operator of the web panel; its password is in the file: change it, then delete the file"
    );
    Ok(())
}

/// The management API's state: the store, the rules' settings, and the activation
/// mails queued through [`crate::notify`].
pub fn manage_api(config: &Config, provider: &Provider) -> crate::admin::manage_api::ManageApi {
    let notify = crate::notify::NotifySettings::from_config(config);
    let on_activation = move |tx: &mut crate::store::Tx<'_>, activation: &Activation| {
        let now = jiff::Timestamp::now();
        let (address, to) = (&activation.address, &activation.recipients);
        match activation.reason {
            LinkReason::Activation => {
                crate::notify::queue_activation(tx, &notify, address, to, now)
            }
            LinkReason::NewPassword => {
                crate::notify::queue_new_password(tx, &notify, address, to, now)
            }
        }
    };
    crate::admin::manage_api::ManageApi {
        store: provider.store().clone(),
        settings: std::sync::Arc::new(crate::manage::mailboxes::Settings {
            domain: config.provider.domain.clone(),
            types: config.mailbox_types.clone(),
        }),
        on_activation: std::sync::Arc::new(on_activation),
    }
}

/// Runs the provider until a shutdown signal.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    if super::init::ensure_dev_certificates(&config)? {
        tracing::warn!(dir = %config.certificates.signing_certificate.parent().map(|p| p.display().to_string()).unwrap_or_default(),
            "created development certificates (a dev CA, TLS and signing certificates); never use them in production");
    }
    super::files::warn_if_exposed(config_path, &config);
    if !config.index.ldif.exists() {
        let entry = super::index::entry(&config, vec![config.provider.domain.clone()])?;
        std::fs::write(&config.index.ldif, entry)
            .with_context(|| format!("cannot write {}", config.index.ldif.display()))?;
        tracing::warn!(path = %config.index.ldif.display(), "created a providers index holding this provider only");
    }
    let provider = build(&config)?;
    first_gestore(&config, provider.store())?;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    // The run the AgID statistics' outages are told from: recorded before the
    // listeners open, so a start that fails is downtime too.
    let store = provider.store().clone();
    let run = crate::stats::uptime::started(&store).context("cannot record the start")?;
    let started = start(&config, &provider, &shutdown, &tracker).await?;
    tracker.spawn(crate::stats::uptime::heartbeat(
        store.clone(),
        run,
        shutdown.clone(),
    ));
    super::reload::watch_certificates(&config, provider.metrics());
    tracing::info!(domain = %config.provider.domain, "pecd running");

    let mut reloader = super::reload::Reloader::new(config_path, config, provider, started);
    super::reload::serve_signals(&mut reloader).await;
    tracing::info!("shutting down");
    let stopping = jiff::Timestamp::now();
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    crate::stats::uptime::stopped(&store, run, stopping).context("cannot record the clean stop")?;
    Ok(())
}

/// The provider's signing identity and the conservation seal (the signing identity
/// itself when the config names no seal of its own).
pub(super) fn signers(config: &Config) -> anyhow::Result<(Signer, Signer)> {
    let certificates = &config.certificates;
    let signer = Signer::load(&certificates.signing_certificate, &certificates.signing_key)
        .context("cannot load the signing certificate")?;
    let seal = match (
        &certificates.conservation_certificate,
        &certificates.conservation_key,
    ) {
        (Some(certificate), Some(key)) => {
            Signer::load(certificate, key).context("cannot load the conservation seal")?
        }
        _ => signer.clone(),
    };
    Ok((signer, seal))
}

/// The providers index `[index] ldif` names.
pub(super) fn providers_index(config: &Config) -> anyhow::Result<ProvidersIndex> {
    let loaded = trust::load_index_file(&config.index.ldif, None).with_context(|| {
        format!(
            "cannot load the providers index {}",
            config.index.ldif.display()
        )
    })?;
    Ok(loaded.index)
}

/// The provider a config describes: store, signing key, index.
pub fn build(config: &Config) -> anyhow::Result<Provider> {
    super::files::create_private_dir(&config.provider.data_dir)?;
    let store = super::store::open(config).context("cannot open the store")?;
    let (signer, _) = signers(config)?;
    let index = providers_index(config)?;
    let metrics = crate::metrics::Metrics::new(store.commit_meter());
    metrics.index_loaded(index.providers().len(), jiff::Timestamp::now());
    let settings = settings(config);
    // Other providers are trusted through the index (certificate hash and equality,
    // RFC 6109 §4.5), not through a public trust store: no anchors for chain checks.
    Provider::new(settings, store, signer, index, None)
        .with_anomaly_limits(crate::provider::delivery_point::AnomalyLimits::from(
            &config.mx,
        ))
        .and_then(|provider| provider.with_metrics(metrics))
        .context("the provider was shared before its [mx] limits and metrics were set")
}

/// The provider's settings a config gives: read at start and at every reload.
pub fn settings(config: &Config) -> Settings {
    Settings {
        issuer: Issuer {
            domain: config.provider.domain.clone(),
            name: config.provider.name.clone(),
        },
        limits: Limits {
            max_recipients: config.limits.max_recipients,
            max_total_bytes: config.limits.max_total_bytes,
        }
        .at_least_regulatory(),
        timers: TimerDurations {
            warning: Duration::from_secs(config.timers.warning_secs),
            last: Duration::from_secs(config.timers.final_secs),
        },
        accept_ordinary_mail: config.mx.accept_ordinary_mail,
        sending: config
            .mailbox_types
            .iter()
            .map(|(kind, limits)| {
                let sending = SendingLimits {
                    max_recipients: limits.max_recipients,
                    max_per_day: limits.max_messages_per_day,
                };
                (*kind, sending)
            })
            .collect(),
        clamd: config.clamav.enabled.then(|| {
            Clamd::new(
                ClamdAddress::parse(&config.clamav.address),
                Duration::from_secs(config.clamav.timeout_secs),
            )
        }),
        routes: config
            .routes
            .iter()
            .map(|(d, t)| (d.to_ascii_lowercase(), t.clone()))
            .collect(),
    }
}

/// What a reload replaces beside the provider's own parts: the TLS certificate the
/// listeners serve, and the conservation gateway's signers once it is open.
pub struct Started {
    /// The listeners' certificate.
    pub served: std::sync::Arc<tls::ServedCertificate>,
    /// The conservation gateway, set when its task has opened it.
    pub gateway: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Gateway>>>,
    /// The login throttle SMTP, IMAP and the web panel share.
    pub throttle: AuthThrottle,
}

/// Binds every listener and spawns every task.
pub async fn start(
    config: &Config,
    provider: &Provider,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<Started> {
    let certificates = &config.certificates;
    let served = tls::ServedCertificate::new(&certificates.tls_certificate, &certificates.tls_key)
        .context("cannot load the TLS certificate")?;
    let acceptor = TlsAcceptor::from(
        tls::reloadable_server_config(std::sync::Arc::clone(&served))
            .context("cannot load the TLS certificate")?,
    );
    let throttle = AuthThrottle::new(throttle_policy(&config.login));
    let listeners = Listeners {
        config,
        provider,
        acceptor,
        throttle: throttle.clone(),
        shutdown,
        tracker,
    };
    listeners.smtp().await?;
    listeners.imap().await?;
    start_outbound(config, provider, shutdown, tracker)?;
    listeners.admin().await?;
    listeners.web().await?;
    start_control(config, provider, shutdown, tracker)?;
    let gateway = start_conservation(config, provider, shutdown, tracker);
    start_index_updates(config, provider, shutdown, tracker)?;
    Ok(Started {
        served,
        gateway,
        throttle,
    })
}

/// What leaves the provider on its own: the relay to other providers, the activation
/// mails, and the 12 h / 24 h timers.
fn start_outbound(
    config: &Config,
    provider: &Provider,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<()> {
    let options = ClientOptions {
        helo: config.provider.domain.clone(),
        tls: tls::client_config(&config.relay.tls_roots)
            .context("cannot load [relay] tls_roots")?,
        require_tls: true,
        timeouts: ClientTimeouts::default(),
    };
    let pacing = Pacing {
        retry_base: Duration::from_secs(config.relay.retry_base_secs),
        give_up: Duration::from_secs(config.relay.give_up_secs),
    };
    let directory = Directory::new(
        provider.settings().routes.clone(),
        &config.relay.nameservers,
        config.relay.mx_port,
    );
    // The relay's claims on a cluster hold while this node beats.
    provider.store().start_heartbeat();
    tracker.spawn(relay::run(
        provider.clone(),
        directory,
        options,
        pacing,
        shutdown.clone(),
    ));
    tracker.spawn(crate::notify::mailer::run(
        provider.store().clone(),
        crate::notify::NotifySettings::from_config(config),
        crate::notify::mailer::Transport::from_config(config)
            .context("cannot start the notify mailer")?,
        shutdown.clone(),
    ));
    tracker.spawn(timers::run(
        provider.clone(),
        Duration::from_secs(config.timers.tick_secs.max(1)),
        shutdown.clone(),
    ));
    Ok(())
}

/// The control socket: operator commands run while the daemon holds the store come in
/// here.
fn start_control(
    config: &Config,
    provider: &Provider,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<()> {
    let data_dir = config.provider.data_dir.clone();
    let listener = crate::control::bind(&data_dir).with_context(|| {
        format!(
            "cannot listen on {}",
            crate::control::socket_path(&data_dir).display()
        )
    })?;
    let store = provider.store().clone();
    tracker.spawn(crate::control::serve(
        listener,
        shutdown.clone(),
        move |request, out| super::store::serve_request(&store, &data_dir, request, out),
    ));
    Ok(())
}

/// Conservation: the ingest and audit worker, opened off the async threads (the first
/// start creates the built-in TSA key); delivery never waits on it. The slot returned
/// holds the gateway once it is open, for reloads.
fn start_conservation(
    config: &Config,
    provider: &Provider,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Gateway>>> {
    let gateway = std::sync::Arc::new(std::sync::OnceLock::new());
    if !config.conservation.enabled {
        return gateway;
    }
    let slot = std::sync::Arc::clone(&gateway);
    let (config, store) = (config.clone(), provider.store().clone());
    let (source, token) = (provider.clone(), shutdown.clone());
    let watched = config.clone();
    tracker.spawn(async move {
        let opened =
            tokio::task::spawn_blocking(move || super::conservation::gateway(&config, store)).await;
        match opened {
            Ok(Ok(gateway)) => {
                // The built-in TSA's certificate exists from here on.
                super::reload::watch_certificates(&watched, source.metrics());
                let metrics = source.metrics().clone();
                let index = move || source.index();
                let gateway = std::sync::Arc::new(gateway);
                let _ = slot.set(std::sync::Arc::clone(&gateway));
                crate::conservation::task::run(gateway, index, metrics, token).await;
            }
            Ok(Err(error)) => {
                tracing::error!(error = %format!("{error:#}"), "conservation not started")
            }
            Err(error) => tracing::error!(%error, "conservation not started"),
        }
    });
    gateway
}

/// The providers index kept current: reloaded when its file changes, and downloaded
/// from `[index] url` when one is set.
fn start_index_updates(
    config: &Config,
    provider: &Provider,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<()> {
    tracker.spawn(watch_index(
        provider.clone(),
        config.index.ldif.clone(),
        shutdown.clone(),
    ));
    let status = provider.index_status().clone();
    if let Some(fetcher) =
        crate::provider::index_fetch::IndexFetcher::from_config(&config.index, status)?
    {
        tracker.spawn(crate::provider::index_fetch::run(
            fetcher,
            provider.clone(),
            shutdown.clone(),
        ));
    }
    Ok(())
}

/// Reloads the providers index when its file changes.
async fn watch_index(provider: Provider, path: std::path::PathBuf, shutdown: CancellationToken) {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = shutdown.cancelled() => return,
        }
        let now = modified(&path);
        if now != seen {
            seen = now;
            match trust::load_index_file(&path, None) {
                Ok(loaded) => {
                    let providers = loaded.index.providers().len();
                    provider.set_index(loaded.index);
                    provider
                        .metrics()
                        .index_loaded(providers, jiff::Timestamp::now());
                    tracing::info!(path = %path.display(), providers, "providers index reloaded");
                }
                Err(error) => {
                    provider.metrics().index_refused();
                    tracing::error!(%error, "providers index not reloaded; keeping the previous one")
                }
            }
        }
    }
}

/// The throttle's limits from `[login]`; the delays before checks keep their defaults.
pub(crate) fn throttle_policy(login: &LoginConfig) -> ThrottlePolicy {
    ThrottlePolicy {
        lock_after_failures: login.failures_per_address.get(),
        lock_duration: Duration::from_secs(login.address_lock_secs.get()),
        failures_per_address_account: login.failures_per_address_account.get(),
        failures_per_account: login.failures_per_account.get(),
        account_release: Duration::from_secs(login.account_release_secs.get()),
        trusted_address: Duration::from_secs(login.trusted_address_secs),
        max_tracked: login.max_tracked_entries.get(),
        max_pending_checks: login.max_pending_checks.get(),
        ..ThrottlePolicy::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::pg::server::Server;

    /// Two nodes starting together on a new cluster both find no gestore and both
    /// create one: the second finds the name taken, starts all the same, and leaves
    /// no password file that would open nothing.
    #[test]
    fn two_nodes_creating_the_first_gestore_at_once_both_start() {
        let Some(server) = Server::start() else {
            return;
        };
        let nodes: Vec<_> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let text = format!(
                    "[provider]\ndomain = \"a.test\"\nname = \"A\"\ndata_dir = \"{}\"\n",
                    dir.path().display()
                );
                let config = Config::parse(&text, dir.path()).unwrap();
                let store = Store::cluster(&server.url(), None, dir.path()).unwrap();
                (dir, config, store)
            })
            .collect();
        for (_, config, store) in &nodes {
            create_first_gestore(config, store).unwrap();
        }
        assert!(nodes[0].0.path().join(FIRST_PASSWORD_FILE).exists());
        assert!(!nodes[1].0.path().join(FIRST_PASSWORD_FILE).exists());
        assert!(crate::manage::operators::has_gestore(&nodes[1].2).unwrap());
    }
}
