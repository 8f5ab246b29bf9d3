//! Two nodes of provider A on one PostgreSQL and one object store (Garage): a message
//! too large for the database and a conservation package, both written by node 1, are
//! read on node 2, which has neither on its disk; the fixity audit checks the bucket's
//! copy, so bytes altered there are found from any node.

use super::cluster::Postgres;
use super::cluster::second_node;
use super::*;
use crate::conservation;

/// The Garage `PECD_TEST_GARAGE` names (the cluster pass of `.ci/run`), or one of this
/// test's own from `tools/garage.sh`, stopped when dropped.
struct Garage {
    dir: PathBuf,
    own: Option<tempfile::TempDir>,
    /// The test's bucket, as `tools/garage.sh` prints it.
    printed: String,
}

impl Garage {
    fn start() -> Option<Garage> {
        let bucket = format!("objects-{}", std::process::id());
        if let Some(dir) = std::env::var_os("PECD_TEST_GARAGE") {
            let dir = PathBuf::from(dir);
            let printed = new_bucket(&dir, &bucket);
            return Some(Garage {
                dir,
                own: None,
                printed,
            });
        }
        let found = std::env::var_os("PECD_GARAGE").is_some()
            || support::run("sh", &["-c", "command -v garage"], "dash")
                .status
                .success();
        if !found {
            assert!(
                std::env::var_os("PECD_REQUIRE_GARAGE").is_none(),
                "PECD_REQUIRE_GARAGE is set but there is no Garage"
            );
            eprintln!(
                "SKIP the cluster's object store: no Garage (PECD_GARAGE or garage on the PATH)"
            );
            return None;
        }
        let own = tempfile::tempdir().unwrap();
        let dir = own.path().join("garage");
        let script = support::root().join("tools/garage.sh");
        let args = [&script.to_string_lossy(), "start", &dir.to_string_lossy()];
        support::stdout_of("bash", &args, "bash");
        let printed = new_bucket(&dir, &bucket);
        Some(Garage {
            dir,
            own: Some(own),
            printed,
        })
    }

    /// Overwrites the object `key` with `bytes`, as whoever holds the bucket's keys
    /// could, through curl's own S3 signing.
    fn overwrite(&self, key: &str, bytes: &[u8]) {
        let [endpoint, bucket, region, access, secret] =
            self.printed.split_whitespace().collect::<Vec<_>>()[..]
        else {
            panic!("{:?}", self.printed);
        };
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let code = support::stdout_of(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--aws-sigv4",
                &format!("aws:amz:{region}:s3"),
                "--user",
                &format!("{access}:{secret}"),
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                "-X",
                "PUT",
                "--data-binary",
                &format!("@{}", file.path().display()),
                &format!("{endpoint}/{bucket}/{key}"),
            ],
            "curl",
        );
        assert_eq!(code, "200", "PUT {key}");
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if self.own.is_some() {
            let script = support::root().join("tools/garage.sh");
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(&self.dir)
                .output();
        }
    }
}

#[test]
fn a_large_message_and_a_package_written_on_one_node_are_read_and_audited_on_the_other() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let Some(garage) = Garage::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), conservation::FAST);
    if postgres.own.is_some() {
        on_the_cluster(&a_dir, &postgres.url);
    }
    let config = std::fs::read_to_string(a_dir.join("pecd.toml")).unwrap();
    let mut config: String = config
        .lines()
        .filter(|line| !line.starts_with("s3 = "))
        .map(|line| format!("{line}\n"))
        .collect();
    config.push_str(&s3_setting(&garage.printed));
    std::fs::write(a_dir.join("pecd.toml"), config).unwrap();
    let (node_dir, node_base) = (tmp.path().join("a2"), port_base());
    second_node(&a_dir, base_a, &node_dir, node_base);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    conservation::set_rule(&a_dir, "alice@pec-a.test", "receipts");

    // Node 1 alone: the consegna, which carries the whole message (over the 64 KiB a
    // body may have in the database), reaches its MX; it packages the receipts.
    let first = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);
    let attachment = "Allegato voluminoso. ".repeat(5_000);
    let message = format!(
        "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: Grande\r\n\
         Message-ID: <large@client.test>\r\n\r\n{attachment}\r\n"
    );
    let sent = smtplib_send(&first, "alice@pec-a.test", &["bob@pec-b.test"], &message);
    assert_eq!(sent, "250");
    let kinds = [
        Kind::Receipt(ReceiptKind::Acceptance),
        Kind::Receipt(ReceiptKind::Delivered),
    ];
    wait_for(&first, "alice@pec-a.test", &kinds);
    conservation::wait_conserved(&a_dir, "alice@pec-a.test", 2);
    drop(first);
    drop(b);

    // Node 2, which wrote none of it, serves it all.
    let second = start(&node_dir, node_base);
    let inbox = wait_for(&second, "alice@pec-a.test", &kinds);
    let consegna = inbox
        .iter()
        .find(|m| reader::read(m).unwrap().kind == Kind::Receipt(ReceiptKind::Delivered))
        .unwrap();
    assert!(consegna.len() > 64 * 1024, "{} bytes", consegna.len());
    assert!(String::from_utf8_lossy(consegna).contains(&attachment[..2_000]));
    let packages = conservation::packages(&node_dir);
    let package = &packages[0].id;
    let node_packages = node_dir.join("data/conservation/packages");
    assert!(!node_packages.join(package).exists());
    let config = node_dir.join("pecd.toml").to_string_lossy().into_owned();
    let export = tmp.path().join("export.zip").to_string_lossy().into_owned();
    let pecd_bin = env!("CARGO_BIN_EXE_pecd");
    let args = ["conservation", "export", "--config", &config];
    let exported = support::stdout_of(
        pecd_bin,
        &[
            &args[..],
            &["--mailbox", "alice@pec-a.test", "--output", &export],
        ]
        .concat(),
        "pecd",
    );
    assert!(exported.contains("package"), "{exported}");
    assert!(
        node_packages.join(package).is_dir(),
        "not fetched: {package}"
    );
    let audit = ["conservation", "audit", "--config", &config];
    let report = support::stdout_of(pecd_bin, &audit, "pecd");
    assert!(report.contains(", 0 problem(s)"), "{report}");

    // The audit checks the bucket's copy, not the one node 2 fetched: a message altered
    // in the bucket is found.
    let sip = &packages[0].messages[0].metadata.sip_id;
    garage.overwrite(
        &format!("packages/{package}/data/representations/rep1/data/{sip}/message.eml"),
        b"From: nobody\r\n\r\naltered\r\n",
    );
    let out = support::run(pecd_bin, &audit, "pecd");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains(package.as_str()), "{report}");
}
