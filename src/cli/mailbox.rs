//! `pecd mailbox add|list|show|set|suspend|activate|delete`. While the daemon runs, it
//! runs these on the operator's behalf ([`super::store`]).

use std::io::Write;

use anyhow::bail;

use super::args::MailboxCommand;
use super::console::Console;
use crate::config::Config;
use crate::provider::mailboxes;
use crate::provider::mailboxes::MailboxChanges;
use crate::store::Store;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;

/// Changes `mailbox add` and `mailbox set` accept.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// Read a new password from stdin.
    pub password_stdin: bool,
    /// Default receipt type.
    pub receipt: Option<String>,
    /// Conservation rule.
    pub conservation: Option<String>,
    /// Quota in bytes.
    pub quota_bytes: Option<u64>,
}

impl Changes {
    fn resolve(&self, password: Option<String>) -> MailboxChanges {
        MailboxChanges {
            password,
            receipt: self.receipt.clone(),
            conservation: self.conservation.clone(),
            quota_bytes: self.quota_bytes,
            state: None,
        }
    }
}

/// Runs one `pecd mailbox` command.
pub fn run(
    command: &MailboxCommand,
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
) -> anyhow::Result<()> {
    match command {
        MailboxCommand::Add {
            address, options, ..
        } => add(config, store, console, address, &options.changes()),
        MailboxCommand::Set {
            address, options, ..
        } => set(store, console, address, &options.changes()),
        MailboxCommand::List { .. } => list(store, console),
        MailboxCommand::Show { address, .. } => show(store, console, address),
        MailboxCommand::Suspend { address, .. } => {
            set_state(store, console, address, MailboxState::Suspended)
        }
        MailboxCommand::Activate { address, .. } => {
            set_state(store, console, address, MailboxState::Active)
        }
        MailboxCommand::Delete { address, .. } => delete(store, console, address),
    }
}

/// `mailbox add`.
pub fn add(
    config: &Config,
    store: &Store,
    console: &mut Console<'_>,
    address: &str,
    changes: &Changes,
) -> anyhow::Result<()> {
    let password = if changes.password_stdin {
        console.password()?
    } else {
        random_password()
    };
    let mailbox = mailboxes::create(
        store,
        &config.provider.domain,
        address,
        &changes.resolve(Some(password.clone())),
        crate::manage::CLI,
    )?;
    writeln!(console.out, "mailbox {} created", mailbox.address)?;
    if !changes.password_stdin {
        writeln!(console.out, "password: {password}")?;
    }
    Ok(())
}

/// `mailbox set`.
pub fn set(
    store: &Store,
    console: &mut Console<'_>,
    address: &str,
    changes: &Changes,
) -> anyhow::Result<()> {
    let password = if changes.password_stdin {
        Some(console.password()?)
    } else {
        None
    };
    let mailbox = mailboxes::update(store, address, &changes.resolve(password))?;
    print_mailbox(console.out, &mailbox)
}

/// `mailbox suspend` / `mailbox activate`.
pub fn set_state(
    store: &Store,
    console: &mut Console<'_>,
    address: &str,
    state: MailboxState,
) -> anyhow::Result<()> {
    let changes = MailboxChanges {
        state: Some(state),
        ..MailboxChanges::default()
    };
    print_mailbox(console.out, &mailboxes::update(store, address, &changes)?)
}

/// `mailbox delete`.
pub fn delete(store: &Store, console: &mut Console<'_>, address: &str) -> anyhow::Result<()> {
    mailboxes::delete(store, address)?;
    writeln!(console.out, "mailbox {address} deleted")?;
    Ok(())
}

/// `mailbox list`.
pub fn list(store: &Store, console: &mut Console<'_>) -> anyhow::Result<()> {
    for mailbox in store.read(|tx| tx.mailboxes().list())? {
        writeln!(
            console.out,
            "{}\t{:?}\t{}/{} bytes",
            mailbox.address, mailbox.state, mailbox.used_bytes, mailbox.quota_bytes
        )?;
    }
    Ok(())
}

/// `mailbox show`.
pub fn show(store: &Store, console: &mut Console<'_>, address: &str) -> anyhow::Result<()> {
    match store.read(|tx| tx.mailboxes().get(address))? {
        Some(mailbox) => print_mailbox(console.out, &mailbox),
        None => bail!("no mailbox {address}"),
    }
}

fn print_mailbox(out: &mut dyn Write, m: &Mailbox) -> anyhow::Result<()> {
    let state = m.state.as_str();
    writeln!(out, "address:      {}", m.address)?;
    writeln!(out, "state:        {state}")?;
    writeln!(
        out,
        "quota:        {} of {} bytes used",
        m.used_bytes, m.quota_bytes
    )?;
    writeln!(out, "receipt:      {}", m.receipt_type)?;
    writeln!(out, "conservation: {}", m.conservation)?;
    writeln!(out, "created:      {}", m.created)?;
    Ok(())
}

fn random_password() -> String {
    let mut bytes = [0u8; 15];
    let _ = openssl::rand::rand_bytes(&mut bytes);
    openssl::base64::encode_block(&bytes).replace(['+', '/'], "x")
}
