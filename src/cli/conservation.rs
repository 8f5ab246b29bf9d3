//! `pecd conservation …` (CONTRACT.md): `audit`, `export`, `verify-package`, `search`,
//! plus `ingest` (package what is queued now), `tier` (set a mailbox's quota tier) and
//! `status`. The subcommand enum lives here so `main.rs` only forwards to it.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;

use crate::config::Config;
use crate::conservation::worker::Gateway;
use crate::conservation::worker::Settings;
use crate::crypto::identity::Signer;
use crate::crypto::trust;
use crate::store::Store;

/// The `pecd conservation` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConservationCommand {
    /// Fixity audit of every stored package: re-hash, signatures, time stamps.
    Audit {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a pacchetto di distribuzione (ZIP; AES-256 with --password-stdin).
    Export {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// The ZIP to write.
        #[arg(long)]
        output: PathBuf,
        /// Packages sealed not before (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Packages sealed not after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Read a password from stdin and encrypt every entry (AES-256).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Check an exported package offline; exit 0 only if everything holds.
    VerifyPackage {
        /// The ZIP.
        file: PathBuf,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// CA certificates (PEM) signatures and time stamps must chain to; without,
        /// the CA the package carries is used. Repeatable.
        #[arg(long)]
        ca: Vec<PathBuf>,
    },
    /// Search conserved messages.
    Search {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// Words to find (subject, body, sender, recipients, attachment names);
        /// `kind:ricevuta…`, `since:DATE`, `until:DATE` filter.
        query: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Package every queued message now (the daemon does this on its own).
    Ingest {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Set a mailbox's conservation quota tier (raising it resumes a paused ingest).
    Tier {
        /// The mailbox.
        address: String,
        /// A tier of `[conservation.tiers]`.
        tier: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Disposal proposals (scarto): packages past their retention; nothing is deleted.
    Disposal {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Evaluate at this time instead of now (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        at: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke conservation for a mailbox: its rule becomes `off` and a full export is
    /// written, downloadable for 30 days through the recorded link token.
    Revoke {
        /// The mailbox.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Read a password from stdin and encrypt the export (AES-256).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a mailbox's rapporti di versamento (all, or one SIP's), with where each
    /// signed copy is.
    Rdv {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// One SIP (`pdv-…`).
        sip: Option<String>,
    },
    /// Queue length, packages and each mailbox's account.
    Status {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Runs a subcommand.
pub fn run(command: ConservationCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConservationCommand::Audit { config, json } => audit(&config, json),
        ConservationCommand::Export {
            config,
            mailbox,
            output,
            since,
            until,
            password_stdin,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            export(
                &config,
                &mailbox,
                &output,
                since.as_deref(),
                until.as_deref(),
                password.as_deref(),
            )
        }
        ConservationCommand::VerifyPackage {
            file,
            password_stdin,
            ca,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            verify_package(&file, password.as_deref(), &ca)
        }
        ConservationCommand::Search {
            config,
            mailbox,
            query,
            json,
        } => search(&config, &mailbox, &query, json),
        ConservationCommand::Ingest { config } => {
            let (gateway, index) = open(&config)?;
            let drained = gateway.drain(Some(&index), Timestamp::now(), true)?;
            println!(
                "{} package(s), {} message(s) conserved, {} refused{}",
                drained.packages.len(),
                drained.conserved,
                drained.refused,
                if drained.paused.is_empty() {
                    String::new()
                } else {
                    format!("; paused by quota: {}", drained.paused.join(", "))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        ConservationCommand::Tier {
            address,
            tier,
            config,
        } => set_tier(&config, &address, &tier),
        ConservationCommand::Status { config } => status(&config),
        ConservationCommand::Rdv {
            config,
            mailbox,
            sip,
        } => rdv(&config, &mailbox, sip.as_deref()),
        ConservationCommand::Revoke {
            address,
            config,
            password_stdin,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            revoke(&config, &address, password.as_deref())
        }
        ConservationCommand::Disposal { config, at, json } => {
            disposal(&config, at.as_deref(), json)
        }
    }
}

/// Reads one line from stdin as the password.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The gateway's settings from a config.
pub fn settings(config: &Config) -> Settings {
    let c = &config.conservation;
    let ca_key = config.certificates.ca.with_extension("key");
    Settings {
        provider_name: config.provider.name.clone(),
        domain: config.provider.domain.clone(),
        tsa_url: (!c.tsa_url.is_empty()).then(|| c.tsa_url.clone()),
        tsa_certificate: c.tsa_certificate.clone(),
        ca: Some((config.certificates.ca.clone(), ca_key)),
        allowed_formats: c.allowed_formats.clone(),
        batch_max: c.batch_max_messages,
        batch_max_bytes: c.batch_max_bytes,
        batch_wait: Duration::from_secs(c.batch_wait_secs),
        poll: Duration::from_secs(c.poll_secs.max(1)),
        audit_interval: Duration::from_secs(c.audit_interval_secs.max(60)),
        tiers: c.tiers.clone(),
        default_tier: c.default_tier.clone(),
        retention: crate::conservation::retention::Classes {
            default_years: c.retention_years,
            by_kind: c.retention_classes.clone(),
        },
    }
}

/// The gateway over an open store.
pub fn gateway(config: &Config, store: Store) -> anyhow::Result<Gateway> {
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
    Gateway::open(
        store,
        &config.provider.data_dir,
        signer,
        seal,
        settings(config),
    )
    .context("cannot open the conservation archive")
}

fn open(path: &Path) -> anyhow::Result<(Gateway, crate::pec::index::ProvidersIndex)> {
    let config = Config::load(path)?;
    let store = Store::open(&config.provider.data_dir).context("cannot open the store")?;
    let index = trust::load_index_file(&config.index.ldif, None)
        .map(|loaded| loaded.index)
        .unwrap_or_default();
    Ok((gateway(&config, store)?, index))
}

fn audit(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (gateway, _) = open(path)?;
    let report = gateway.audit(Timestamp::now())?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for (package, problem) in &report.problems {
            println!("{package}: {problem}");
        }
        for folder in &report.unrecorded {
            println!(
                "note: {folder}: folder not recorded as a package (left by an interrupted ingest; its messages were packaged again)"
            );
        }
        println!(
            "{} package(s) audited, {} problem(s)",
            report.packages,
            report.problems.len()
        );
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn set_tier(path: &Path, address: &str, tier: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let quota = *config
        .conservation
        .tiers
        .get(tier)
        .with_context(|| format!("no tier {tier:?} in [conservation.tiers]"))?;
    let store = Store::open(&config.provider.data_dir).context("cannot open the store")?;
    let account = store.write(|tx| {
        if tx.mailbox(address)?.is_none() {
            return Err(crate::store::StoreError::NoSuchMailbox(address.to_string()));
        }
        tx.update_account(address, |a| {
            a.tier = tier.to_string();
            // Alerts are per crossing of the current quota: re-arm those now below.
            a.alerted_70 &= a.used_bytes.saturating_mul(100) >= quota.saturating_mul(70);
            a.alerted_90 &= a.used_bytes.saturating_mul(100) >= quota.saturating_mul(90);
            a.paused = false;
        })
    })?;
    println!(
        "{address}: tier {tier} ({quota} bytes), {} bytes conserved",
        account.used_bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn status(path: &Path) -> anyhow::Result<ExitCode> {
    let (gateway, _) = open(path)?;
    let store = gateway.store();
    let queued = store.read(|tx| tx.conservation_jobs())?;
    let packages = gateway.packages()?;
    let refusals: Vec<crate::conservation::worker::Refusal> = store.read(|tx| tx.refusals())?;
    let audit: Option<crate::conservation::worker::AuditReport> =
        store.read(|tx| tx.last_audit())?;
    println!("queued: {}", queued.len());
    println!("packages: {}", packages.len());
    println!("refused: {}", refusals.len());
    for refusal in &refusals {
        println!(
            "  pdv-{:08} {}: {}",
            refusal.job.id, refusal.job.mailbox, refusal.reason
        );
    }
    match audit {
        Some(report) => println!(
            "last audit: {} ({} package(s), {} problem(s))",
            report.time.map(|t| t.to_string()).unwrap_or_default(),
            report.packages,
            report.problems.len()
        ),
        None => println!("last audit: never"),
    }
    for mailbox in store.read(|tx| tx.list_mailboxes())? {
        let account = store.read(|tx| tx.account(&mailbox.address))?;
        let tier = if account.tier.is_empty() {
            gateway.settings().default_tier.clone()
        } else {
            account.tier.clone()
        };
        println!(
            "{} rule={} tier={} used={} quota={}{}",
            mailbox.address,
            mailbox.conservation,
            tier,
            account.used_bytes,
            gateway.quota_of(&tier),
            if account.paused {
                " PAUSED (quota reached)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    crate::store::log::LogQuery::parse_time(text).map_err(anyhow::Error::msg)
}

fn export(
    path: &Path,
    mailbox: &str,
    output: &Path,
    since: Option<&str>,
    until: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if let Some(problem) = password.and_then(crate::conservation::export::password_problem) {
        anyhow::bail!("{problem}");
    }
    let since = since.map(parse_time).transpose()?;
    let until = until.map(parse_time).transpose()?;
    let (gateway, _) = open(path)?;
    let address = mailbox.to_ascii_lowercase();
    if gateway
        .store()
        .read(|tx| tx.get_mailbox(&address))?
        .is_none()
    {
        anyhow::bail!("no mailbox {address}");
    }
    let packages: Vec<_> = gateway
        .packages()?
        .into_iter()
        .filter(|p| p.mailbox == address)
        .filter(|p| since.is_none_or(|t| p.created >= t) && until.is_none_or(|t| p.created <= t))
        .collect();
    let manifest = crate::conservation::export::export(
        gateway.packages_dir(),
        &address,
        &packages,
        output,
        password,
        Timestamp::now(),
    )?;
    println!(
        "{}: {} package(s) of {address}{}",
        output.display(),
        manifest.packages.len(),
        if password.is_some() { ", AES-256" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

fn verify_package(file: &Path, password: Option<&str>, ca: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut anchors = Vec::new();
    for path in ca {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        anchors.extend(
            openssl::x509::X509::stack_from_pem(&pem)
                .with_context(|| format!("{} holds no PEM certificate", path.display()))?,
        );
    }
    let verified = crate::conservation::export::verify_package(file, password, &anchors)?;
    for problem in &verified.problems {
        println!("{problem}");
    }
    println!(
        "{} package(s) checked: {}",
        verified.packages.len(),
        if verified.problems.is_empty() {
            "bags, indexes, signatures and time stamps hold".to_string()
        } else {
            format!("{} problem(s)", verified.problems.len())
        }
    );
    Ok(
        if verified.problems.is_empty() && !verified.packages.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

fn search(path: &Path, mailbox: &str, query: &str, json: bool) -> anyhow::Result<ExitCode> {
    let query = crate::conservation::search::Query::parse(query, |t| {
        crate::store::log::LogQuery::parse_time(t).map_err(|e| e.to_string())
    })
    .map_err(anyhow::Error::msg)?;
    let (gateway, _) = open(path)?;
    let hits = gateway.search(mailbox, &query)?;
    for hit in &hits {
        if json {
            println!("{}", serde_json::to_string(hit)?);
        } else {
            println!(
                "{} {} {} {} {}",
                hit.received,
                hit.package,
                hit.kind,
                hit.from.as_deref().unwrap_or("-"),
                hit.subject.as_deref().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn disposal(path: &Path, at: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let at = at
        .map(parse_time)
        .transpose()?
        .unwrap_or_else(Timestamp::now);
    let (gateway, _) = open(path)?;
    let proposals = crate::conservation::retention::proposals(&gateway.packages()?, at);
    for proposal in &proposals {
        if json {
            println!("{}", serde_json::to_string(proposal)?);
        } else {
            println!(
                "propose disposal of {} ({}, {} message(s), retention ended {})",
                proposal.package, proposal.mailbox, proposal.messages, proposal.expired
            );
        }
    }
    if !json {
        println!(
            "{} disposal proposal(s); nothing is deleted without the postmaster",
            proposals.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(path: &Path, address: &str, password: Option<&str>) -> anyhow::Result<ExitCode> {
    if let Some(problem) = password.and_then(crate::conservation::export::password_problem) {
        anyhow::bail!("{problem}");
    }
    let config = Config::load(path)?;
    let (gateway, _) = open(path)?;
    let address = address.to_ascii_lowercase();
    gateway
        .store()
        .write(|tx| tx.update_mailbox(&address, |m| m.conservation = "off".into()))?;
    let mut random = [0u8; 16];
    openssl::rand::rand_bytes(&mut random).context("no randomness for the link token")?;
    let token = crate::conservation::hex(&random);
    let dir = config
        .provider
        .data_dir
        .join("conservation")
        .join("exports");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("{token}.zip"));
    let packages: Vec<_> = gateway
        .packages()?
        .into_iter()
        .filter(|p| p.mailbox == address)
        .collect();
    let now = Timestamp::now();
    crate::conservation::export::export(
        gateway.packages_dir(),
        &address,
        &packages,
        &file,
        password,
        now,
    )?;
    let expires = crate::conservation::retention::keep_until(now, 0)
        + jiff::SignedDuration::from_hours(24 * 30);
    let record = crate::conservation::export::Revocation {
        mailbox: address.clone(),
        file: file.clone(),
        created: now,
        expires,
    };
    gateway
        .store()
        .write(|tx| tx.record_revocation(&token, &record))?;
    println!(
        "{address}: conservation off; full export of {} package(s) at {}; download token {token}, link http://{}/v1/exports/{token} (the admin listener), valid until {expires}",
        packages.len(),
        file.display(),
        config.listen.admin
    );
    Ok(ExitCode::SUCCESS)
}

fn rdv(path: &Path, mailbox: &str, sip: Option<&str>) -> anyhow::Result<ExitCode> {
    let (gateway, _) = open(path)?;
    let mut found = 0;
    for package in gateway
        .packages()?
        .iter()
        .filter(|p| p.mailbox.eq_ignore_ascii_case(mailbox))
    {
        for message in &package.messages {
            let id = &message.metadata.sip_id;
            if sip.is_some_and(|s| s != id) {
                continue;
            }
            let file = gateway
                .packages_dir()
                .join(&package.id)
                .join(crate::conservation::archive::RDV_DIR)
                .join(format!("{id}.rdv.xml"));
            let xml = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            println!(
                "<!-- {} (signature: {}.p7s) -->\n{xml}",
                file.display(),
                file.display()
            );
            found += 1;
        }
    }
    if found == 0 {
        anyhow::bail!(
            "no rapporto di versamento for {mailbox}{}",
            sip.map(|s| format!(" {s}")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
