//! Where a store command writes its output (the terminal when it runs here, the
//! operator's connection when the daemon runs it on the operator's behalf,
//! [`super::store`]) and finds the password `--password-stdin` read: always read by
//! the operator's process, before it knows which process will run the command.

use std::io::BufRead;
use std::io::ErrorKind;
use std::io::StdoutLock;
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

/// Standard output that remembers whether its reader went away (`pecd mailbox list |
/// head -1`), so that a command cut off there ends quietly instead of reporting the
/// pipe as its own failure.
pub struct Stdout {
    inner: StdoutLock<'static>,
    closed: bool,
}

impl Stdout {
    /// The process's standard output, locked.
    pub fn lock() -> Stdout {
        Stdout {
            inner: std::io::stdout().lock(),
            closed: false,
        }
    }

    /// A command's result once it has printed: when the reader went away, the command
    /// ends quietly with exit 0 (what it still had to say is not anyone's business);
    /// otherwise its own result.
    pub fn finish(self, result: anyhow::Result<u8>) -> anyhow::Result<u8> {
        if self.closed {
            return Ok(result.unwrap_or(0));
        }
        result
    }

    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result {
            self.closed |= error.kind() == ErrorKind::BrokenPipe;
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes);
        self.note(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.inner.flush();
        self.note(flushed)
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
