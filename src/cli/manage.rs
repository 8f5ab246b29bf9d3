//! `pecd domain …` and `pecd operator …`: the management plane's records an operator
//! of the machine sets up, acting as the gestore.

use anyhow::bail;

use super::args::DomainCommand;
use super::args::OperatorCommand;
use super::console::Console;
use crate::config::Config;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::domains;
use crate::manage::domains::NewDomain;
use crate::manage::operators;
use crate::manage::operators::NewOperator;
use crate::store::Store;

/// The actor of every operator command.
fn cli() -> Actor {
    Actor::gestore(crate::manage::CLI)
}

/// A refusal as the command line reports it.
fn refused(error: ManageError) -> anyhow::Error {
    match error {
        ManageError::Invalid { field, message } => anyhow::anyhow!("{field}: {message}"),
        other => anyhow::Error::new(other),
    }
}

/// Runs `pecd domain …`.
pub fn domain(
    command: &DomainCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    let own = &config.provider.domain;
    match command {
        DomainCommand::Add { domain, ente, .. } => {
            let new = NewDomain {
                name: domain.clone(),
                ente: ente.clone(),
            };
            let added =
                domains::add(store, &cli(), own, &new, jiff::Timestamp::now()).map_err(refused)?;
            writeln!(console.out, "added domain {}", added.name)?;
        }
        DomainCommand::List { .. } => {
            for name in domains::all(store, own).map_err(refused)? {
                writeln!(console.out, "{name}")?;
            }
        }
        DomainCommand::Show { domain, .. } => show_domain(config, store, console, domain)?,
    }
    Ok(0)
}

fn show_domain(
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
    domain: &str,
) -> anyhow::Result<()> {
    let name = domains::check_name(domain).map_err(refused)?;
    if name.eq_ignore_ascii_case(&config.provider.domain) {
        writeln!(
            console.out,
            "domain:   {name}\nkind:     the provider's own ([provider] domain)"
        )?;
        return Ok(());
    }
    let found = store.read(|tx| tx.management().domains())?;
    let Some(domain) = found.into_iter().find(|d| d.name == name) else {
        bail!("no managed domain {name}");
    };
    writeln!(console.out, "domain:   {}", domain.name)?;
    writeln!(
        console.out,
        "ente:     {}",
        domain.ente.as_deref().unwrap_or("-")
    )?;
    writeln!(
        console.out,
        "added:    {} by {}",
        domain.added, domain.added_by
    )?;
    Ok(())
}

/// Runs `pecd operator …`.
pub fn operator(
    command: &OperatorCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    match command {
        OperatorCommand::Add {
            username,
            role,
            ente,
            domains,
            email,
            ..
        } => {
            let new = NewOperator {
                username: username.clone(),
                role: role.clone(),
                ente: ente.clone(),
                domains: domains.clone(),
                email: email.clone(),
                password: console.password()?,
            };
            let own = &config.provider.domain;
            let added = operators::add(store, &cli(), own, &new, jiff::Timestamp::now())
                .map_err(refused)?;
            writeln!(
                console.out,
                "added operator {} ({})",
                added.username,
                added.role.as_str()
            )?;
        }
        OperatorCommand::List { .. } => {
            for o in operators::list(store, &cli()).map_err(refused)? {
                writeln!(
                    console.out,
                    "{}\t{}\t{}\t{}\t{}",
                    o.username,
                    o.role.as_str(),
                    o.ente.as_deref().unwrap_or("-"),
                    if o.domains.is_empty() {
                        "-".to_string()
                    } else {
                        o.domains.join(",")
                    },
                    if o.disabled { "disabled" } else { "enabled" }
                )?;
            }
        }
        OperatorCommand::Disable { username, .. } => {
            operators::set_disabled(store, &cli(), username, true).map_err(refused)?;
            writeln!(
                console.out,
                "disabled operator {}",
                username.trim().to_lowercase()
            )?;
        }
    }
    Ok(0)
}
