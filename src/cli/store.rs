//! The commands that work on the store (`mailbox`, `log`, `conservation`). With no
//! daemon running they open the store and run here; when the daemon holds it (it is
//! the store's one writer) they are handed to it over the control socket
//! ([`crate::control`]) and it runs the very same code on its own `Store`, streaming
//! the output back. Either way the operator sees the same output and exit status.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use anyhow::bail;
use serde::Deserialize;
use serde::Serialize;

use super::args::ConservationCommand;
use super::args::DomainCommand;
use super::args::IndexCommand;
use super::args::LogCommand;
use super::args::MailboxCommand;
use super::args::OperatorCommand;
use super::args::OutageCommand;
use super::args::StatsCommand;
use super::console::Console;
use super::console::Stdout;
use super::console::read_password_line;
use crate::config::Backend;
use crate::config::Config;
use crate::control;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::log::LogQuery;
use crate::store::objects::Bucket;

/// How long a command keeps trying when the store's writer is not a daemon that
/// answers (another command, or a daemon just starting or stopping).
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// A command that works on the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum StoreCommand {
    /// `pecd mailbox …`.
    Mailbox(MailboxCommand),
    /// `pecd log …`.
    Log(LogCommand),
    /// `pecd domain …`.
    Domain(DomainCommand),
    /// `pecd operator …`.
    Operator(OperatorCommand),
    /// `pecd index …`: the entry lists the managed domains the store holds.
    Index(IndexCommand),
    /// `pecd conservation …`.
    Conservation(ConservationCommand),
    /// `pecd stats …`.
    Stats(StatsCommand),
    /// `pecd outage …`.
    Outage(OutageCommand),
}

/// What travels to the daemon: the command (its paths made absolute) and the password
/// it reads from stdin, read here.
#[derive(Serialize, Deserialize)]
struct Request {
    command: StoreCommand,
    password: Option<String>,
}

/// The store `config` names: the embedded one under `data_dir`, or the cluster's.
pub fn open(config: &Config) -> Result<Store, StoreError> {
    let data_dir = &config.provider.data_dir;
    match (config.store.backend, &config.store.postgres) {
        (Backend::Cluster, Some(url)) => {
            let bucket = config.store.s3.as_ref().map(Bucket::connect).transpose()?;
            Store::cluster(url, bucket, data_dir)
        }
        // The configuration's validation refuses a cluster without a database.
        _ => Store::open(data_dir),
    }
}

/// Runs a command for the operator at the terminal; its exit status.
pub fn run(command: StoreCommand) -> anyhow::Result<u8> {
    let Some(path) = command.config() else {
        return offline(&command);
    };
    let config = Config::load(path)?;
    let data_dir = &config.provider.data_dir;
    // Read once, whichever process runs the command.
    let password = command
        .password_stdin()
        .then(read_password_line)
        .transpose()?;
    let started = Instant::now();
    let mut request = None;
    loop {
        match open(&config) {
            Ok(store) => {
                let mut stdout = Stdout::lock();
                let mut console = Console::new(&mut stdout, password);
                let result = execute(&command, &config, &store, &mut console);
                return stdout.finish(result);
            }
            Err(StoreError::InUse) => {}
            Err(error) => return Err(error).context("cannot open the store"),
        }
        let request = match &request {
            Some(request) => request,
            None => request.insert(encode_request(&command, password.clone())?),
        };
        let stream = match control::connect(data_dir) {
            Ok(stream) => stream,
            Err(_) if started.elapsed() < BUSY_WAIT => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(error) => bail!(
                "the store is in use by another process, and no daemon answers on {}: {error}",
                control::socket_path(data_dir).display()
            ),
        };
        // Once the daemon has the command, it is never sent again: it may have run.
        let mut stdout = Stdout::lock();
        let result = match control::call(stream, request, &mut stdout) {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(message)) => Err(anyhow::anyhow!("{message}")),
            Err(error) => Err(anyhow::anyhow!(
                "the daemon stopped answering mid-command: {error}"
            )),
        };
        return stdout.finish(result);
    }
}

/// The daemon's side: runs a request that came over the control socket on `store`,
/// the store of `data_dir`.
pub fn serve_request(
    store: &Store,
    data_dir: &Path,
    request: &[u8],
    out: &mut dyn Write,
) -> control::Finished {
    let mut run = || {
        let request: Request =
            serde_json::from_slice(request).context("malformed control request")?;
        let path = request
            .command
            .config()
            .context("this command does not work on the store")?;
        let config = Config::load(path)?;
        if !same_dir(&config.provider.data_dir, data_dir) {
            bail!(
                "{} names the data directory {}, this daemon serves {}",
                path.display(),
                config.provider.data_dir.display(),
                data_dir.display()
            );
        }
        execute(
            &request.command,
            &config,
            store,
            &mut Console::new(out, request.password),
        )
    };
    run().map_err(|error| super::one_line(&error))
}

/// The command a control request carries, decoded as the daemon decodes it (the fuzz
/// target's entry).
pub fn decode_request(bytes: &[u8]) -> Option<StoreCommand> {
    serde_json::from_slice::<Request>(bytes)
        .ok()
        .map(|request| request.command)
}

fn encode_request(command: &StoreCommand, password: Option<String>) -> anyhow::Result<Vec<u8>> {
    let mut command = command.clone();
    command.absolutize()?;
    Ok(serde_json::to_vec(&Request { command, password })?)
}

/// Runs `command` on `store`: the one place a store command's meaning lives.
fn execute(
    command: &StoreCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<u8> {
    match command {
        StoreCommand::Mailbox(command) => {
            super::mailbox::run(command, config, store, console).map(|()| 0)
        }
        StoreCommand::Log(LogCommand::Query {
            msgid,
            mailbox,
            since,
            until,
            json,
            ..
        }) => {
            let query = LogQuery {
                msgid: msgid.clone(),
                mailbox: mailbox.clone(),
                since: log_time(since)?,
                until: log_time(until)?,
            };
            super::log::query(store, console, &query, *json).map(|()| 0)
        }
        StoreCommand::Log(LogCommand::Verify { .. }) => {
            super::log::verify(store, console).map(|intact| if intact { 0 } else { 1 })
        }
        StoreCommand::Conservation(command) => {
            super::conservation::run(command, config, store, console)
        }
        StoreCommand::Domain(command) => super::manage::domain(command, config, store, console),
        StoreCommand::Operator(command) => super::manage::operator(command, config, store, console),
        StoreCommand::Index(IndexCommand::Entry { .. }) => {
            super::index::print(config, store, console).map(|()| 0)
        }
        StoreCommand::Stats(command) => super::stats::stats(command, config, store, console),
        StoreCommand::Outage(command) => super::stats::outage(command, store, console),
    }
}

/// A `--since`/`--until` of `pecd log query`, when given.
fn log_time(text: &Option<String>) -> anyhow::Result<Option<jiff::Timestamp>> {
    text.as_deref()
        .map(LogQuery::parse_time)
        .transpose()
        .map_err(anyhow::Error::msg)
}

/// A command that names no configuration: `conservation verify-package`.
fn offline(command: &StoreCommand) -> anyhow::Result<u8> {
    let StoreCommand::Conservation(ConservationCommand::VerifyPackage {
        file,
        password_stdin,
        ca,
    }) = command
    else {
        bail!("this command needs --config");
    };
    let password = password_stdin.then(read_password_line).transpose()?;
    let mut stdout = Stdout::lock();
    let result = super::conservation::verify_package(&mut stdout, file, password.as_deref(), ca);
    stdout.finish(result)
}

/// The configuration path a command names, borrowed the way `$command` is (shared or
/// mutable); `None` for `verify-package`, which names none.
macro_rules! config_of {
    ($command:expr) => {
        match $command {
            StoreCommand::Mailbox(
                MailboxCommand::Add { config, .. }
                | MailboxCommand::Set { config, .. }
                | MailboxCommand::List { config }
                | MailboxCommand::Show { config, .. }
                | MailboxCommand::Suspend { config, .. }
                | MailboxCommand::Activate { config, .. }
                | MailboxCommand::Delete { config, .. },
            )
            | StoreCommand::Log(LogCommand::Query { config, .. } | LogCommand::Verify { config })
            | StoreCommand::Domain(
                DomainCommand::Add { config, .. }
                | DomainCommand::List { config }
                | DomainCommand::Show { config, .. },
            )
            | StoreCommand::Operator(
                OperatorCommand::Add { config, .. }
                | OperatorCommand::List { config }
                | OperatorCommand::Disable { config, .. },
            )
            | StoreCommand::Index(IndexCommand::Entry { config })
            | StoreCommand::Conservation(
                ConservationCommand::Audit { config, .. }
                | ConservationCommand::Export { config, .. }
                | ConservationCommand::Search { config, .. }
                | ConservationCommand::Ingest { config }
                | ConservationCommand::Tier { config, .. }
                | ConservationCommand::Disposal { config, .. }
                | ConservationCommand::Revoke { config, .. }
                | ConservationCommand::Rdv { config, .. }
                | ConservationCommand::Packages { config, .. }
                | ConservationCommand::Status { config },
            )
            | StoreCommand::Stats(
                StatsCommand::P01 { config, .. }
                | StatsCommand::P02 { config, .. }
                | StatsCommand::C01 { config, .. },
            )
            | StoreCommand::Outage(
                OutageCommand::Add { config, .. } | OutageCommand::List { config },
            ) => Some(config),
            StoreCommand::Conservation(ConservationCommand::VerifyPackage { .. }) => None,
        }
    };
}

impl StoreCommand {
    /// The configuration file the command names.
    fn config(&self) -> Option<&Path> {
        config_of!(self).map(PathBuf::as_path)
    }

    /// Whether it reads a password from stdin.
    fn password_stdin(&self) -> bool {
        match self {
            StoreCommand::Mailbox(
                MailboxCommand::Add { options, .. } | MailboxCommand::Set { options, .. },
            ) => options.password_stdin,
            StoreCommand::Operator(OperatorCommand::Add { password_stdin, .. }) => *password_stdin,
            StoreCommand::Conservation(
                ConservationCommand::Export { password_stdin, .. }
                | ConservationCommand::Revoke { password_stdin, .. }
                | ConservationCommand::VerifyPackage { password_stdin, .. },
            ) => *password_stdin,
            _ => false,
        }
    }

    /// Makes the paths it carries absolute, so they mean the same to the daemon.
    fn absolutize(&mut self) -> anyhow::Result<()> {
        if let StoreCommand::Conservation(ConservationCommand::Export { output, .. }) = self {
            *output = absolute(output)?;
        }
        if let Some(config) = config_of!(self) {
            *config = absolute(config)?;
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// Whether two paths name the same folder.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_the_command_with_its_paths_made_absolute() {
        let command = StoreCommand::Conservation(ConservationCommand::Export {
            config: "pecd.toml".into(),
            mailbox: "mario@pec-a.test".into(),
            output: "out/export.zip".into(),
            since: None,
            until: None,
            password_stdin: false,
        });
        let decoded = decode_request(&encode_request(&command, None).unwrap()).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(decoded.config(), Some(cwd.join("pecd.toml").as_path()));
        let StoreCommand::Conservation(ConservationCommand::Export { output, .. }) = decoded else {
            panic!("{decoded:?}");
        };
        assert_eq!(output, cwd.join("out/export.zip"));
        assert!(decode_request(b"{\"command\":{\"Shell\":\"rm -rf /\"}}").is_none());
    }
}
