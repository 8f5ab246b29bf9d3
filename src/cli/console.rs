//! Where a store command writes its output and finds the password it was told to read
//! from stdin: the terminal when it runs here, the operator's connection when the
//! daemon runs it on the operator's behalf ([`super::store`]).

use std::io::BufRead;
use std::io::Write;

use anyhow::Context;

/// A command's output and password source.
pub struct Console<'a> {
    /// Standard output, or what streams back to the operator.
    pub out: &'a mut dyn Write,
    password: Password,
}

enum Password {
    /// The first line of this process's stdin, read when asked.
    Stdin,
    /// Read by the operator's process before it handed the command over.
    Given(Option<String>),
}

impl<'a> Console<'a> {
    /// Output to `out`, the password from this process's stdin.
    pub fn terminal(out: &'a mut dyn Write) -> Console<'a> {
        Console {
            out,
            password: Password::Stdin,
        }
    }

    /// Output to `out`, the password already read elsewhere (if there was one).
    pub fn given(out: &'a mut dyn Write, password: Option<String>) -> Console<'a> {
        Console {
            out,
            password: Password::Given(password),
        }
    }

    /// The password (`--password-stdin`).
    pub fn password(&mut self) -> anyhow::Result<String> {
        match &mut self.password {
            Password::Stdin => read_password_line(),
            Password::Given(given) => given
                .take()
                .context("no password came with the command (--password-stdin)"),
        }
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
