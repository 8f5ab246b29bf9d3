//! EICAR through a real ClamAV `clamd` (Debian `clamav-daemon`) with a local signature
//! database holding only the EICAR test signature (`sigtool --md5`): caught at A's punto
//! di accesso, and caught at B's punto di ricezione when A lets it through.

use std::path::Path;
use std::process::Child;
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;

use crate::daemon;
use crate::support;

/// The EICAR anti-virus test file (68 bytes).
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A running clamd, killed on drop.
struct Clamd {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clamd() -> Clamd {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    let eicar = dir.path().join("eicar.com");
    std::fs::write(&eicar, EICAR).unwrap();
    let signature = support::run("sigtool", &["--md5", &eicar.to_string_lossy()], "clamav");
    assert!(signature.status.success());
    std::fs::write(db.join("eicar.hdb"), &signature.stdout).unwrap();
    // A port of a checked-free block outside the ephemeral range (see port_base).
    let port = daemon::port_base();
    let config = dir.path().join("clamd.conf");
    std::fs::write(
        &config,
        format!("Foreground yes\nDatabaseDirectory {}\nTCPSocket {port}\nTCPAddr 127.0.0.1\nLogFile {}\n", db.display(), dir.path().join("clamd.log").display()),
    )
    .unwrap();
    let child = Command::new("clamd")
        .args(["-c", &config.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run clamd ({e}); install the Debian package clamav-daemon")
        });
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "clamd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Clamd {
        child,
        port,
        _dir: dir,
    }
}

fn enable_clamav(dir: &Path, clamd: &Clamd) {
    let config = dir.join("pecd.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[clamav]\nenabled = true\naddress = \"127.0.0.1:{}\"\n",
        clamd.port
    ));
    std::fs::write(config, text).unwrap();
}

fn infected(subject: &str) -> String {
    use base64::Engine;
    format!(
        "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nin allegato\r\n\
--b\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Disposition: attachment; filename=\"eicar.com\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        subject.replace(' ', "-"),
        base64::engine::general_purpose::STANDARD.encode(EICAR)
    )
}

#[test]
fn eicar_is_refused_at_the_access_point() {
    let scanner = clamd();
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _base_b) = daemon::pair(tmp.path(), "");
    enable_clamav(&a_dir, &scanner);
    daemon::add_mailbox(&a_dir, "alice@pec-a.test");
    let a = daemon::start(&a_dir, base_a);
    let reply = daemon::smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &infected("Virus in partenza"),
    );
    assert!(reply.starts_with("554"), "{reply}");
    let inbox = daemon::wait_for(
        &a,
        "alice@pec-a.test",
        &[Kind::Receipt(ReceiptKind::NonAcceptance)],
    );
    let read = reader::read(&inbox[0]).unwrap();
    assert!(read.security_error, "X-VerificaSicurezza: errore");
    assert_eq!(
        read.subject.as_deref(),
        Some("AVVISO DI NON ACCETTAZIONE PER VIRUS: Virus in partenza")
    );
    let daticert = read.daticert.unwrap();
    assert_eq!(daticert.error, pecd::pec::kind::ErrorCode::Virus);
    assert!(
        daticert
            .data
            .extended_error
            .unwrap()
            .to_lowercase()
            .contains("eicar")
    );
    daemon::check_signed(&inbox[0], &a.ca());
    // P01 counts it as a virus from A's own user (VirusUscita).
    assert_eq!(crate::stats::virus_figures(&a_dir), (0, 1));
    drop(a);
    let config = pecd::config::Config::load(&a_dir.join("pecd.toml")).unwrap();
    let store = pecd::cli::store::open(&config).unwrap();
    let quarantined = store.read(|tx| tx.quarantine().all()).unwrap();
    assert_eq!(quarantined.len(), 1, "kept in quarantine for 30 months");
}

#[test]
fn eicar_missed_by_the_sender_is_caught_by_the_recipient_provider() {
    let scanner = clamd();
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = daemon::pair(tmp.path(), "");
    enable_clamav(&b_dir, &scanner);
    daemon::add_mailbox(&a_dir, "alice@pec-a.test");
    daemon::add_mailbox(&b_dir, "bob@pec-b.test");
    let a = daemon::start(&a_dir, base_a);
    let b = daemon::start(&b_dir, base_b);
    let reply = daemon::smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &infected("Virus in arrivo"),
    );
    assert_eq!(reply, "250", "A has no scanner");
    let inbox = daemon::wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryError),
        ],
    );
    let notice = inbox
        .iter()
        .map(|m| reader::read(m).unwrap())
        .find(|r| r.kind == Kind::Receipt(ReceiptKind::DeliveryError))
        .unwrap();
    assert!(notice.security_error);
    assert_eq!(
        notice.subject.as_deref(),
        Some("AVVISO DI MANCATA CONSEGNA PER VIRUS: Virus in arrivo")
    );
    assert_eq!(
        notice.daticert.unwrap().error,
        pecd::pec::kind::ErrorCode::Virus
    );
    for m in &inbox {
        daemon::check_signed(m, &a.ca());
    }
    assert!(
        b.inbox("bob@pec-b.test").is_empty(),
        "the infected envelope is not delivered"
    );
    // P01: a virus B received for its users (VirusIngresso); none at A.
    assert_eq!(crate::stats::virus_figures(&b_dir), (1, 0));
    assert_eq!(crate::stats::virus_figures(&a_dir), (0, 0));
}
