//! Another local user reading the provider's secrets: the admin token in the config,
//! the private keys, the database and people's mail. Everything `pecd init` and a
//! first `pecd serve` write must be the daemon user's alone, whatever the umask; and
//! `pecd serve` names what an operator later opened up.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use crate::daemon;

/// The permission bits of a file or folder, in octal as `ls` and `chmod` write them.
fn mode(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", mode & 0o777)
}

/// Asserts that neither group nor others may do anything with `path`.
fn private(path: &Path) {
    let mode = mode(path);
    assert!(mode.ends_with("00"), "{} is {mode}", path.display());
}

/// `pecd init` under a umask that hides nothing.
fn init_with_open_umask(dir: &Path, base: u16) {
    let command = format!(
        "umask 000; exec '{}' init '{}' --domain pec-a.test --name 'Gestore A' --port-base {base}",
        env!("CARGO_BIN_EXE_pecd"),
        dir.display()
    );
    let out = Command::new("sh").args(["-c", &command]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const KEYS: [&str; 4] = [
    "certs/ca.key",
    "certs/signing.key",
    "certs/tls.key",
    "certs/conservation.key",
];

#[test]
fn init_writes_the_token_and_the_keys_for_the_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    init_with_open_umask(&dir, daemon::port_base());
    for secret in ["pecd.toml"].into_iter().chain(KEYS) {
        assert_eq!(mode(&dir.join(secret)), "600", "{secret}");
    }
    assert_eq!(mode(&dir.join("data")), "700");
    // What is public stays readable: certificates and the providers index.
    assert_eq!(mode(&dir.join("index.ldif")), "644");
    assert_eq!(mode(&dir.join("certs/ca.pem")), "644");
}

#[test]
fn a_first_serve_keeps_keys_database_and_mail_private_and_warns_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let base = daemon::port_base();
    init_with_open_umask(&dir, base);
    // A fresh checkout: no certificates, no index, no data; `serve` makes them.
    std::fs::remove_dir_all(dir.join("certs")).unwrap();
    std::fs::remove_dir_all(dir.join("data")).unwrap();
    std::fs::remove_file(dir.join("index.ldif")).unwrap();
    let running = daemon::start(&dir, base);
    daemon::add_mailbox(&dir, "alice@pec-a.test");
    // A body too large for the database: it is stored as a file.
    let body = "Testo del messaggio, abbastanza lungo da finire in un file.\r\n".repeat(2000);
    let message = format!(
        "From: alice@pec-a.test\r\nTo: alice@pec-a.test\r\nSubject: grande\r\n\
         Message-ID: <grande@client.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\n{body}"
    );
    let reply = daemon::smtplib_send(
        &running,
        "alice@pec-a.test",
        &["alice@pec-a.test"],
        &message,
    );
    assert_eq!(reply, "250");
    let blobs = dir.join("data/blobs");
    let bodies = wait_for_bodies(&blobs);

    for key in KEYS {
        assert_eq!(mode(&dir.join(key)), "600", "{key}");
    }
    assert_eq!(mode(&dir.join("data")), "700");
    assert_eq!(mode(&dir.join("data/pecd.redb")), "600");
    private(&blobs);
    for body in &bodies {
        private(body);
        private(body.parent().unwrap());
    }
    let log = log_of(&dir);
    assert!(!log.contains("open to other users"), "{log}");
    drop(running);

    std::fs::set_permissions(dir.join("certs/tls.key"), PermissionsExt::from_mode(0o644)).unwrap();
    let _running = daemon::start(&dir, base);
    let log = log_of(&dir);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("open to other users"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("tls.key"),
        "{log}"
    );
}

/// The daemon's log without terminal colours.
fn log_of(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("pecd.log")).unwrap();
    let mut plain = String::with_capacity(log.len());
    let mut rest = log.as_str();
    while let Some(start) = rest.find('\x1b') {
        plain.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find('m').map_or(rest.len(), |m| m + 1);
        rest = &rest[end..];
    }
    plain.push_str(rest);
    plain
}

/// The body files under `blobs` once the daemon has written at least one.
fn wait_for_bodies(blobs: &Path) -> Vec<std::path::PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let bodies: Vec<_> = std::fs::read_dir(blobs)
            .unwrap()
            .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .collect();
        if !bodies.is_empty() {
            return bodies;
        }
        assert!(
            Instant::now() < deadline,
            "no body file under {}",
            blobs.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_served_warning_names_a_config_with_its_token_open_to_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let base = daemon::port_base();
    init_with_open_umask(&dir, base);
    let config = dir.join("pecd.toml");
    std::fs::set_permissions(&config, PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.join("data"), PermissionsExt::from_mode(0o755)).unwrap();
    let _running = daemon::start(&dir, base);
    let log = log_of(&dir);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("open to other users"))
        .collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(warnings.iter().any(|w| w.contains("pecd.toml")), "{log}");
    assert!(warnings.iter().any(|w| w.contains("mode=755")), "{log}");
}
