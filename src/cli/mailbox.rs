//! `pecd mailbox add|list|show|set|suspend|activate|delete` (CONTRACT.md). The store is
//! opened in redb's multi-process mode, so these work while the daemon runs.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use anyhow::bail;

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

/// Opens the store a config names.
pub fn open(config_path: &Path) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.provider.data_dir).context("cannot open the store")?;
    Ok((config, store))
}

/// `mailbox add`.
pub fn add(config_path: &Path, address: &str, changes: &Changes) -> anyhow::Result<()> {
    let (config, store) = open(config_path)?;
    let password = if changes.password_stdin {
        read_password()?
    } else {
        random_password()
    };
    let mailbox = mailboxes::create(
        &store,
        &config.provider.domain,
        address,
        &changes.resolve(Some(password.clone())),
    )?;
    println!("mailbox {} created", mailbox.address);
    if !changes.password_stdin {
        println!("password: {password}");
    }
    Ok(())
}

/// `mailbox set`.
pub fn set(config_path: &Path, address: &str, changes: &Changes) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    let password = if changes.password_stdin {
        Some(read_password()?)
    } else {
        None
    };
    print_mailbox(&mailboxes::update(
        &store,
        address,
        &changes.resolve(password),
    )?);
    Ok(())
}

/// `mailbox suspend` / `mailbox activate`.
pub fn set_state(config_path: &Path, address: &str, state: MailboxState) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    let changes = MailboxChanges {
        state: Some(state),
        ..MailboxChanges::default()
    };
    print_mailbox(&mailboxes::update(&store, address, &changes)?);
    Ok(())
}

/// `mailbox delete`.
pub fn delete(config_path: &Path, address: &str) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    mailboxes::delete(&store, address)?;
    println!("mailbox {address} deleted");
    Ok(())
}

/// `mailbox list`.
pub fn list(config_path: &Path) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    for mailbox in store.read(|tx| tx.list_mailboxes())? {
        println!(
            "{}\t{:?}\t{}/{} bytes",
            mailbox.address, mailbox.state, mailbox.used_bytes, mailbox.quota_bytes
        );
    }
    Ok(())
}

/// `mailbox show`.
pub fn show(config_path: &Path, address: &str) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    match store.read(|tx| tx.get_mailbox(address))? {
        Some(mailbox) => {
            print_mailbox(&mailbox);
            Ok(())
        }
        None => bail!("no mailbox {address}"),
    }
}

fn print_mailbox(m: &Mailbox) {
    println!("address:      {}", m.address);
    println!(
        "state:        {}",
        if m.state == MailboxState::Active {
            "active"
        } else {
            "suspended"
        }
    );
    println!(
        "quota:        {} of {} bytes used",
        m.used_bytes, m.quota_bytes
    );
    println!("receipt:      {}", m.receipt_type);
    println!("conservation: {}", m.conservation);
    println!("created:      {}", m.created);
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    Ok(password)
}

fn random_password() -> String {
    let mut bytes = [0u8; 15];
    let _ = openssl::rand::rand_bytes(&mut bytes);
    openssl::base64::encode_block(&bytes).replace(['+', '/'], "x")
}
