//! Two nodes of provider A on one PostgreSQL: a holder submits through node 1 and reads
//! on node 2, where IDLE sees node 1's delivery; the receipts from B, which reach node
//! 1's MX, are read on node 2 too.

use super::*;

/// A PostgreSQL of this test's own from `tools/postgres.sh`, stopped when dropped; or
/// the one `PECD_TEST_POSTGRES` names (the cluster pass of `.ci/run`).
pub(super) struct Postgres {
    pub(super) url: String,
    pub(super) own: Option<tempfile::TempDir>,
}

impl Postgres {
    pub(super) fn start() -> Option<Postgres> {
        if let Some(url) = std::env::var_os("PECD_TEST_POSTGRES") {
            let url = url.to_string_lossy().into_owned();
            return Some(Postgres { url, own: None });
        }
        if !Path::new("/usr/lib/postgresql").is_dir() {
            eprintln!("SKIP two nodes of a cluster: PostgreSQL is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let url = support::stdout_of(
            "bash",
            &[
                &support::root().join("tools/postgres.sh").to_string_lossy(),
                "start",
                &dir.path().to_string_lossy(),
            ],
            "bash",
        );
        Some(Postgres {
            url: url.trim().to_string(),
            own: Some(dir),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let script = support::root().join("tools/postgres.sh");
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

/// A second node of the provider in `dir`: the same keys, index, routes and database,
/// its own ports (from `port_base`) and its own data folder.
pub(super) fn second_node(dir: &Path, base: u16, node: &Path, port_base: u16) {
    let copy = |from: &Path, to: &Path| {
        support::stdout_of(
            "cp",
            &["-a", &from.to_string_lossy(), &to.to_string_lossy()],
            "coreutils",
        );
    };
    std::fs::create_dir_all(node).unwrap();
    copy(&dir.join("certs"), node);
    copy(&dir.join("index.ldif"), node);
    let mut config = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
    for offset in 0..7 {
        config = config.replace(
            &format!("127.0.0.1:{}\"", base + offset),
            &format!("127.0.0.1:{}\"", port_base + offset),
        );
    }
    std::fs::write(node.join("pecd.toml"), config).unwrap();
}

#[test]
fn a_holder_submits_on_one_node_and_reads_on_the_other() {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    if postgres.own.is_some() {
        on_the_cluster(&a_dir, &postgres.url);
    }
    let (node_dir, node_base) = (tmp.path().join("a2"), port_base());
    second_node(&a_dir, base_a, &node_dir, node_base);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let first = start(&a_dir, base_a);
    let second = start(&node_dir, node_base);
    let b = start(&b_dir, base_b);

    let script = support::root().join("tests/scripts/imap_idle_two_nodes.py");
    let out = support::run(
        "python3",
        &[
            &script.to_string_lossy(),
            &base_a.to_string(),
            &(node_base + 4).to_string(),
            &first.ca().to_string_lossy(),
            "alice@pec-a.test",
            PASSWORD,
            "bob@pec-b.test",
        ],
        "python3",
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The consegna arrives at node 1's MX; node 2 shows it, and each receipt once.
    let inbox = wait_for(
        &second,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    assert_eq!(inbox.len(), 2);
    for message in &inbox {
        // The accettazione is A's (either node: one key), the consegna B's.
        let signer = match reader::read(message).unwrap().kind {
            Kind::Receipt(ReceiptKind::Acceptance) => second.ca(),
            _ => b.ca(),
        };
        check_signed(message, &signer);
    }
}
