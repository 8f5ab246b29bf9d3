//! `pecd conservation …`: `audit`, `export`, `verify-package`, `search`,
//! plus `ingest` (package what is queued now), `tier` (set a mailbox's quota tier),
//! `packages` (list what is stored) and `status` (the subcommands are in [`super::args`]).

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;

use super::args::ConservationCommand;
use super::console::Console;
use crate::config::Config;
use crate::conservation::worker::Gateway;
use crate::conservation::worker::Settings;
use crate::crypto::trust;
use crate::store::Store;

/// Runs a subcommand on the store.
pub fn run(
    command: &ConservationCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    let open = || gateway(config, store.clone());
    match command {
        ConservationCommand::Audit { json, .. } => audit(&open()?, console.out, *json),
        ConservationCommand::Export {
            mailbox,
            output,
            since,
            until,
            password_stdin,
            ..
        } => {
            let password = export_password(console, *password_stdin)?;
            export(
                &open()?,
                console.out,
                mailbox,
                output,
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
            let password = password_stdin.then(|| console.password()).transpose()?;
            verify_package(console.out, file, password.as_deref(), ca)
        }
        ConservationCommand::Search {
            mailbox,
            query,
            json,
            ..
        } => search(&open()?, console.out, mailbox, query, *json),
        ConservationCommand::Ingest { .. } => ingest(config, &open()?, console.out),
        ConservationCommand::Tier { address, tier, .. } => {
            set_tier(config, store, console.out, address, tier)
        }
        ConservationCommand::Packages { mailbox, json, .. } => {
            packages(&open()?, console.out, mailbox.as_deref(), *json)
        }
        ConservationCommand::Status { .. } => status(&open()?, console.out),
        ConservationCommand::Rdv { mailbox, sip, .. } => {
            rdv(&open()?, console.out, mailbox, sip.as_deref())
        }
        ConservationCommand::Revoke {
            address,
            password_stdin,
            ..
        } => {
            let password = export_password(console, *password_stdin)?;
            revoke(config, &open()?, console.out, address, password.as_deref())
        }
        ConservationCommand::Disposal { at, json, .. } => {
            disposal(&open()?, console.out, at.as_deref(), *json)
        }
    }
}

/// The export's password, read from stdin when `wanted` and checked against the
/// policy before any work is done.
fn export_password(console: &mut Console<'_>, wanted: bool) -> anyhow::Result<Option<String>> {
    let password = wanted.then(|| console.password()).transpose()?;
    if let Some(problem) = password
        .as_deref()
        .and_then(crate::conservation::export::password_problem)
    {
        anyhow::bail!("{problem}");
    }
    Ok(password)
}

fn ingest(config: &Config, gateway: &Gateway, out: &mut dyn Write) -> anyhow::Result<u8> {
    let index = trust::load_index_file(&config.index.ldif, None)
        .map(|loaded| loaded.index)
        .unwrap_or_default();
    let drained = gateway.drain(Some(&index), Timestamp::now(), true)?;
    writeln!(
        out,
        "{} package(s), {} message(s) conserved, {} refused{}",
        drained.packages.len(),
        drained.conserved,
        drained.refused,
        if drained.paused.is_empty() {
            String::new()
        } else {
            format!("; paused by quota: {}", drained.paused.join(", "))
        }
    )?;
    Ok(0)
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
    let (signer, seal) = super::serve::signers(config)?;
    Gateway::open(
        store,
        &config.provider.data_dir,
        signer,
        seal,
        settings(config),
    )
    .context("cannot open the conservation archive")
}

fn audit(gateway: &Gateway, out: &mut dyn Write, json: bool) -> anyhow::Result<u8> {
    let report = gateway.audit(Timestamp::now())?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for (package, problem) in &report.problems {
            writeln!(out, "{package}: {problem}")?;
        }
        for folder in &report.unrecorded {
            writeln!(
                out,
                "note: {folder}: folder not recorded as a package (left by an interrupted ingest; its messages were packaged again)"
            )?;
        }
        writeln!(
            out,
            "{} package(s) audited, {} problem(s)",
            report.packages,
            report.problems.len()
        )?;
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}

fn set_tier(
    config: &Config,
    store: &Store,
    out: &mut dyn Write,
    address: &str,
    tier: &str,
) -> anyhow::Result<u8> {
    let quota = *config
        .conservation
        .tiers
        .get(tier)
        .with_context(|| format!("no tier {tier:?} in [conservation.tiers]"))?;
    let account = store.write(|tx| {
        if tx.mailboxes().get(address)?.is_none() {
            return Err(crate::store::StoreError::NoSuchMailbox(address.to_string()));
        }
        tx.conservation().update_account(address, |a| {
            a.tier = tier.to_string();
            // Alerts are per crossing of the current quota: re-arm those now below.
            a.alerted_70 &= a.used_bytes.saturating_mul(100) >= quota.saturating_mul(70);
            a.alerted_90 &= a.used_bytes.saturating_mul(100) >= quota.saturating_mul(90);
            a.paused = false;
        })
    })?;
    writeln!(
        out,
        "{address}: tier {tier} ({quota} bytes), {} bytes conserved",
        account.used_bytes
    )?;
    Ok(0)
}

fn packages(
    gateway: &Gateway,
    out: &mut dyn Write,
    mailbox: Option<&str>,
    json: bool,
) -> anyhow::Result<u8> {
    let packages = gateway.packages()?;
    let selected = packages
        .iter()
        .filter(|p| mailbox.is_none_or(|wanted| p.mailbox == wanted));
    for package in selected {
        if json {
            writeln!(out, "{}", serde_json::to_string(package)?)?;
        } else {
            writeln!(
                out,
                "{} {} {} {} message(s) {} bytes",
                package.id,
                package.mailbox,
                package.created,
                package.messages.len(),
                package.bytes
            )?;
        }
    }
    Ok(0)
}

fn status(gateway: &Gateway, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = gateway.store();
    let queued = store.read(|tx| tx.conservation().jobs())?;
    let packages = gateway.packages()?;
    let refusals: Vec<crate::conservation::worker::Refusal> =
        store.read(|tx| tx.conservation().refusals())?;
    let audit: Option<crate::conservation::worker::AuditReport> =
        store.read(|tx| tx.conservation().last_audit())?;
    writeln!(out, "queued: {}", queued.len())?;
    writeln!(out, "packages: {}", packages.len())?;
    writeln!(out, "refused: {}", refusals.len())?;
    for refusal in &refusals {
        writeln!(
            out,
            "  pdv-{:08} {}: {}",
            refusal.job.id, refusal.job.mailbox, refusal.reason
        )?;
    }
    match audit {
        Some(report) => writeln!(
            out,
            "last audit: {} ({} package(s), {} problem(s))",
            report.time.map(|t| t.to_string()).unwrap_or_default(),
            report.packages,
            report.problems.len()
        )?,
        None => writeln!(out, "last audit: never")?,
    }
    for mailbox in store.read(|tx| tx.mailboxes().list())? {
        let account = store.read(|tx| tx.conservation().account(&mailbox.address))?;
        let tier = if account.tier.is_empty() {
            gateway.settings().default_tier.clone()
        } else {
            account.tier.clone()
        };
        writeln!(
            out,
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
        )?;
    }
    Ok(0)
}

fn parse_time(text: &str) -> anyhow::Result<Timestamp> {
    crate::store::log::LogQuery::parse_time(text).map_err(anyhow::Error::msg)
}

fn export(
    gateway: &Gateway,
    out: &mut dyn Write,
    mailbox: &str,
    output: &Path,
    since: Option<&str>,
    until: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<u8> {
    let since = since.map(parse_time).transpose()?;
    let until = until.map(parse_time).transpose()?;
    let address = mailbox.to_ascii_lowercase();
    if gateway
        .store()
        .read(|tx| tx.mailboxes().get(&address))?
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
    gateway.fetch(&packages)?;
    let manifest = crate::conservation::export::export(
        gateway.packages_dir(),
        &address,
        &packages,
        output,
        password,
        Timestamp::now(),
    )?;
    writeln!(
        out,
        "{}: {} package(s) of {address}{}",
        output.display(),
        manifest.packages.len(),
        if password.is_some() { ", AES-256" } else { "" }
    )?;
    Ok(0)
}

/// `verify-package`: needs no store, so it always runs here.
pub fn verify_package(
    out: &mut dyn Write,
    file: &Path,
    password: Option<&str>,
    ca: &[PathBuf],
) -> anyhow::Result<u8> {
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
        writeln!(out, "{problem}")?;
    }
    writeln!(
        out,
        "{} package(s) checked: {}",
        verified.packages.len(),
        if verified.problems.is_empty() {
            "bags, indexes, signatures and time stamps hold".to_string()
        } else {
            format!("{} problem(s)", verified.problems.len())
        }
    )?;
    Ok(
        if verified.problems.is_empty() && !verified.packages.is_empty() {
            0
        } else {
            1
        },
    )
}

fn search(
    gateway: &Gateway,
    out: &mut dyn Write,
    mailbox: &str,
    query: &str,
    json: bool,
) -> anyhow::Result<u8> {
    let query = crate::conservation::search::Query::parse(query, |t| {
        crate::store::log::LogQuery::parse_time(t).map_err(|e| e.to_string())
    })
    .map_err(anyhow::Error::msg)?;
    let hits = gateway.search(mailbox, &query)?;
    for hit in &hits {
        if json {
            writeln!(out, "{}", serde_json::to_string(hit)?)?;
        } else {
            writeln!(
                out,
                "{} {} {} {} {}",
                hit.received,
                hit.package,
                hit.kind,
                hit.from.as_deref().unwrap_or("-"),
                hit.subject.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(0)
}

fn disposal(
    gateway: &Gateway,
    out: &mut dyn Write,
    at: Option<&str>,
    json: bool,
) -> anyhow::Result<u8> {
    let at = at
        .map(parse_time)
        .transpose()?
        .unwrap_or_else(Timestamp::now);
    let proposals = crate::conservation::retention::proposals(&gateway.packages()?, at);
    for proposal in &proposals {
        if json {
            writeln!(out, "{}", serde_json::to_string(proposal)?)?;
        } else {
            writeln!(
                out,
                "propose disposal of {} ({}, {} message(s), retention ended {})",
                proposal.package, proposal.mailbox, proposal.messages, proposal.expired
            )?;
        }
    }
    if !json {
        writeln!(
            out,
            "{} disposal proposal(s); nothing is deleted without the postmaster",
            proposals.len()
        )?;
    }
    Ok(0)
}

fn revoke(
    config: &Config,
    gateway: &Gateway,
    out: &mut dyn Write,
    address: &str,
    password: Option<&str>,
) -> anyhow::Result<u8> {
    let address = address.to_ascii_lowercase();
    gateway.store().write(|tx| {
        tx.mailboxes()
            .update(&address, |m| m.conservation = "off".into())
    })?;
    let mut random = [0u8; 16];
    openssl::rand::rand_bytes(&mut random).context("no randomness for the link token")?;
    let token = hex::encode(random);
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
    gateway.fetch(&packages)?;
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
        .write(|tx| tx.conservation().record_revocation(&token, &record))?;
    writeln!(
        out,
        "{address}: conservation off; full export of {} package(s) at {}; download token {token}, link http://{}/v1/exports/{token} (the admin listener), valid until {expires}",
        packages.len(),
        file.display(),
        config.listen.admin
    )?;
    Ok(0)
}

fn rdv(
    gateway: &Gateway,
    out: &mut dyn Write,
    mailbox: &str,
    sip: Option<&str>,
) -> anyhow::Result<u8> {
    let mut found = 0;
    for package in gateway
        .packages()?
        .iter()
        .filter(|p| p.mailbox.eq_ignore_ascii_case(mailbox))
    {
        gateway.fetch(std::slice::from_ref(package))?;
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
            writeln!(
                out,
                "<!-- {} (signature: {}.p7s) -->\n{xml}",
                file.display(),
                file.display()
            )?;
            found += 1;
        }
    }
    if found == 0 {
        anyhow::bail!(
            "no rapporto di versamento for {mailbox}{}",
            sip.map(|s| format!(" {s}")).unwrap_or_default()
        );
    }
    Ok(0)
}
