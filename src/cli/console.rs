//! Where a store command writes its output (the terminal when it runs here, the
//! operator's connection when the daemon runs it on the operator's behalf,
//! [`super::store`]) and finds the password `--password-stdin` read: always read by
//! the operator's process, before it knows which process will run the command.

use std::io::BufRead;
use std::io::Write;

use anyhow::Context;

/// A command's output and password.
pub struct Console<'a> {
    /// Standard output, or what streams back to the operator.
    pub out: &'a mut dyn Write,
    /// The line `--password-stdin` read, taken by the command that wants it.
    password: Option<String>,
}

impl<'a> Console<'a> {
    /// Output to `out`, with the password read beforehand (if the command reads one).
    pub fn new(out: &'a mut dyn Write, password: Option<String>) -> Console<'a> {
        Console { out, password }
    }

    /// The password (`--password-stdin`).
    pub fn password(&mut self) -> anyhow::Result<String> {
        self.password
            .take()
            .context("no password came with the command (--password-stdin)")
    }
}

/// The first line of stdin, without its line ending.
pub fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
