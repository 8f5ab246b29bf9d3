//! The operator commands of CONTRACT.md, run as the real binary: `pecd init`,
//! `pecd index entry`, `pecd verify`.

use std::path::Path;
use std::process::Command;
use std::process::Output;

use pecd::crypto::identity::Signer;
use pecd::crypto::smime;

use crate::builders;
use crate::support;

fn pecd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn init(dir: &Path, domain: &str, name: &str, port_base: &str) {
    let out = pecd(&[
        "init",
        &dir.to_string_lossy(),
        "--domain",
        domain,
        "--name",
        name,
        "--port-base",
        port_base,
    ]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
}

#[test]
fn init_writes_a_provider_and_refuses_to_overwrite_it() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    init(&a, "pec-a.test", "Gestore A S.p.A.", "3100");
    for file in [
        "pecd.toml",
        "index.ldif",
        "certs/ca.pem",
        "certs/signing.pem",
        "certs/signing.key",
        "certs/tls.pem",
        "certs/tls.key",
    ] {
        assert!(a.join(file).exists(), "{file} missing");
    }
    assert!(a.join("data").is_dir());
    let config = std::fs::read_to_string(a.join("pecd.toml")).unwrap();
    assert!(
        config.contains("mx = \"127.0.0.1:3102\"") && config.contains("admin = \"127.0.0.1:3105\""),
        "{config}"
    );

    let again = pecd(&[
        "init",
        &a.to_string_lossy(),
        "--domain",
        "pec-a.test",
        "--name",
        "A",
    ]);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
}

#[test]
fn init_makes_a_signing_certificate_in_the_rfc_6109_profile() {
    let tmp = tempfile::tempdir().unwrap();
    init(tmp.path(), "pec-x.test", "Gestore X", "3200");
    let cert = tmp.path().join("certs/signing.pem");
    let out = support::run(
        "openssl",
        &["x509", "-in", &cert.to_string_lossy(), "-noout", "-text"],
        "openssl",
    );
    let dump = text(&out.stdout);
    assert!(
        dump.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{dump}"
    );
    assert!(
        dump.contains("email:posta-certificata@pec-x.test"),
        "{dump}"
    );
    assert!(dump.contains("E-mail Protection"), "{dump}");
    assert!(
        dump.contains("X509v3 Subject Key Identifier")
            && dump.contains("X509v3 Authority Key Identifier")
    );
    assert!(
        !dump.contains("Basic Constraints"),
        "no BasicConstraints: {dump}"
    );
    assert!(dump.contains("Public-Key: (2048 bit)") && dump.contains("sha256WithRSAEncryption"));
    let ca = tmp.path().join("certs/ca.pem");
    let verify = support::run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &ca.to_string_lossy(),
            "-purpose",
            "smimesign",
            &cert.to_string_lossy(),
        ],
        "openssl",
    );
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}

#[test]
fn index_entries_concatenate_into_an_index_that_verify_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a, "pec-a.test", "Gestore A S.p.A.", "3300");
    init(&b, "pec-b.test", "Gestore B S.p.A.", "3310");
    let mut index = Vec::new();
    for dir in [&a, &b] {
        let out = pecd(&[
            "index",
            "entry",
            "--config",
            &dir.join("pecd.toml").to_string_lossy(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let entry = text(&out.stdout);
        assert!(
            entry.contains("providerCertificateHash:")
                && entry.contains("providerCertificate;binary::"),
            "{entry}"
        );
        assert!(entry.contains("mailReceipt: posta-certificata@"), "{entry}");
        index.extend_from_slice(&out.stdout);
        index.push(b'\n');
    }
    let index_path = tmp.path().join("index.ldif");
    std::fs::write(&index_path, &index).unwrap();

    // A transport envelope signed with the key `pecd init` made for A.
    let signer = Signer::load(&a.join("certs/signing.pem"), &a.join("certs/signing.key")).unwrap();
    let case = builders::cases().into_iter().next().unwrap();
    let message = tmp.path().join("busta.eml");
    std::fs::write(&message, smime::sign(&signer, &case.unsigned).unwrap()).unwrap();

    let ca = a.join("certs/ca.pem");
    let out = pecd(&[
        "verify",
        &message.to_string_lossy(),
        "--index",
        &index_path.to_string_lossy(),
        "--ca",
        &ca.to_string_lossy(),
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "posta-certificata");
    assert_eq!(json["signature"]["present"], true);
    assert_eq!(json["signature"]["valid"], true);
    assert_eq!(json["signature"]["expired"], false);
    assert_eq!(json["signature"]["in_index"], true);
    assert_eq!(
        json["signature"]["signer"]["email"],
        "posta-certificata@pec-a.test"
    );
    assert_eq!(json["daticert"]["tipo"], "posta-certificata");
    assert_eq!(json["daticert"]["msgid"], "<client-1@mua.example>");

    // The same message against an index holding only B: listed nowhere, exit 1.
    let only_b = tmp.path().join("only-b.ldif");
    let b_entry = pecd(&[
        "index",
        "entry",
        "--config",
        &b.join("pecd.toml").to_string_lossy(),
    ]);
    std::fs::write(&only_b, &b_entry.stdout).unwrap();
    let out = pecd(&[
        "verify",
        &message.to_string_lossy(),
        "--index",
        &only_b.to_string_lossy(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["signature"]["in_index"], false);
}

#[test]
fn verify_names_the_real_messages() {
    let Some(shared) = support::shared("pecd verify on real messages") else {
        return;
    };
    let dir = shared.join("fixtures/real/aruba-2014");
    for (file, kind) in [
        ("message1.eml", "posta-certificata"),
        ("message2.eml", "posta-certificata"),
        ("message2_accettazione.eml", "accettazione"),
        ("message2_consegna.eml", "avvenuta-consegna"),
    ] {
        let out = pecd(&["verify", &dir.join(file).to_string_lossy(), "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["kind"], kind, "{file}");
        assert_eq!(json["signature"]["valid"], true, "{file}");
        assert_eq!(json["signature"]["expired"], true, "{file}");
        assert_eq!(
            json["signature"]["in_index"],
            serde_json::Value::Null,
            "{file}: no index given"
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: valid PEC, signed while the certificate was valid"
        );
        let human = pecd(&["verify", &dir.join(file).to_string_lossy()]);
        let human = text(&human.stdout);
        assert!(
            human.contains("signature:   valid (sha1)") && human.contains("EXPIRED"),
            "{human}"
        );
    }
}

#[test]
fn bad_input_gets_one_clear_line_and_the_right_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = pecd(&["verify", "/nonexistent/x.eml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        text(&missing.stderr).lines().count(),
        1,
        "{}",
        text(&missing.stderr)
    );

    let garbage = tmp.path().join("garbage.eml");
    std::fs::write(&garbage, b"\x00\x01\x02 not a message").unwrap();
    assert_eq!(
        pecd(&["verify", &garbage.to_string_lossy()]).status.code(),
        Some(2)
    );

    let ordinary = tmp.path().join("ordinary.eml");
    std::fs::write(
        &ordinary,
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n",
    )
    .unwrap();
    let out = pecd(&["verify", &ordinary.to_string_lossy(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "ordinary");
    assert_eq!(json["daticert"], serde_json::Value::Null);
    assert_eq!(json["signature"]["present"], false);

    let config = tmp.path().join("bad.toml");
    std::fs::write(
        &config,
        "[provider]\ndomain = \"a.test\"\nname = \"A\"\nshoe_size = 3\n",
    )
    .unwrap();
    let out = pecd(&["index", "entry", "--config", &config.to_string_lossy()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("shoe_size"), "{stderr}");

    let bad_domain = pecd(&[
        "init",
        &tmp.path().join("x").to_string_lossy(),
        "--domain",
        "bad domain",
        "--name",
        "X",
    ]);
    assert!(!bad_domain.status.success());
    assert_eq!(text(&bad_domain.stderr).lines().count(), 1);
}

/// A signed transport envelope from the provider in `dir`, written to `path`.
fn signed_envelope(dir: &Path, path: &Path) {
    let signer = Signer::load(
        &dir.join("certs/signing.pem"),
        &dir.join("certs/signing.key"),
    )
    .unwrap();
    let case = builders::cases().into_iter().next().unwrap();
    std::fs::write(path, smime::sign(&signer, &case.unsigned).unwrap()).unwrap();
}

#[test]
fn index_files_from_two_inits_concatenate_with_plain_cat() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (base_a, base_b) = (crate::daemon::port_base(), crate::daemon::port_base());
    init(&a, "pec-a.test", "Gestore A S.p.A.", &base_a.to_string());
    init(&b, "pec-b.test", "Gestore B S.p.A.", &base_b.to_string());
    let both = tmp.path().join("both.ldif");
    let cat = format!(
        "cat '{}' '{}' > '{}'",
        a.join("index.ldif").display(),
        b.join("index.ldif").display(),
        both.display()
    );
    assert!(
        Command::new("sh")
            .args(["-c", &cat])
            .status()
            .unwrap()
            .success()
    );
    let bytes = std::fs::read(&both).unwrap();
    let index = pecd::pec::index::ProvidersIndex::from_ldif(&bytes).unwrap();
    assert_eq!(index.providers().len(), 2);

    // `pecd index entry` gives the same records, and they concatenate the same way.
    let entries: Vec<u8> = [&a, &b]
        .into_iter()
        .flat_map(|dir| {
            let config = dir.join("pecd.toml");
            pecd(&["index", "entry", "--config", &config.to_string_lossy()]).stdout
        })
        .collect();
    assert_eq!(entries, bytes);

    // Both providers load it: the daemons start on it and vouch for each other.
    for dir in [&a, &b] {
        std::fs::copy(&both, dir.join("index.ldif")).unwrap();
    }
    let _a = crate::daemon::start(&a, base_a);
    let _b = crate::daemon::start(&b, base_b);
    let message = tmp.path().join("busta.eml");
    signed_envelope(&a, &message);
    let out = pecd(&[
        "verify",
        &message.to_string_lossy(),
        "--index",
        &b.join("index.ldif").to_string_lossy(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["signature"]["in_index"], true, "{json}");
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    init(tmp.path(), "pec-a.test", "Gestore A S.p.A.", "3400");
    let message = tmp.path().join("busta.eml");
    signed_envelope(tmp.path(), &message);
    let config = tmp.path().join("pecd.toml");

    // Through a shell pipe, as an operator would.
    let line = format!(
        "'{}' verify '{}' | head -1",
        env!("CARGO_BIN_EXE_pecd"),
        message.display()
    );
    let out = Command::new("sh").args(["-c", &line]).output().unwrap();
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );

    // Into a pipe whose reader is already gone: every write fails.
    crate::daemon::add_mailbox(tmp.path(), "mario@pec-a.test");
    for args in [
        vec!["verify", &*message.to_string_lossy()],
        vec!["verify", &*message.to_string_lossy(), "--json"],
        vec!["index", "entry", "--config", &*config.to_string_lossy()],
        vec!["mailbox", "list", "--config", &*config.to_string_lossy()],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_pecd"))
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(text(&out.stderr), "", "{args:?}");
        assert!(out.status.code().is_some(), "{args:?}: ended by a signal");
    }
}

#[test]
fn a_login_limit_of_zero_is_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    init(tmp.path(), "pec-a.test", "Gestore A S.p.A.", "3500");
    let config = tmp.path().join("pecd.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{written}\n[login]\nfailures_per_account = 0\n"),
    )
    .unwrap();
    let out = pecd(&["index", "entry", "--config", &config.to_string_lossy()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("failures_per_account"), "{stderr}");
}
