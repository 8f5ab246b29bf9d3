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

/// The daemon is not built yet: prepare what it will need and say so plainly.
fn serve(config_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = pecd::config::Config::load(config_path)?;
    if cli::init::ensure_dev_certificates(&config)? {
        println!(
            "created development certificates under {}",
            config
                .certificates
                .signing_certificate
                .parent()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    anyhow::bail!(
        "the provider daemon (SMTP, IMAP, relay) is not built yet; see README.md \"Status\""
    )
}

fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
