//! The listeners `pecd serve` opens: SMTP (submission, submissions, MX), IMAP, the admin
//! API and the web panel, each bound before its task is spawned so that a taken port
//! stops the start with the address named.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::imap;
use crate::net::throttle::AuthThrottle;
use crate::pec::access::Limits;
use crate::provider::Provider;
use crate::smtp::server;
use crate::smtp::server::Endpoint;
use crate::smtp::server::Timeouts;
use crate::smtp::session::Mode;
use crate::smtp::session::SessionConfig;

/// What every listener shares: the config and provider it serves, the TLS certificate
/// and login throttle of all protocols, and the token and tracker its tasks run under.
pub(super) struct Listeners<'a> {
    pub config: &'a Config,
    pub provider: &'a Provider,
    pub acceptor: TlsAcceptor,
    pub throttle: AuthThrottle,
    pub shutdown: &'a CancellationToken,
    pub tracker: &'a TaskTracker,
}

impl Listeners<'_> {
    /// Submission (STARTTLS), submissions (implicit TLS) and MX.
    pub async fn smtp(&self) -> anyhow::Result<()> {
        let listen = &self.config.listen;
        for (address, mode, implicit) in [
            (listen.submission, Mode::Submission, false),
            (listen.submissions, Mode::Submission, true),
            (listen.mx, Mode::Mx, false),
        ] {
            let listener = bind(address).await?;
            let endpoint = Endpoint {
                config: smtp_session(self.config, mode, implicit),
                tls: Some(self.acceptor.clone()),
                backend: self.provider.clone(),
                timeouts: smtp_timeouts(self.config),
                throttle: self.throttle.clone(),
                metrics: self.provider.metrics().clone(),
            };
            self.tracker.spawn(server::run_listener(
                listener,
                endpoint,
                &self.config.limits,
                self.shutdown.clone(),
                self.tracker.clone(),
            ));
            tracing::info!(%address, ?mode, implicit_tls = implicit, "smtp listening");
        }
        Ok(())
    }

    /// IMAP with STARTTLS and with implicit TLS.
    pub async fn imap(&self) -> anyhow::Result<()> {
        let listen = &self.config.listen;
        for (address, implicit_tls) in [(listen.imap, false), (listen.imaps, true)] {
            let listener = bind(address).await?;
            let endpoint = self.imap_endpoint(implicit_tls);
            self.tracker.spawn(imap::server::run_listener(
                listener,
                endpoint,
                &self.config.limits,
                self.shutdown.clone(),
                self.tracker.clone(),
            ));
            tracing::info!(%address, implicit_tls, "imap listening");
        }
        Ok(())
    }

    fn imap_endpoint(&self, implicit_tls: bool) -> imap::server::Endpoint {
        let config = self.config;
        let provider = self.provider;
        imap::server::Endpoint {
            config: imap::session::SessionConfig {
                hostname: config.provider.domain.clone(),
                starttls: !implicit_tls,
                max_append_bytes: u32::try_from(config.limits.max_message_bytes)
                    .unwrap_or(u32::MAX),
            },
            hooks: std::sync::Arc::new(imap::provider_hooks::ProviderHooks {
                conservation_root: config
                    .conservation
                    .enabled
                    .then(|| crate::conservation::archive::packages_dir(&config.provider.data_dir)),
                bucket: provider.store().bucket().cloned(),
            }),
            tls: self.acceptor.clone(),
            implicit_tls,
            store: provider.store().clone(),
            throttle: self.throttle.clone(),
            passwords: provider.passwords().clone(),
            timeouts: imap::server::Timeouts::default(),
            metrics: provider.metrics().clone(),
        }
    }

    /// The admin API with `/metrics` on `[listen] admin` when a token is set; `/metrics`
    /// alone when only `[metrics] public` asks for it.
    pub async fn admin(&self) -> anyhow::Result<()> {
        let (config, provider) = (self.config, self.provider);
        let public = config.metrics.public;
        if config.admin.token.is_empty() && !public {
            tracing::info!("admin API off: no [admin] token configured");
            return Ok(());
        }
        let address = config.listen.admin;
        let listener = bind(address).await?;
        let admission = admission(config);
        let listener = crate::admin::listener::Admitted::new(listener, admission);
        let scrape = crate::admin::scrape::Scrape {
            metrics: provider.metrics().clone(),
            store: provider.store().clone(),
            public,
        };
        if config.admin.token.is_empty() {
            let serving =
                crate::admin::scrape::serve_alone(listener, scrape, self.shutdown.clone());
            self.tracker.spawn(serving);
            return Ok(());
        }
        self.tracker.spawn(crate::admin::serve(
            listener,
            provider.store().clone(),
            super::manage_api(config, provider),
            config.admin.token.clone(),
            scrape,
            self.shutdown.clone(),
        ));
        Ok(())
    }

    /// The web panel on `[listen] web` when set, with the daemon's TLS certificate,
    /// login throttle and password threads.
    pub async fn web(&self) -> anyhow::Result<()> {
        let Some(address) = self.config.listen.web else {
            return Ok(());
        };
        let listener = bind(address).await?;
        let admission = admission(self.config);
        let listener = crate::web::listener::TlsListener::start(
            listener,
            self.acceptor.clone(),
            admission,
            self.shutdown.clone(),
            self.tracker,
        )?;
        let web = crate::web::Web::new(
            super::manage_api(self.config, self.provider),
            self.throttle.clone(),
            self.provider.passwords().clone(),
            crate::web::WebSettings::from_config(self.config),
        );
        self.tracker
            .spawn(crate::web::serve(listener, web, self.shutdown.clone()));
        Ok(())
    }
}

/// The SMTP command and DATA timeouts of `[limits]`.
fn smtp_timeouts(config: &Config) -> Timeouts {
    Timeouts {
        command: Duration::from_secs(config.limits.command_timeout_secs),
        data: Duration::from_secs(config.limits.data_timeout_secs),
        ..Timeouts::default()
    }
}

/// The SMTP session's settings for one listener.
fn smtp_session(config: &Config, mode: Mode, implicit_tls: bool) -> SessionConfig {
    let limits = &config.limits;
    SessionConfig {
        mode,
        hostname: config.provider.domain.clone(),
        max_message_bytes: limits.max_message_bytes,
        // The SMTP cap is looser than the PEC limit on purpose: a message over the PEC
        // limit must reach the access point, which answers with a signed avviso di non
        // accettazione rather than a bare SMTP error (RFC 6109 §3.1.2).
        max_recipients: limits
            .max_recipients
            .max(Limits::REGULATORY_MINIMUM.max_recipients)
            .saturating_mul(4),
        max_auth_failures: limits.max_auth_failures,
        tls_available: true,
        implicit_tls,
    }
}

/// A listening socket on `address`, or an error naming it.
async fn bind(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// The connection caps of `[limits]`, for an HTTP listener.
fn admission(config: &Config) -> crate::net::listener::Admission {
    crate::net::listener::Admission::new(
        config.limits.max_connections,
        config.limits.connections_per_ip,
    )
}
