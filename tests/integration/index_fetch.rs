//! The providers index from `[index] url`, live: provider A starts knowing only itself,
//! downloads the index listing B (signed with the real `openssl smime`, served over
//! HTTPS by Python's http.server with a dev CA A trusts through `tls_roots`), and then
//! takes B's mail as PEC. Restarted against an unsigned index, and against a server
//! that is down, it keeps the index it has.

use std::io::BufRead;
use std::io::BufReader;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use pecd::crypto::certs;
use pecd::pec::kind::Kind;

use crate::daemon;
use crate::daemon::Daemon;
use crate::support;

/// Python's HTTPS file server on 127.0.0.1, killed on drop.
struct HttpsServer {
    child: Child,
    port: u16,
}

impl HttpsServer {
    fn start(root: &Path, certificate: &Path, key: &Path) -> HttpsServer {
        let script = r#"
import functools, http.server, ssl, sys
root, certificate, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.HTTPServer(("127.0.0.1", 0), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(certificate, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .args([root, certificate, key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed (Debian: python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        HttpsServer { child, port }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `issued`'s certificate and key as PEM files `name.pem` and `name.key`.
fn write_pem(dir: &Path, name: &str, issued: &certs::Issued) -> (PathBuf, PathBuf) {
    let (certificate, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&certificate, issued.certificate_pem().unwrap()).unwrap();
    std::fs::write(&key, issued.key_pem().unwrap()).unwrap();
    (certificate, key)
}

/// Waits until A's log holds `line`; the log.
fn wait_log(dir: &Path, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(dir.join("pecd.log")).unwrap_or_default();
        if log.contains(line) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {line:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Bob writes to Alice; she must receive it as a certified busta, never an anomaly.
fn bob_to_alice_is_pec(a: &Daemon, b: &Daemon, subject: &str) {
    let message = format!(
        "From: bob@pec-b.test\r\nTo: alice@pec-a.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@client.test>\r\n\
         Date: Mon, 07 Dec 2026 10:00:00 +0100\r\n\r\nTesto.\r\n"
    );
    let wanted = a
        .inbox("alice@pec-a.test")
        .iter()
        .filter(|m| pecd::pec::reader::read(m).unwrap().kind == Kind::Transport)
        .count()
        + 1;
    let reply = daemon::smtplib_send(b, "bob@pec-b.test", &["alice@pec-a.test"], &message);
    assert_eq!(reply, "250");
    daemon::wait_for(a, "alice@pec-a.test", &vec![Kind::Transport; wanted]);
    let anomalies = a
        .inbox("alice@pec-a.test")
        .iter()
        .filter(|m| pecd::pec::reader::read(m).unwrap().kind == Kind::Anomaly)
        .count();
    assert_eq!(anomalies, 0);
}

#[test]
fn the_daemon_downloads_a_signed_index_and_keeps_it_against_bad_downloads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a_dir, "alice@pec-a.test");
    daemon::add_mailbox(&b_dir, "bob@pec-b.test");
    let pki = tmp.path().join("pki");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::create_dir_all(&served).unwrap();

    // The index authority's CA and signer, and the web server's CA and certificate.
    let index_ca = certs::dev_ca("Indice PEC", 2048).unwrap();
    let signer = certs::signing_certificate(&index_ca, "indice.test", "Indice PEC", 2048).unwrap();
    let (index_ca_pem, _) = write_pem(&pki, "index-ca", &index_ca);
    let (signer_pem, signer_key) = write_pem(&pki, "signer", &signer);
    let web_ca = certs::dev_ca("Web", 2048).unwrap();
    let web = certs::tls_certificate(&web_ca, &["127.0.0.1"], 2048).unwrap();
    let (web_ca_pem, _) = write_pem(&pki, "web-ca", &web_ca);
    let (web_pem, web_key) = write_pem(&pki, "web", &web);

    // The published index lists A and B, signed; A's own copy lists only A.
    let both = a_dir.join("index.ldif");
    std::fs::copy(&both, pki.join("both.ldif")).unwrap();
    let config = a_dir.join("pecd.toml");
    let only_a = support::stdout_of(
        env!("CARGO_BIN_EXE_pecd"),
        &["index", "entry", "--config", config.to_str().unwrap()],
        "pecd",
    );
    std::fs::write(&both, &only_a).unwrap();
    let p7m = served.join("index.p7m");
    let signed = Command::new("openssl")
        .args([
            "smime",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
        ])
        .arg(pki.join("both.ldif"))
        .arg("-signer")
        .arg(&signer_pem)
        .arg("-inkey")
        .arg(&signer_key)
        .arg("-out")
        .arg(&p7m)
        .status()
        .expect("openssl is needed (Debian: openssl)");
    assert!(signed.success());

    let server = HttpsServer::start(&served, &web_pem, &web_key);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[index]\nldif = \"index.ldif\"\n",
        &format!(
            "[index]\nldif = \"index.ldif\"\nurl = \"https://127.0.0.1:{}/index.p7m\"\n\
             signer_ca = \"{}\"\ntls_roots = [\"{}\"]\nrefresh_secs = 3600\n",
            server.port,
            index_ca_pem.display(),
            web_ca_pem.display()
        ),
        1,
    );
    std::fs::write(&config, text).unwrap();

    let a = daemon::start(&a_dir, base_a);
    let b = daemon::start(&b_dir, base_b);
    wait_log(&a_dir, "providers index downloaded and verified");
    assert_eq!(
        std::fs::read(a_dir.join("index.ldif")).unwrap(),
        std::fs::read(&p7m).unwrap()
    );
    bob_to_alice_is_pec(&a, &b, "Dopo-lo-scaricamento");

    // The server now publishes an unsigned index listing only A: refused, so B stays.
    drop(a);
    std::fs::write(&p7m, &only_a).unwrap();
    let a = daemon::start(&a_dir, base_a);
    let log = wait_log(&a_dir, "providers index not replaced");
    assert!(log.contains("is not signed"), "{log}");
    bob_to_alice_is_pec(&a, &b, "Indice-non-firmato");

    // The server is down: the index on disk (the last verified one) stays in use.
    drop(a);
    drop(server);
    let a = daemon::start(&a_dir, base_a);
    wait_log(&a_dir, "providers index not replaced");
    bob_to_alice_is_pec(&a, &b, "Server-spento");
}
