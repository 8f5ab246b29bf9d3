//! Conservation without a running daemon: `kill -9` during ingest, exports opened by
//! 7-Zip and checked offline, quotas and their alerts, retention and search.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pecd::store::Store;

use crate::conservation::config;
use crate::conservation::packages;
use crate::conservation::pecd;
use crate::conservation::run_ok;
use crate::conservation::validate_package;
use crate::daemon;
use crate::support;

/// A provider from `pecd init` with conservation settings appended, not running.
fn offline_provider(tmp: &Path, extra: &str) -> PathBuf {
    let dir = tmp.join("p");
    let out = pecd()
        .args([
            "init",
            &dir.to_string_lossy(),
            "--domain",
            "pec-a.test",
            "--name",
            "Gestore A S.p.A.",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
    std::fs::write(dir.join("pecd.toml"), format!("{text}\n{extra}")).unwrap();
    daemon::add_mailbox(&dir, "mario@pec-a.test");
    dir
}

/// Queues `count` ordinary messages of about `size` bytes for conservation, as the
/// INBOX hook would.
fn queue_messages(dir: &Path, mailbox: &str, count: usize, size: usize, first: usize) {
    let store = Store::open(&dir.join("data")).unwrap();
    for n in first..first + count {
        let header = format!(
            "From: x@y.test\r\nTo: {mailbox}\r\nSubject: messaggio {n}\r\nMessage-ID: <m{n}@y.test>\r\n\r\n"
        );
        let body = "Testo conservato. ".repeat(size.saturating_sub(header.len()) / 18 + 1);
        let raw = format!("{header}{body}\r\n").into_bytes();
        let blob = store.blobs().put(&raw).unwrap();
        store
            .write(|tx| {
                pecd::conservation::queue::enqueue_manual(
                    tx,
                    mailbox,
                    &blob,
                    raw.len() as u64,
                    None,
                    jiff::Timestamp::now(),
                )
                .map(|_| ())
            })
            .unwrap();
    }
}

fn ingest(dir: &Path) -> String {
    run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["conservation", "ingest", "--config", &config(dir)],
        "pecd",
    )
}

#[test]
fn kill_9_during_ingest_loses_nothing_and_conserves_each_message_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = offline_provider(tmp.path(), "[conservation]\nbatch_max_messages = 5\n");
    queue_messages(&dir, "mario@pec-a.test", 120, 2000, 0);
    let mut interrupted = false;
    for delay in [100, 150, 200] {
        let mut child = pecd()
            .args(["conservation", "ingest", "--config", &config(&dir)])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let recorded = packages(&dir).len();
        let on_disk =
            std::fs::read_dir(dir.join("data/conservation/packages")).map_or(0, |d| d.count());
        eprintln!("after kill at {delay} ms: {recorded} recorded, {on_disk} folders");
        interrupted |= recorded < 24;
    }
    assert!(interrupted, "no kill landed during an ingest");
    ingest(&dir);
    let store = Store::open(&dir.join("data")).unwrap();
    assert_eq!(store.read(|tx| tx.conservation().jobs()).unwrap().len(), 0);
    drop(store);
    let mut subjects: Vec<String> = packages(&dir)
        .iter()
        .flat_map(|p| {
            p.messages
                .iter()
                .map(|m| m.metadata.subject.clone().unwrap())
        })
        .collect();
    subjects.sort();
    let mut expected: Vec<String> = (0..120).map(|n| format!("messaggio {n}")).collect();
    expected.sort();
    assert_eq!(
        subjects, expected,
        "every message in exactly one recorded package"
    );
    // Packages left unrecorded by a kill are reported, recorded ones are intact.
    let out = pecd()
        .args(["conservation", "audit", "--config", &config(&dir)])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    for line in report
        .lines()
        .filter(|l| l.contains(": ") && !l.contains("audited"))
    {
        assert!(line.contains("not recorded"), "{report}");
    }
}

fn pecd_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut command = pecd();
    command.args(args);
    support::with_stdin(command, stdin)
}

#[test]
fn exports_verify_offline_and_open_in_7zip_with_the_right_password_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = offline_provider(tmp.path(), "[conservation]\nbatch_max_messages = 5\n");
    queue_messages(&dir, "mario@pec-a.test", 7, 1500, 0);
    ingest(&dir);
    assert_eq!(packages(&dir).len(), 2);
    let cfg = config(&dir);
    let ca = dir.join("certs/ca.pem");

    // Plain export: verify-package accepts it; 7-Zip extracts it and every package in
    // it passes the real validators.
    let plain = tmp.path().join("pdd.zip");
    let plain_s = plain.to_string_lossy().to_string();
    run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &[
            "conservation",
            "export",
            "--config",
            &cfg,
            "--mailbox",
            "mario@pec-a.test",
            "--output",
            &plain_s,
        ],
        "pecd",
    );
    let out = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["conservation", "verify-package", &plain_s],
        "pecd",
    );
    assert!(out.contains("2 package(s) checked"), "{out}");
    let extracted = tmp.path().join("x");
    run_ok(
        "7zz",
        &["x", "-y", &format!("-o{}", extracted.display()), &plain_s],
        "7zip",
    );
    for record in packages(&dir) {
        validate_package(&extracted.join(&record.id), &ca);
    }

    // A weak password is refused; a good one gives AES-256 entries.
    let secret = tmp.path().join("secret.zip");
    let secret_s = secret.to_string_lossy().to_string();
    let export = [
        "conservation",
        "export",
        "--config",
        &cfg,
        "--mailbox",
        "mario@pec-a.test",
        "--output",
        &secret_s,
        "--password-stdin",
    ];
    let weak = pecd_with_stdin(&export, "password\n");
    assert_eq!(
        weak.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    assert!(!secret.exists());
    let good = pecd_with_stdin(&export, "Conserv@2026x\n");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let listing = run_ok("7zz", &["l", "-slt", &secret_s], "7zip");
    assert!(listing.contains("AES-256"), "{listing}");
    run_ok("7zz", &["t", "-pConserv@2026x", &secret_s], "7zip");
    let wrong = support::run("7zz", &["t", "-pSbagliata@2026", &secret_s], "7zip");
    assert!(
        !wrong.status.success(),
        "7zz opened it with a wrong password"
    );
    let none = support::run("7zz", &["t", "-p", &secret_s], "7zip");
    assert!(!none.status.success(), "7zz opened it without a password");

    let verify = [
        "conservation",
        "verify-package",
        &secret_s,
        "--password-stdin",
    ];
    let ok = pecd_with_stdin(&verify, "Conserv@2026x\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(
        !pecd_with_stdin(&verify, "Sbagliata@2026\n")
            .status
            .success()
    );
    let out = pecd()
        .args(["conservation", "verify-package", &secret_s])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Search finds conserved messages by subject words.
    let out = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &[
            "conservation",
            "search",
            "--config",
            &cfg,
            "--mailbox",
            "mario@pec-a.test",
            "messaggio 3",
            "--json",
        ],
        "pecd",
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("\"subject\":\"messaggio 3\""), "{out}");

    // The index is rebuilt from the recorded packages when its folder is gone; words are
    // stemmed (`messaggi` finds `messaggio`) and all required.
    let index = dir.join("data/conservation/index");
    assert!(index.join("meta.json").is_file());
    std::fs::remove_dir_all(&index).unwrap();
    let search = |query: &str| {
        run_ok(
            env!("CARGO_BIN_EXE_pecd"),
            &[
                "conservation",
                "search",
                "--config",
                &cfg,
                "--mailbox",
                "mario@pec-a.test",
                query,
            ],
            "pecd",
        )
    };
    let out = search("messaggi 3");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("messaggio 3"), "{out}");
    assert!(index.join("meta.json").is_file());
    assert_eq!(search("messaggio 3 inesistente").lines().count(), 0);

    // The rapporti di versamento are retrievable, one per SIP.
    let sip = &packages(&dir)[0].messages[0].metadata.sip_id;
    let out = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &[
            "conservation",
            "rdv",
            "--config",
            &cfg,
            "--mailbox",
            "mario@pec-a.test",
            sip,
        ],
        "pecd",
    );
    assert!(
        out.contains("<EsitoGenerale>POSITIVO</EsitoGenerale>") && out.contains(sip.as_str()),
        "{out}"
    );

    // Retention: ten years by default; then disposal is proposed, never done.
    let disposal = |at: &str| {
        run_ok(
            env!("CARGO_BIN_EXE_pecd"),
            &["conservation", "disposal", "--config", &cfg, "--at", at],
            "pecd",
        )
    };
    assert!(disposal("2030-01-01").contains("0 disposal proposal(s)"));
    let later = disposal("2040-01-01");
    assert!(later.contains("2 disposal proposal(s)"), "{later}");
    assert_eq!(packages(&dir).len(), 2);

    // Revoking conservation switches the rule off and leaves a full, verifiable export.
    let out = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &[
            "conservation",
            "revoke",
            "mario@pec-a.test",
            "--config",
            &cfg,
        ],
        "pecd",
    );
    let token = out
        .split("download token ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let export = dir.join(format!("data/conservation/exports/{token}.zip"));
    run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["conservation", "verify-package", &export.to_string_lossy()],
        "pecd",
    );
    let show = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["mailbox", "show", "mario@pec-a.test", "--config", &cfg],
        "pecd",
    );
    assert!(show.contains("off"), "{show}");

    // The user's download link: the admin HTTP listener serves the export to whoever
    // holds the token (no bearer token), and nothing for a wrong one.
    let downloaded = tmp.path().join("downloaded.zip");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let store = Store::open(&dir.join("data")).unwrap();
    let scrape = pecd::admin::scrape::Scrape {
        metrics: pecd::metrics::Metrics::default(),
        store: store.clone(),
        public: false,
    };
    runtime.spawn(pecd::admin::serve(
        pecd::admin::listener::Admitted::new(listener, pecd::net::listener::Admission::new(16, 16)),
        store.clone(),
        pecd::admin::manage_api::ManageApi {
            store,
            settings: std::sync::Arc::new(pecd::manage::mailboxes::Settings {
                domain: "pec-a.test".into(),
                types: pecd::config::MailboxTypeConfig::defaults(),
            }),
            // This test activates no mailbox: no mail to queue.
            on_activation: std::sync::Arc::new(|_, _| Ok(())),
        },
        "admin-token-for-tests".into(),
        scrape,
        shutdown.clone(),
    ));
    let script = r#"
import sys, urllib.request, urllib.error
port, token, out = sys.argv[1:4]
answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/exports/{token}", timeout=30)
data = answer.read()
assert answer.headers["Content-Length"] == str(len(data)), answer.headers
assert answer.headers["Content-Type"] == "application/zip", answer.headers
assert answer.headers["Content-Disposition"].startswith("attachment;"), answer.headers
open(out, "wb").write(data)
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/exports/{'0' * 32}", timeout=30)
    sys.exit("a wrong token downloaded something")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/mailboxes", timeout=30)
    sys.exit("the admin API answered without its bearer token")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
"#;
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &port.to_string(),
            token,
            &downloaded.to_string_lossy(),
        ],
        "python3",
    );
    shutdown.cancel();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&downloaded).unwrap(),
        std::fs::read(&export).unwrap()
    );
}

fn alerts(dir: &Path, mailbox: &str) -> Vec<String> {
    let store = Store::open(&dir.join("data")).unwrap();
    let messages = store
        .read(|tx| {
            tx.mailboxes()
                .messages(mailbox, pecd::store::mailbox::INBOX)
        })
        .unwrap();
    messages
        .iter()
        .map(|m| store.blobs().get(&m.blob).unwrap())
        .filter_map(|raw| {
            let text = String::from_utf8_lossy(&raw).to_string();
            text.lines().find_map(|l| {
                l.strip_prefix("X-Conservazione-Avviso: ")
                    .map(str::to_string)
            })
        })
        .collect()
}

#[test]
fn quota_alerts_once_at_70_and_90_pauses_at_100_and_resumes_after_a_raise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = offline_provider(
        tmp.path(),
        "[conservation]\n[conservation.tiers]\nsmall = 10500\nmedium = 1000000\n",
    );
    let mailbox = "mario@pec-a.test";
    queue_messages(&dir, mailbox, 3, 2000, 0);
    ingest(&dir);
    assert_eq!(alerts(&dir, mailbox), Vec::<String>::new());
    queue_messages(&dir, mailbox, 1, 2000, 3);
    ingest(&dir);
    assert_eq!(alerts(&dir, mailbox), vec!["70"]);
    queue_messages(&dir, mailbox, 1, 2000, 4);
    ingest(&dir);
    assert_eq!(alerts(&dir, mailbox), vec!["70", "90"]);
    queue_messages(&dir, mailbox, 2, 2000, 5);
    let out = ingest(&dir);
    assert!(out.contains("paused by quota"), "{out}");
    ingest(&dir);
    assert_eq!(alerts(&dir, mailbox), vec!["70", "90", "100"]);
    let status = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["conservation", "status", "--config", &config(&dir)],
        "pecd",
    );
    assert!(status.contains("queued: 2\n"), "{status}");
    assert!(status.contains("PAUSED"), "{status}");

    run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &[
            "conservation",
            "tier",
            mailbox,
            "medium",
            "--config",
            &config(&dir),
        ],
        "pecd",
    );
    ingest(&dir);
    let store = Store::open(&dir.join("data")).unwrap();
    assert_eq!(store.read(|tx| tx.conservation().jobs()).unwrap().len(), 0);
    drop(store);
    let conserved: usize = packages(&dir).iter().map(|p| p.messages.len()).sum();
    assert_eq!(conserved, 7, "nothing lost");
    assert_eq!(alerts(&dir, mailbox), vec!["70", "90", "100"]);

    // The alerts are signed by the provider.
    let store = Store::open(&dir.join("data")).unwrap();
    let inbox = store
        .read(|tx| {
            tx.mailboxes()
                .messages(mailbox, pecd::store::mailbox::INBOX)
        })
        .unwrap();
    let raw = store.blobs().get(&inbox[0].blob).unwrap();
    let path = tmp.path().join("alert.eml");
    std::fs::write(&path, raw).unwrap();
    support::openssl_smime_verify(&path, &dir.join("certs/ca.pem"));
}

#[test]
fn a_refused_sip_is_recorded_with_its_reason_and_leaves_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = offline_provider(
        tmp.path(),
        "[conservation]\nallowed_formats = [\"application/pdf\"]\n",
    );
    queue_messages(&dir, "mario@pec-a.test", 1, 500, 0);
    let out = ingest(&dir);
    assert!(out.contains("0 message(s) conserved, 1 refused"), "{out}");
    let status = run_ok(
        env!("CARGO_BIN_EXE_pecd"),
        &["conservation", "status", "--config", &config(&dir)],
        "pecd",
    );
    assert!(
        status.contains("queued: 0") && status.contains("refused: 1"),
        "{status}"
    );
    assert!(
        status.contains("format message/rfc822 is not in the allowed list"),
        "{status}"
    );
    assert!(packages(&dir).is_empty());
}
