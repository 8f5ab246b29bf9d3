//! `pecd`: the composition root. Parses the command line, runs one command, maps its
//! outcome to the exit code, and reports errors as one line on stderr.

use std::process::ExitCode;

use clap::Parser;

use pecd::cli;
use pecd::cli::args::Args;
use pecd::cli::args::Command;
use pecd::cli::store::StoreCommand;

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
        Command::Index { command } => store_command(StoreCommand::Index(command)),
        Command::Domain { command } => store_command(StoreCommand::Domain(command)),
        Command::Operator { command } => store_command(StoreCommand::Operator(command)),
        Command::Mailbox { command } => store_command(StoreCommand::Mailbox(command)),
        Command::Log { command } => store_command(StoreCommand::Log(command)),
        Command::Conservation { command } => store_command(StoreCommand::Conservation(command)),
        Command::Stats { command } => store_command(StoreCommand::Stats(command)),
        Command::Outage { command } => store_command(StoreCommand::Outage(command)),
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
        eprintln!("pecd: {}", cli::one_line(&error));
        ExitCode::from(2)
    })
}

/// A command on the store: here, or by the daemon when it runs.
fn store_command(command: StoreCommand) -> anyhow::Result<ExitCode> {
    cli::store::run(command).map(ExitCode::from)
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
