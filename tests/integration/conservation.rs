//! The conservation gateway, checked with real validators: Python's `bagit`
//! validates every bag, `xmllint --schema` the SInCRO PIndex, `openssl cms -verify` its
//! signature, `openssl ts -verify` its time stamp, `7zz` the encrypted export.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use pecd::conservation::archive::PackageRecord;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;

use crate::daemon;
use crate::support;

const SINCRO: &str = "data/metadata/other/sincro";
/// Conservation settings for tests: package at once, look every second.
pub const FAST: &str = "[conservation]\nbatch_wait_secs = 0\npoll_secs = 1\n";

pub fn pecd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pecd"))
}

pub fn config(dir: &Path) -> String {
    dir.join("pecd.toml").to_string_lossy().to_string()
}

pub fn set_rule(dir: &Path, address: &str, rule: &str) {
    let out = pecd()
        .args([
            "mailbox",
            "set",
            address,
            "--config",
            &config(dir),
            "--conservation",
            rule,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every package recorded by the provider in `dir`, as `pecd conservation packages`
/// lists them (through the daemon when it runs).
pub fn packages(dir: &Path) -> Vec<PackageRecord> {
    let args = [
        "conservation",
        "packages",
        "--config",
        &config(dir),
        "--json",
    ];
    support::stdout_of(env!("CARGO_BIN_EXE_pecd"), &args, "pecd")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn conserved_kinds(dir: &Path, mailbox: &str) -> Vec<String> {
    let mut kinds: Vec<String> = packages(dir)
        .iter()
        .filter(|p| p.mailbox == mailbox)
        .flat_map(|p| p.messages.iter().map(|m| m.metadata.kind.clone()))
        .collect();
    kinds.sort();
    kinds
}

pub fn wait_conserved(dir: &Path, mailbox: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let kinds = conserved_kinds(dir, mailbox);
        if kinds.len() >= count {
            return kinds;
        }
        assert!(
            Instant::now() < deadline,
            "{mailbox}: conserved {kinds:?}, expected {count}; log:\n{}",
            std::fs::read_to_string(dir.join("pecd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn message(from: &str, to: &[&str], subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\n\
         Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nTesto del messaggio da conservare.\r\n",
        to.join(", "),
        subject.replace(' ', "-")
    )
}

pub fn run_ok(program: &str, args: &[&str], package: &str) -> String {
    let out = support::run(program, args, package);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs every external validator on one package folder; `ca` is the dev CA that issued
/// the signer and the built-in TSA.
pub fn validate_package(package: &Path, ca: &Path) {
    let p = |rel: &str| package.join(rel).to_string_lossy().to_string();
    let ca = ca.to_string_lossy().to_string();
    let out = run_ok(
        "python3",
        &["-m", "bagit", "--validate", &p("")],
        "python3-bagit (pip install bagit)",
    );
    assert!(out.contains("is valid"), "{out}");
    if let Some(shared) = support::shared("xmllint --schema PIndex") {
        let xsd = shared.join("spec/sincro/Unisincro_PIndex.xsd");
        run_ok(
            "xmllint",
            &[
                "--noout",
                "--schema",
                &xsd.to_string_lossy(),
                &p(&format!("{SINCRO}/pindex.xml")),
            ],
            "libxml2-utils",
        );
    }
    let out = run_ok(
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            &p(&format!("{SINCRO}/pindex.xml.p7s")),
            "-content",
            &p(&format!("{SINCRO}/pindex.xml")),
            "-CAfile",
            &ca,
            "-out",
            "/dev/null",
        ],
        "openssl",
    );
    assert!(out.contains("Verification successful"), "{out}");
    let printed = run_ok(
        "openssl",
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            &p(&format!("{SINCRO}/pindex.xml.p7s")),
        ],
        "openssl",
    );
    assert!(
        printed.contains("signingCertificateV2"),
        "no CAdES attribute: {printed}"
    );
    // Sealed with the conservation key, not the mail provider's signing key.
    assert!(
        printed.contains("Conservazione"),
        "index not sealed by the conservation certificate: {printed}"
    );
    let out = run_ok(
        "openssl",
        &[
            "ts",
            "-verify",
            "-data",
            &p(&format!("{SINCRO}/pindex.xml.p7s")),
            "-in",
            &p(&format!("{SINCRO}/pindex.xml.p7s.tsr")),
            "-CAfile",
            &ca,
        ],
        "openssl",
    );
    assert!(out.contains("Verification: OK"), "{out}");
}

#[test]
fn a_pec_between_two_providers_is_conserved_under_each_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = daemon::pair(tmp.path(), FAST);
    for (address, rule) in [
        ("alice@pec-a.test", "receipts"),
        ("eve@pec-a.test", "envelopes"),
    ] {
        daemon::add_mailbox(&a_dir, address);
        set_rule(&a_dir, address, rule);
    }
    let b_boxes = [
        ("all@pec-b.test", "all-inbound"),
        ("env@pec-b.test", "envelopes"),
        ("rec@pec-b.test", "receipts"),
        ("off@pec-b.test", "off"),
    ];
    for (address, rule) in b_boxes {
        daemon::add_mailbox(&b_dir, address);
        set_rule(&b_dir, address, rule);
    }
    let a = daemon::start(&a_dir, base_a);
    let b = daemon::start(&b_dir, base_b);
    let to: Vec<&str> = b_boxes.iter().map(|(a, _)| *a).collect();
    for sender in ["alice@pec-a.test", "eve@pec-a.test"] {
        let reply = daemon::smtplib_send(
            &a,
            sender,
            &to,
            &message(sender, &to, &format!("Da conservare {sender}")),
        );
        assert_eq!(reply, "250");
    }
    let delivered = [Kind::Receipt(ReceiptKind::Acceptance)]
        .into_iter()
        .chain(std::iter::repeat_n(
            Kind::Receipt(ReceiptKind::Delivered),
            4,
        ))
        .collect::<Vec<_>>();
    daemon::wait_for(&a, "alice@pec-a.test", &delivered);
    daemon::wait_for(&a, "eve@pec-a.test", &delivered);

    // receipts: alice's acceptance and four delivery receipts; envelopes: none of eve's.
    let alice = wait_conserved(&a_dir, "alice@pec-a.test", 5);
    assert_eq!(
        alice.iter().filter(|k| *k == "accettazione").count(),
        1,
        "{alice:?}"
    );
    assert_eq!(
        alice.iter().filter(|k| *k == "avvenuta-consegna").count(),
        4,
        "{alice:?}"
    );
    // all-inbound and envelopes: both transport envelopes; receipts and off: nothing.
    assert_eq!(
        wait_conserved(&b_dir, "all@pec-b.test", 2),
        vec!["posta-certificata"; 2]
    );
    assert_eq!(
        wait_conserved(&b_dir, "env@pec-b.test", 2),
        vec!["posta-certificata"; 2]
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        conserved_kinds(&a_dir, "eve@pec-a.test"),
        Vec::<String>::new()
    );
    assert_eq!(
        conserved_kinds(&b_dir, "rec@pec-b.test"),
        Vec::<String>::new()
    );
    assert_eq!(
        conserved_kinds(&b_dir, "off@pec-b.test"),
        Vec::<String>::new()
    );

    // The signature of each conserved envelope was checked at ingest and recorded.
    for record in packages(&b_dir) {
        for message in &record.messages {
            assert!(message.metadata.signature_valid, "{:?}", message.metadata);
            assert_eq!(message.metadata.signer_in_index, Some(true));
        }
    }
    // The read-only view groups them by year and kind and serves the bytes as received.
    let root = b_dir.join("data/conservation/packages");
    let folders = pecd::conservation::view::folders(&packages(&b_dir), "all@pec-b.test");
    let year = jiff::Timestamp::now().strftime("%Y").to_string();
    let buste = &folders[&format!("Conservazione/{year}/Buste")];
    assert_eq!(buste.len(), 2);
    let inbox = b.inbox("all@pec-b.test");
    for entry in buste {
        let bytes = pecd::conservation::view::read(&root, entry).unwrap();
        assert!(
            inbox.contains(&bytes),
            "conserved bytes differ from the INBOX copy"
        );
    }

    // Every package passes the real validators, and our own audit.
    for (dir, daemon) in [(&a_dir, &a), (&b_dir, &b)] {
        for record in packages(dir) {
            let package = dir.join("data/conservation/packages").join(&record.id);
            validate_package(&package, &daemon.ca());
        }
        let out = pecd()
            .args(["conservation", "audit", "--config", &config(dir)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Tampering one byte of a stored package is reported with its package and file.
    let record = &packages(&b_dir)[0];
    let package = b_dir.join("data/conservation/packages").join(&record.id);
    let sip = &record.messages[0].metadata.sip_id;
    let target = package.join(format!("data/representations/rep1/data/{sip}/message.eml"));
    tamper(&target);
    let out = pecd()
        .args(["conservation", "audit", "--config", &config(&b_dir)])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&record.id) && report.contains(&format!("{sip}/message.eml")),
        "{report}"
    );
    drop((a, b));
}

/// Flips one byte of a (read-only) stored file.
pub fn tamper(target: &PathBuf) {
    let mut bytes = std::fs::read(target).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let mut permissions = std::fs::metadata(target).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(target, permissions).unwrap();
    std::fs::write(target, bytes).unwrap();
}
