//! The command line, parsed by clap. The commands that work on the store
//! also (de)serialize, so one that finds the daemon running is handed to it
//! ([`super::store`]).

use std::path::PathBuf;

use clap::Parser;
use clap::Subcommand;
use serde::Deserialize;
use serde::Serialize;

use super::mailbox::Changes;

/// PEC (Posta Elettronica Certificata) provider server and conservation gateway.
#[derive(Debug, Parser)]
#[command(name = "pecd", version, about)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The operator commands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
        /// The subcommand.
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Administer mailboxes (works while the daemon runs).
    Mailbox {
        /// The subcommand.
        #[command(subcommand)]
        command: MailboxCommand,
    },
    /// The mail domains this provider manages (works while the daemon runs).
    Domain {
        /// The subcommand.
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// The people who log in to the web panel (works while the daemon runs).
    Operator {
        /// The subcommand.
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// The event log (registro).
    Log {
        /// The subcommand.
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The conservation gateway: audit, export, verify-package, search.
    Conservation {
        /// The subcommand.
        #[command(subcommand)]
        command: ConservationCommand,
    },
    /// The AgID statistics (P01, P02, C01) as CSV (works while the daemon runs).
    Stats {
        /// The subcommand.
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Outages of the service, for the AgID statistics (works while the daemon runs).
    Outage {
        /// The subcommand.
        #[command(subcommand)]
        command: OutageCommand,
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

/// `pecd mailbox …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum MailboxCommand {
    /// Create a mailbox.
    Add {
        /// The address.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The settings.
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
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The settings.
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

/// The options `mailbox add` and `mailbox set` share.
#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
pub struct MailboxOptions {
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Receipt type asked for when a message sets no X-TipoRicevuta.
    #[arg(long)]
    pub receipt: Option<String>,
    /// Conservation rule: all-inbound, envelopes, receipts or off.
    #[arg(long)]
    pub conservation: Option<String>,
    /// Mailbox quota in bytes.
    #[arg(long)]
    pub quota_bytes: Option<u64>,
}

impl MailboxOptions {
    /// The changes these options ask for.
    pub fn changes(&self) -> Changes {
        Changes {
            password_stdin: self.password_stdin,
            receipt: self.receipt.clone(),
            conservation: self.conservation.clone(),
            quota_bytes: self.quota_bytes,
        }
    }
}

/// `pecd log …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum LogCommand {
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

/// `pecd domain …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum DomainCommand {
    /// Add a managed domain.
    Add {
        /// The domain.
        domain: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The ente the domain is dedicated to.
        #[arg(long)]
        ente: Option<String>,
    },
    /// List the managed domains.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Show one managed domain.
    Show {
        /// The domain.
        domain: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `pecd operator …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum OperatorCommand {
    /// Add an operator of the web panel.
    Add {
        /// The login name.
        username: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// gestore, lra or aggregator.
        #[arg(long)]
        role: String,
        /// The ente (required for lra and aggregator).
        #[arg(long)]
        ente: Option<String>,
        /// The domains an LRA may create mailboxes in, comma-separated.
        #[arg(long, value_delimiter = ',')]
        domains: Vec<String>,
        /// Where mails to the operator go.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the operators.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Disable an operator: it can no longer log in.
    Disable {
        /// The login name.
        username: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `pecd index …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum IndexCommand {
    /// Print this provider's record of the providers index as LDIF.
    Entry {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// The `pecd conservation` subcommands.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum ConservationCommand {
    /// Fixity audit of every stored package: re-hash, signatures, time stamps.
    Audit {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a pacchetto di distribuzione (ZIP; AES-256 with --password-stdin).
    Export {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// The ZIP to write.
        #[arg(long)]
        output: PathBuf,
        /// Packages sealed not before (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Packages sealed not after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Read a password from stdin and encrypt every entry (AES-256).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Check an exported package offline; exit 0 only if everything holds.
    VerifyPackage {
        /// The ZIP.
        file: PathBuf,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// CA certificates (PEM) signatures and time stamps must chain to; without,
        /// the CA the package carries is used. Repeatable.
        #[arg(long)]
        ca: Vec<PathBuf>,
    },
    /// Search conserved messages.
    Search {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// Words to find (subject, body, sender, recipients, attachment names);
        /// `kind:ricevuta…`, `since:DATE`, `until:DATE` filter.
        query: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Package every queued message now (the daemon does this on its own).
    Ingest {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Set a mailbox's conservation quota tier (raising it resumes a paused ingest).
    Tier {
        /// The mailbox.
        address: String,
        /// A tier of `[conservation.tiers]`.
        tier: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Disposal proposals (scarto): packages past their retention; nothing is deleted.
    Disposal {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Evaluate at this time instead of now (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        at: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke conservation for a mailbox: its rule becomes `off` and a full export is
    /// written, downloadable for 30 days through the recorded link token.
    Revoke {
        /// The mailbox.
        address: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Read a password from stdin and encrypt the export (AES-256).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a mailbox's rapporti di versamento (all, or one SIP's), with where each
    /// signed copy is.
    Rdv {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The mailbox.
        #[arg(long)]
        mailbox: String,
        /// One SIP (`pdv-…`).
        sip: Option<String>,
    },
    /// The stored packages: id, mailbox, when sealed, messages and bytes (with
    /// `--json`, one record per line).
    Packages {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Only this mailbox's.
        #[arg(long)]
        mailbox: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Queue length, packages and each mailbox's account.
    Status {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `pecd stats …`: one CSV file per statistic and period, the header row naming the
/// record's fields.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum StatsCommand {
    /// P01, the PEC service's figures of a quadrimestre.
    P01 {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The year.
        #[arg(long)]
        year: i16,
        /// 1 (January–April), 2 (May–August) or 3 (September–December).
        #[arg(long)]
        quadrimestre: u8,
    },
    /// P02, one record per outage of the PEC service in a quadrimestre.
    P02 {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The year.
        #[arg(long)]
        year: i16,
        /// 1 (January–April), 2 (May–August) or 3 (September–December).
        #[arg(long)]
        quadrimestre: u8,
    },
    /// C01, the conservation service's figures of a semestre.
    C01 {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The year.
        #[arg(long)]
        year: i16,
        /// 1 (January–June) or 2 (July–December).
        #[arg(long)]
        semestre: u8,
    },
}

/// `pecd outage …`.
#[derive(Clone, Debug, Subcommand, Serialize, Deserialize)]
pub enum OutageCommand {
    /// Record an outage (planned, or one the daemon could not see).
    Add {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// When the service became unavailable (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        start: String,
        /// When it was available again (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        end: String,
        /// 01 planned, 02 incident, 03 malfunction.
        #[arg(long = "type")]
        kind: String,
    },
    /// List every outage, recorded or detected from the daemon's runs.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}
