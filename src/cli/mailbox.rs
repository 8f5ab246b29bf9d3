//! `pecd mailbox add|list|show|set|suspend|activate|delete` (CONTRACT.md). The store is
//! opened in redb's multi-process mode, so these work while the daemon runs.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use anyhow::bail;
use jiff::Timestamp;

use crate::config::Config;
use crate::mail::address::Address;
use crate::store::Store;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::MailboxState;
use crate::store::mailbox::NewMailbox;

/// The conservation rules a mailbox can have.
pub const CONSERVATION_RULES: [&str; 4] = ["all-inbound", "envelopes", "receipts", "off"];
/// The receipt types a mailbox can default to.
pub const RECEIPT_TYPES: [&str; 3] = ["completa", "breve", "sintetica"];

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

/// Opens the store a config names.
pub fn open(config_path: &Path) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.provider.data_dir).context("cannot open the store")?;
    Ok((config, store))
}

/// `mailbox add`.
pub fn add(config_path: &Path, address: &str, changes: &Changes) -> anyhow::Result<()> {
    let (config, store) = open(config_path)?;
    let address =
        Address::parse(address).with_context(|| format!("{address:?} is not a mail address"))?;
    if !address
        .domain()
        .eq_ignore_ascii_case(&config.provider.domain)
    {
        bail!(
            "{address} is not in this provider's domain {}",
            config.provider.domain
        );
    }
    validate(changes)?;
    let password = if changes.password_stdin {
        read_password()?
    } else {
        random_password()
    };
    let settings = NewMailbox {
        receipt_type: changes.receipt.clone().unwrap_or_else(|| "completa".into()),
        conservation: changes.conservation.clone().unwrap_or_else(|| "off".into()),
        quota_bytes: changes
            .quota_bytes
            .unwrap_or(crate::store::mailbox::DEFAULT_QUOTA_BYTES),
    };
    store
        .write(|tx| tx.create_mailbox(address.as_str(), &password, &settings, Timestamp::now()))?;
    println!("mailbox {address} created");
    if !changes.password_stdin {
        println!("password: {password}");
    }
    Ok(())
}

/// `mailbox set`.
pub fn set(config_path: &Path, address: &str, changes: &Changes) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    validate(changes)?;
    let password = if changes.password_stdin {
        Some(read_password()?)
    } else {
        None
    };
    let mailbox = store.write(|tx| {
        if let Some(password) = &password {
            tx.set_password(address, password)?;
        }
        tx.update_mailbox(address, |m| {
            if let Some(receipt) = &changes.receipt {
                m.receipt_type = receipt.clone();
            }
            if let Some(rule) = &changes.conservation {
                m.conservation = rule.clone();
            }
            if let Some(quota) = changes.quota_bytes {
                m.quota_bytes = quota;
            }
        })
    })?;
    print_mailbox(&mailbox);
    Ok(())
}

/// `mailbox suspend` / `mailbox activate`.
pub fn set_state(config_path: &Path, address: &str, state: MailboxState) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    let mailbox = store.write(|tx| tx.update_mailbox(address, |m| m.state = state))?;
    print_mailbox(&mailbox);
    Ok(())
}

/// `mailbox delete`.
pub fn delete(config_path: &Path, address: &str) -> anyhow::Result<()> {
    let (_, store) = open(config_path)?;
    store.write(|tx| tx.delete_mailbox(address))?;
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

fn validate(changes: &Changes) -> anyhow::Result<()> {
    if let Some(receipt) = &changes.receipt
        && !RECEIPT_TYPES.contains(&receipt.as_str())
    {
        bail!(
            "--receipt {receipt:?} is not one of {}",
            RECEIPT_TYPES.join(", ")
        );
    }
    if let Some(rule) = &changes.conservation
        && !CONSERVATION_RULES.contains(&rule.as_str())
    {
        bail!(
            "--conservation {rule:?} is not one of {}",
            CONSERVATION_RULES.join(", ")
        );
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.len() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(password)
}

fn random_password() -> String {
    let mut bytes = [0u8; 15];
    let _ = openssl::rand::rand_bytes(&mut bytes);
    openssl::base64::encode_block(&bytes).replace(['+', '/'], "x")
}
