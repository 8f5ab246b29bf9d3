//! `pecd`: the composition root. Parses the command line, runs one command, maps its
//! outcome to the exit code, and reports errors as one line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::Subcommand;

use pecd::cli;

/// PEC (Posta Elettronica Certificata) provider server and conservation gateway.
#[derive(Debug, Parser)]
#[command(name = "pecd", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the provider (SMTP submission and MX, IMAP, admin API, relay, timers).
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "config/pecd.toml")]
        config: PathBuf,
    },
    /// Write a complete, runnable provider into DIR.
    Init {
        /// The folder to create.
        dir: PathBuf,
        /// The provider's mail domain.
        #[arg(long)]
        domain: String,
        /// The provider's name (gestore).
        #[arg(long)]
        name: String,
        /// First of the six ports (submission, submissions, MX, IMAP, IMAPS, admin).
        #[arg(long, default_value_t = 2587)]
        port_base: u16,
    },
    /// The providers index.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Administer mailboxes (works while the daemon runs).
    Mailbox {
        #[command(subcommand)]
        command: MailboxCommand,
    },
    /// The event log (registro).
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The conservation gateway: audit, export, verify-package, search.
    Conservation {
        #[command(subcommand)]
        command: cli::conservation::ConservationCommand,
    },
    /// Read one message and say what it is and whether it is valid PEC.
    Verify {
        /// The message (.eml).
        file: PathBuf,
        /// A providers index (LDIF or signed .p7m) to check the signer against.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Trust anchor certificates (PEM) the signer must chain to; repeatable.
        #[arg(long)]
        ca: Vec<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MailboxCommand {
    /// Create a mailbox.
    Add {
        /// The address.
        address: String,
        #[command(flatten)]
        options: MailboxOptions,
    },
    /// List mailboxes.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Show one mailbox.
    Show {
        /// The address.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Change a mailbox.
    Set {
        /// The address.
        address: String,
        #[command(flatten)]
        options: MailboxOptions,
    },
    /// Suspend a mailbox: deliveries to it fail with an avviso di mancata consegna.
    Suspend {
        /// The address.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Put a suspended mailbox back in service.
    Activate {
        /// The address.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Delete a mailbox.
    Delete {
        /// The address.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct MailboxOptions {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Receipt type asked for when a message sets no X-TipoRicevuta.
    #[arg(long)]
    receipt: Option<String>,
    /// Conservation rule: all-inbound, envelopes, receipts or off.
    #[arg(long)]
    conservation: Option<String>,
    /// Mailbox quota in bytes.
    #[arg(long)]
    quota_bytes: Option<u64>,
}

impl MailboxOptions {
    fn changes(&self) -> cli::mailbox::Changes {
        cli::mailbox::Changes {
            password_stdin: self.password_stdin,
            receipt: self.receipt.clone(),
            conservation: self.conservation.clone(),
            quota_bytes: self.quota_bytes,
        }
    }
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Print the events matching the filters.
    Query {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// A PEC msgid, client Message-ID or related message id.
        #[arg(long)]
        msgid: Option<String>,
        /// A mailbox (as owner, sender or recipient).
        #[arg(long)]
        mailbox: Option<String>,
        /// Not before (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Not after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain end to end; exit 1 at the first broken record.
    Verify {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Print this provider's record of the providers index as LDIF.
    Entry {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Serve { config } => serve(&config),
        Command::Init {
            dir,
            domain,
            name,
            port_base,
        } => cli::init::run(&dir, &domain, &name, port_base).map(|()| ExitCode::SUCCESS),
        Command::Index {
            command: IndexCommand::Entry { config },
        } => cli::index::run(&config).map(|()| ExitCode::SUCCESS),
        Command::Mailbox { command } => mailbox(command).map(|()| ExitCode::SUCCESS),
        Command::Log { command } => log(command),
        Command::Conservation { command } => cli::conservation::run(command),
        Command::Verify {
            file,
            index,
            ca,
            json,
        } => cli::verify::run(&file, index.as_deref(), &ca, json).map(|outcome| match outcome {
            cli::verify::Outcome::Valid => ExitCode::SUCCESS,
            cli::verify::Outcome::NotValid => ExitCode::from(1),
            cli::verify::Outcome::Unreadable => ExitCode::from(2),
        }),
    };
    result.unwrap_or_else(|error| {
        eprintln!("pecd: {}", one_line(&error));
        ExitCode::from(2)
    })
}

fn mailbox(command: MailboxCommand) -> anyhow::Result<()> {
    use pecd::store::mailbox::MailboxState;
    match command {
        MailboxCommand::Add { address, options } => {
            cli::mailbox::add(&options.config, &address, &options.changes())
        }
        MailboxCommand::Set { address, options } => {
            cli::mailbox::set(&options.config, &address, &options.changes())
        }
        MailboxCommand::List { config } => cli::mailbox::list(&config),
        MailboxCommand::Show { address, config } => cli::mailbox::show(&config, &address),
        MailboxCommand::Suspend { address, config } => {
            cli::mailbox::set_state(&config, &address, MailboxState::Suspended)
        }
        MailboxCommand::Activate { address, config } => {
            cli::mailbox::set_state(&config, &address, MailboxState::Active)
        }
        MailboxCommand::Delete { address, config } => cli::mailbox::delete(&config, &address),
    }
}

fn log(command: LogCommand) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Query {
            config,
            msgid,
            mailbox,
            since,
            until,
            json,
        } => {
            let query = pecd::store::log::LogQuery {
                msgid,
                mailbox,
                since: since
                    .as_deref()
                    .map(pecd::store::log::LogQuery::parse_time)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                until: until
                    .as_deref()
                    .map(pecd::store::log::LogQuery::parse_time)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
            };
            cli::log::query(&config, &query, json).map(|()| ExitCode::SUCCESS)
        }
        LogCommand::Verify { config } => cli::log::verify(&config).map(|intact| {
            if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
    }
}

/// Runs the daemon on a multi-threaded runtime, logging to stderr (`RUST_LOG` filters).
fn serve(config_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli::serve::run(config_path))?;
    Ok(ExitCode::SUCCESS)
}

fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
