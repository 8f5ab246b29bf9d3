//! The activation and new-password mails reach a real smarthost: Python's `aiosmtpd` on
//! loopback, requiring STARTTLS with the development certificate, delivering into a
//! Maildir. The tests follow the link they find in the mail, as a holder would.

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use jiff::Timestamp;
use pecd::notify;
use pecd::notify::LinkError;
use pecd::notify::MailServers;
use pecd::notify::NotifySettings;
use pecd::notify::mailer;
use pecd::notify::mailer::Smarthost;
use pecd::notify::mailer::Transport;
use pecd::smtp::client::ClientOptions;
use pecd::smtp::client::ClientTimeouts;
use pecd::store::Store;
use pecd::store::links::LinkPurpose;
use pecd::store::mailbox::NewMailbox;
use tokio_util::sync::CancellationToken;

use crate::daemon;
use crate::support;

/// A running `python3 -m aiosmtpd`, stopped on drop.
pub struct TestSmarthost {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
}

impl Drop for TestSmarthost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test smarthost does with the mail it is offered.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Takes it into the Maildir.
    Deliver,
    /// Refuses every recipient with a 550.
    RefuseRecipients,
}

impl TestSmarthost {
    /// Starts aiosmtpd on `port`, offering (and requiring) STARTTLS with the TLS
    /// certificate in `certs`, delivering into `maildir`.
    pub fn start(port: u16, certs: &Path, maildir: &Path) -> TestSmarthost {
        TestSmarthost::behaving(port, certs, maildir, Behaviour::Deliver)
    }

    /// [`TestSmarthost::start`], doing `behaviour` with the mail.
    pub fn behaving(
        port: u16,
        certs: &Path,
        maildir: &Path,
        behaviour: Behaviour,
    ) -> TestSmarthost {
        let mut command = Command::new("python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--tlscert")
            .arg(certs.join("tls.pem"))
            .arg("--tlskey")
            .arg(certs.join("tls.key"));
        match behaviour {
            Behaviour::Deliver => command
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir),
            Behaviour::RefuseRecipients => command
                .env("PYTHONPATH", support::root().join("tests/scripts"))
                .args(["-c", "refusing_smarthost.RefuseRecipients"]),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install python3-aiosmtpd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on {port} (is the Python package aiosmtpd installed?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestSmarthost {
            port,
            maildir: maildir.to_path_buf(),
            child,
        }
    }

    /// The mails delivered so far.
    pub fn mails(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect()
    }

    /// Waits until `count` mails were delivered.
    pub fn wait_for(&self, count: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.mails().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let mails = self.mails();
        assert!(
            mails.len() >= count,
            "{} of {count} mails arrived",
            mails.len()
        );
        mails
    }
}

/// What a test reads of a delivered mail.
#[derive(Debug)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The token of the link in the body.
    pub token: String,
}

pub fn read(mail: &[u8]) -> Received {
    let message = mail_parser::MessageParser::default().parse(mail).unwrap();
    let body = message.body_text(0).unwrap().to_string();
    let start = body.find("/attiva/").expect("the mail has a link") + "/attiva/".len();
    let token: String = body[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    Received {
        to: message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap()
            .to_string(),
        subject: message.subject().unwrap().to_string(),
        body,
        token,
    }
}

fn certs() -> PathBuf {
    support::root().join("certs/pec-a.test")
}

fn settings() -> NotifySettings {
    NotifySettings {
        provider_name: "Gestore A S.p.A.".into(),
        domain: "pec-a.test".into(),
        from: "noreply@pec-a.test".into(),
        web_url: "https://127.0.0.1:2593".into(),
        servers: MailServers {
            host: "pec-a.test".into(),
            imap_port: 2591,
            imaps_port: 2592,
            submission_port: 2587,
            submissions_port: 2588,
        },
        link_validity: notify::LINK_VALIDITY,
    }
}

/// The mailer of `store`, sending to 127.0.0.1:`port` and trusting the development CA,
/// running on its own runtime until the returned token is cancelled.
fn start_mailer(store: &Store, port: u16) -> (tokio::runtime::Runtime, CancellationToken) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let transport = Transport {
        smarthost: Some(Smarthost::parse(&format!("127.0.0.1:{port}")).unwrap()),
        options: ClientOptions {
            helo: "pec-a.test".into(),
            tls: pecd::net::tls::client_config_with_public_roots(&[certs().join("ca.pem")])
                .unwrap(),
            require_tls: false,
            timeouts: ClientTimeouts::default(),
        },
        retry: Duration::from_secs(1),
    };
    let shutdown = CancellationToken::new();
    runtime.spawn(mailer::run(
        store.clone(),
        settings(),
        transport,
        shutdown.clone(),
    ));
    (runtime, shutdown)
}

fn store_with(dir: &Path, mailboxes: &[&str]) -> Store {
    let store = Store::open(&dir.join("data")).unwrap();
    for address in mailboxes {
        store
            .write(|tx| {
                tx.mailboxes()
                    .create(
                        address,
                        "Provvisoria-123",
                        &NewMailbox::default(),
                        Timestamp::now(),
                    )
                    .map(|_| ())
            })
            .unwrap();
    }
    store
}

/// Queues the mails of `purpose` for `mailbox` to `to`, as an activation or a "send new
/// password" does.
fn queue(
    store: &Store,
    settings: &NotifySettings,
    purpose: LinkPurpose,
    mailbox: &str,
    to: &[String],
) {
    store
        .write(|tx| match purpose {
            LinkPurpose::Activation => {
                notify::queue_activation(tx, settings, mailbox, to, Timestamp::now())
            }
            LinkPurpose::NewPassword => {
                notify::queue_new_password(tx, settings, mailbox, to, Timestamp::now())
            }
        })
        .unwrap();
}

/// A smarthost on loopback and a store holding `mailbox`, in a temporary folder.
fn with_smarthost(mailbox: &str) -> (tempfile::TempDir, TestSmarthost, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let smarthost =
        TestSmarthost::start(daemon::port_base(), &certs(), &tmp.path().join("maildir"));
    let store = store_with(tmp.path(), &[mailbox]);
    (tmp, smarthost, store)
}

fn verify(store: &Store, address: &str, password: &str) -> bool {
    store
        .read(|tx| tx.mailboxes().verify_password(address, password))
        .unwrap()
}

#[test]
fn the_activation_mail_reaches_holder_and_referent_over_starttls_and_its_link_works_once() {
    let (tmp, smarthost, store) = with_smarthost("anna.bianchi@pec-a.test");
    let to = vec![
        "anna@example.test".to_string(),
        "lra@comune.test".to_string(),
    ];
    queue(
        &store,
        &settings(),
        LinkPurpose::Activation,
        "anna.bianchi@pec-a.test",
        &to,
    );
    let (_runtime, shutdown) = start_mailer(&store, smarthost.port);

    // aiosmtpd refuses MAIL before STARTTLS: arriving at all proves TLS was used.
    let mut mails: Vec<Received> = smarthost.wait_for(2).iter().map(|m| read(m)).collect();
    mails.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(mails[0].to, "anna@example.test");
    assert_eq!(mails[1].to, "lra@comune.test");
    for mail in &mails {
        assert_eq!(
            mail.subject,
            "Attivazione della casella PEC anna.bianchi@pec-a.test"
        );
        assert!(
            mail.body.contains("https://127.0.0.1:2593/attiva/"),
            "{}",
            mail.body
        );
        assert!(
            mail.body
                .contains("pec-a.test, porta 2592 (SSL/TLS) oppure 2591 (STARTTLS)")
        );
        assert!(
            !mail.body.contains("Provvisoria-123"),
            "a password was mailed"
        );
        assert_eq!(mail.token.len(), 32);
    }
    assert_ne!(
        mails[0].token, mails[1].token,
        "each mail has a link of its own"
    );
    let outbox_empty = || store.read(|tx| tx.outbox().all()).unwrap().is_empty();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !outbox_empty() {
        assert!(
            Instant::now() < deadline,
            "accepted mails stay in the outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The store holds no token: a copy of it opens no link.
    let database = std::fs::read(tmp.path().join("data/pecd.redb")).unwrap();
    for mail in &mails {
        let found = database
            .windows(mail.token.len())
            .any(|w| w == mail.token.as_bytes());
        assert!(!found, "a link's token is in the store");
    }

    let now = Timestamp::now();
    let info = notify::check(&store, &mails[0].token, now).unwrap();
    assert_eq!(info.mailbox, "anna.bianchi@pec-a.test");
    let set = notify::redeem(&store, &mails[0].token, "Scelta-da-Anna-1", now).unwrap();
    assert_eq!(set, "anna.bianchi@pec-a.test");
    assert!(verify(
        &store,
        "anna.bianchi@pec-a.test",
        "Scelta-da-Anna-1"
    ));
    // Single use: neither this link again nor the referent's copy.
    for token in [&mails[0].token, &mails[1].token] {
        let again = notify::redeem(&store, token, "Scelta-da-altri-2", now);
        assert!(matches!(again, Err(LinkError::Used)), "{again:?}");
    }
    assert!(verify(
        &store,
        "anna.bianchi@pec-a.test",
        "Scelta-da-Anna-1"
    ));
    shutdown.cancel();
}

#[test]
fn an_expired_new_password_link_sets_nothing() {
    let (_tmp, smarthost, store) = with_smarthost("carlo.verdi@pec-a.test");
    let to = vec!["carlo@example.test".to_string()];
    queue(
        &store,
        &settings(),
        LinkPurpose::NewPassword,
        "carlo.verdi@pec-a.test",
        &to,
    );
    let (_runtime, shutdown) = start_mailer(&store, smarthost.port);
    let mail = read(&smarthost.wait_for(1)[0]);
    assert_eq!(
        mail.subject,
        "Nuova password per la casella PEC carlo.verdi@pec-a.test"
    );
    let later = Timestamp::now() + Duration::from_secs(72 * 3600 + 60);
    let expired = notify::redeem(&store, &mail.token, "Scelta-da-Carlo-1", later);
    assert!(matches!(expired, Err(LinkError::Expired)), "{expired:?}");
    assert!(verify(&store, "carlo.verdi@pec-a.test", "Provvisoria-123"));
    shutdown.cancel();
}

#[test]
fn a_mail_waits_in_the_outbox_while_the_smarthost_is_down_and_arrives_when_it_is_up() {
    let tmp = tempfile::tempdir().unwrap();
    let port = daemon::port_base();
    let store = store_with(tmp.path(), &["dario.neri@pec-a.test"]);
    let to = vec!["dario@example.test".to_string()];
    queue(
        &store,
        &settings(),
        LinkPurpose::Activation,
        "dario.neri@pec-a.test",
        &to,
    );
    let (_runtime, shutdown) = start_mailer(&store, port);
    // Nothing listens on the port: the mail is retried, never dropped.
    wait_for_failures(&store, 2);
    // No attempt that never reached a smarthost made a link.
    assert_eq!(store.read(|tx| tx.links().count()).unwrap(), 0);

    let smarthost = TestSmarthost::start(port, &certs(), &tmp.path().join("maildir"));
    let mail = read(&smarthost.wait_for(1)[0]);
    assert_eq!(mail.to, "dario@example.test");
    let set = notify::redeem(&store, &mail.token, "Scelta-da-Dario-1", Timestamp::now());
    assert_eq!(set.unwrap(), "dario.neri@pec-a.test");
    shutdown.cancel();
}

#[test]
fn pecd_serve_mails_a_queued_activation_through_the_configured_smarthost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let base = daemon::port_base();
    let base_text = base.to_string();
    let init = [
        "init",
        &*dir.to_string_lossy(),
        "--domain",
        "pec-a.test",
        "--name",
        "Gestore A S.p.A.",
        "--port-base",
        &base_text,
    ];
    support::stdout_of(env!("CARGO_BIN_EXE_pecd"), &init, "pecd");
    let smarthost_port = daemon::port_base();
    let config_path = dir.join("pecd.toml");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push_str(&format!(
        "\n[relay]\ntls_roots = [\"{}\"]\n\n[web]\nurl = \"https://pannello.pec-a.test/\"\n\n\
         [notify]\nsmtp = \"127.0.0.1:{smarthost_port}\"\nretry_secs = 1\n",
        dir.join("certs/ca.pem").display()
    ));
    std::fs::write(&config_path, config).unwrap();

    // Queued while the daemon is down, as a crash between the activation and the
    // mailer's pass would leave it.
    let loaded = pecd::config::Config::load(&config_path).unwrap();
    let store = store_with(&dir, &["elena.galli@pec-a.test"]);
    let to = vec!["elena@example.test".to_string()];
    let settings = NotifySettings::from_config(&loaded);
    queue(
        &store,
        &settings,
        LinkPurpose::Activation,
        "elena.galli@pec-a.test",
        &to,
    );
    drop(store);

    let daemon = daemon::start(&dir, base);
    let smarthost = TestSmarthost::start(
        smarthost_port,
        &dir.join("certs"),
        &tmp.path().join("maildir"),
    );
    let mail = read(&smarthost.wait_for(1)[0]);
    drop(daemon);
    assert_eq!(mail.to, "elena@example.test");
    let from = mail_parser::MessageParser::default()
        .parse(&smarthost.mails()[0])
        .and_then(|m| {
            m.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address().map(str::to_string))
        });
    assert_eq!(from.as_deref(), Some("noreply@pec-a.test"));
    assert!(
        mail.body.contains("https://pannello.pec-a.test/attiva/"),
        "{}",
        mail.body
    );
    let ports = format!(
        "porta {} (SSL/TLS) oppure {} (STARTTLS)",
        base + 4,
        base + 3
    );
    assert!(
        mail.body.contains(&ports),
        "{ports:?} missing from:\n{}",
        mail.body
    );

    let store = Store::open(&dir.join("data")).unwrap();
    assert!(store.read(|tx| tx.outbox().all()).unwrap().is_empty());
    let set = notify::redeem(&store, &mail.token, "Scelta-da-Elena-1", Timestamp::now());
    assert_eq!(set.unwrap(), "elena.galli@pec-a.test");
    assert!(verify(
        &store,
        "elena.galli@pec-a.test",
        "Scelta-da-Elena-1"
    ));
}

/// Waits until the one queued mail has failed `attempts` times; returns its last error.
fn wait_for_failures(store: &Store, attempts: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queued = store.read(|tx| tx.outbox().all()).unwrap();
        assert_eq!(queued.len(), 1, "the mail left the outbox unsent");
        if queued[0].attempts >= attempts {
            return queued[0].last_error.clone().unwrap();
        }
        assert!(Instant::now() < deadline, "the mailer does not retry");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Queues an activation of `mailbox` in a new store under `tmp` and lets the mailer try
/// the smarthost on `port` until it failed twice; the last error.
fn two_failures(tmp: &Path, mailbox: &str, port: u16) -> String {
    let store = store_with(tmp, &[mailbox]);
    let to = vec!["titolare@example.test".to_string()];
    queue(&store, &settings(), LinkPurpose::Activation, mailbox, &to);
    let (_runtime, shutdown) = start_mailer(&store, port);
    let error = wait_for_failures(&store, 2);
    shutdown.cancel();
    error
}

#[test]
fn a_mail_the_smarthost_refuses_stays_queued_and_is_tried_again() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("maildir");
    let refusing = TestSmarthost::behaving(
        daemon::port_base(),
        &certs(),
        &maildir,
        Behaviour::RefuseRecipients,
    );
    let error = two_failures(tmp.path(), "fabio.rossi@pec-a.test", refusing.port);
    assert!(error.contains("550"), "{error}");
}

#[test]
fn a_smarthost_whose_certificate_chains_to_no_trusted_root_gets_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // pec-b's CA is neither a public root nor one the mailer was given: a stand-in for
    // a machine in the middle that answers in the smarthost's place.
    let impostor = TestSmarthost::start(
        daemon::port_base(),
        &support::root().join("certs/pec-b.test"),
        &tmp.path().join("maildir"),
    );
    let error = two_failures(tmp.path(), "gina.bruno@pec-a.test", impostor.port);
    assert!(error.contains("TLS"), "{error}");
    assert!(impostor.mails().is_empty(), "the mail went to the impostor");
}
