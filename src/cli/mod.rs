//! Operator commands. Each command is one file; `main.rs` parses the
//! arguments ([`args`]) and calls these. Commands return `anyhow::Result` because they
//! report errors (one line on stderr) rather than handle them. Those that work on the
//! store go through [`store`], which hands them to the daemon when it runs.

pub mod args;
pub mod conservation;
pub mod console;
pub mod files;
pub mod index;
pub mod init;
pub mod log;
pub mod mailbox;
pub mod manage;
pub mod serve;
pub mod stats;
pub mod store;
pub mod verify;

/// The end of a command's printing: a reader that went away (`pecd verify … | head -1`)
/// ends the command quietly, with the exit code it would have had; any other write
/// error is the command's error.
pub fn output_closed_is_fine(printed: std::io::Result<()>) -> anyhow::Result<()> {
    match printed {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(anyhow::Error::new(error).context("cannot write the output")),
        Ok(()) => Ok(()),
    }
}

/// An error and its causes on one line, as every command reports it.
pub fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}
