//! What the punto di ricezione makes of what is not valid PEC, and of input that is
//! not SMTP at all.

use super::*;

#[test]
fn ordinary_mail_to_the_mx_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    let script = r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("someone@example.com", ["bob@pec-b.test"], b"From: someone@example.com\r\nTo: bob@pec-b.test\r\nSubject: ciao\r\n\r\nposta ordinaria\r\n")
"#;
    let out = support::run(
        "python3",
        &["-c", script, &(base_b + 2).to_string()],
        "python3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    let read = reader::read(&inbox[0]).unwrap();
    assert_eq!(read.subject.as_deref(), Some("ANOMALIA MESSAGGIO: ciao"));
    check_signed(&inbox[0], &b.ca());
}

#[test]
fn an_envelope_signed_by_a_provider_not_in_the_index_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    // A transport envelope signed with the committed test key of pec-a.test, which is
    // not the key `pecd init` made for A and so is in nobody's index.
    let case = crate::builders::cases().into_iter().next().unwrap();
    let signed =
        pecd::crypto::smime::sign(&support::TestProvider::a().signer, &case.unsigned).unwrap();
    mx_send(base_b + 2, "alice@pec-a.test", "bob@pec-b.test", &signed);
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    check_signed(&inbox[0], &b.ca());
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(
        text.contains("not in the providers index") || text.contains("ANOMALIA MESSAGGIO"),
        "{text}"
    );
}

#[test]
fn bad_input_gets_clean_errors_and_the_server_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let (_a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);
    let script = r#"
import socket, sys
port = int(sys.argv[1])
def session(payload, wait=1.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(1000)
    s.sendall(payload)
    s.settimeout(wait)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data.decode(errors="replace")
# garbage and NUL bytes
print("GARBAGE", session(b"\x00\x01\xff\xfe garbage\r\nEHLO x\r\n").replace("\r\n", "|"))
# an overlong command line
print("LONG", session(b"EHLO " + b"a" * 5000 + b"\r\nNOOP\r\n").replace("\r\n", "|"))
# pipelining abuse: commands out of order in one write
print("PIPE", session(b"RCPT TO:<bob@pec-b.test>\r\nDATA\r\nMAIL FROM:<a@x.it>\r\nMAIL FROM:<a@x.it>\r\nQUIT\r\n").replace("\r\n", "|"))
# unterminated DATA, then the connection drops
print("CUT", session(b"EHLO x\r\nMAIL FROM:<a@x.it>\r\nRCPT TO:<bob@pec-b.test>\r\nDATA\r\nSubject: cut\r\n\r\nhalf", 0.5).replace("\r\n", "|"))
# malformed MIME: accepted as ordinary mail and wrapped, never half-stored
print("MIME", session(b"EHLO x\r\nMAIL FROM:<a@x.it>\r\nRCPT TO:<bob@pec-b.test>\r\nDATA\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n.\r\nQUIT\r\n").replace("\r\n", "|"))
"#;
    let out = support::run(
        "python3",
        &["-c", script, &(base_b + 2).to_string()],
        "python3",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |tag: &str| {
        text.lines()
            .find(|l| l.starts_with(tag))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("GARBAGE").contains("500"), "{text}");
    assert!(
        line("GARBAGE").contains("250"),
        "the session survives garbage: {text}"
    );
    assert!(line("LONG").contains("500"), "{text}");
    assert!(
        line("LONG").contains("250"),
        "NOOP after the long line: {text}"
    );
    assert!(line("PIPE").contains("503"), "{text}");
    assert!(line("PIPE").contains("221"), "{text}");
    assert!(line("MIME").contains("250 2.0.0"), "{text}");

    // The server is still up, and only the complete malformed message was stored.
    let inbox = wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    assert_eq!(inbox.len(), 1, "the cut DATA left nothing behind");
    assert!(std::net::TcpStream::connect(("127.0.0.1", base_b + 2)).is_ok());
}

#[test]
fn an_envelope_signed_with_an_expired_listed_certificate_arrives_as_an_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, _base_a, base_b) = pair(tmp.path(), "");
    // A listed certificate of A's that expired yesterday.
    let ca =
        pecd::crypto::certs::load_issued(&a_dir.join("certs/ca.pem"), &a_dir.join("certs/ca.key"))
            .unwrap();
    let now = jiff::Timestamp::now();
    let expired = pecd::crypto::certs::signing_certificate_for_period(
        &ca,
        "pec-a.test",
        "Gestore A S.p.A.",
        2048,
        now - jiff::SignedDuration::from_hours(24 * 400),
        now - jiff::SignedDuration::from_hours(24),
    )
    .unwrap();
    let signer = pecd::crypto::identity::Signer::from_pem(
        &expired.certificate_pem().unwrap(),
        &expired.key_pem().unwrap(),
    )
    .unwrap();
    let der = signer.certificate_der();
    let listed = pecd::pec::index::Provider {
        name: "Gestore A S.p.A. (vecchio certificato)".into(),
        unit: None,
        certificate_hashes: vec![pecd::crypto::trust::sha1_hex(&der)],
        certificates: vec![der],
        mail_receipt: "posta-certificata@pec-a.test".into(),
        managed_domains: vec!["pec-a.test".into()],
        description: None,
        ldif_location_url: None,
    };
    let mut index = std::fs::read_to_string(b_dir.join("index.ldif")).unwrap();
    index.push('\n');
    index.push_str(&listed.to_ldif());
    std::fs::write(b_dir.join("index.ldif"), index).unwrap();
    add_mailbox(&b_dir, "bob@pec-b.test");
    let b = start(&b_dir, base_b);

    let case = crate::builders::cases().into_iter().next().unwrap();
    let signed = pecd::crypto::smime::sign(&signer, &case.unsigned).unwrap();
    mx_send(base_b + 2, "alice@pec-a.test", "bob@pec-b.test", &signed);
    wait_for(&b, "bob@pec-b.test", &[Kind::Anomaly]);
    let out = pecd()
        .args([
            "log",
            "query",
            "--config",
            &b.dir.join("pecd.toml").to_string_lossy(),
            "--json",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        log.contains("anomaly-received") && log.contains("certificate"),
        "the log states why: {log}"
    );
    assert!(
        !log.contains("taken-in-charge"),
        "no presa in carico for it: {log}"
    );
}
