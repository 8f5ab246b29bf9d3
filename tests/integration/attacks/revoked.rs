//! The holder who lost the mailbox: an IMAP session, an IMAP IDLE and an SMTP
//! submission session, all logged in, stay open while the operator gives the mailbox
//! a new password (what a subentro's revocation and a reset do to a login). None of
//! them reads or sends anything after it.

use std::io::BufRead;
use std::io::Read;
use std::io::Write;
use std::process::Command;
use std::process::Stdio;

use crate::daemon;

const HOLDER: &str = "mario@pec-a.test";

const SESSIONS: &str = r#"
import imaplib, smtplib, socket, ssl, sys
smtps, imaps, ca, user, password, new_password = sys.argv[1:7]
context = ssl.create_default_context(cafile=ca)
reader = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=context, timeout=30)
reader.login(user, password)
reader.select("INBOX")
raw = socket.create_connection(("127.0.0.1", int(imaps)), timeout=30)
idle = context.wrap_socket(raw, server_hostname="pec-a.test")
lines = idle.makefile("rb")
lines.readline()
idle.sendall(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (user.encode(), password.encode()))
while not lines.readline().startswith(b"b "):
    pass
idle.sendall(b"c IDLE\r\n")
assert lines.readline().startswith(b"+ ")
sender = smtplib.SMTP_SSL("127.0.0.1", int(smtps), context=context, timeout=30)
sender.ehlo("client.test")
sender.login(user, password)
print("READY", flush=True)
sys.stdin.readline()
print("idle:", lines.readline().decode().strip(), "| then:", lines.readline())
try:
    reader.noop()
    print("reader: still open")
except imaplib.IMAP4.abort as e:
    print("reader: aborted", e)
message = "From: %s\r\nTo: %s\r\nSubject: dopo il cambio\r\n\r\nx\r\n" % (user, user)
try:
    sender.sendmail(user, [user], message)
    print("sender: 250")
except smtplib.SMTPDataError as e:
    print("sender:", e.smtp_code, e.smtp_error.decode())
again = imaplib.IMAP4_SSL("127.0.0.1", int(imaps), ssl_context=context, timeout=30)
print("new login:", again.login(user, new_password)[0])
"#;

#[test]
fn sessions_opened_before_a_new_password_end_at_their_next_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _base_b) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, HOLDER);
    let provider = daemon::start(&a, base_a);
    let ca = provider.ca();
    let new_password = "Nuova-della-subentrante-456";
    let mut sessions = Command::new("python3")
        .args([
            "-c",
            SESSIONS,
            &(base_a + 1).to_string(),
            &(base_a + 4).to_string(),
            &ca.to_string_lossy(),
            HOLDER,
            daemon::PASSWORD,
            new_password,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (apt install python3)");
    let mut said = std::io::BufReader::new(sessions.stdout.take().unwrap());
    let mut ready = String::new();
    said.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "READY", "{}", provider_log(&a));

    daemon::mailbox_with_password(&a, "set", HOLDER, new_password);

    writeln!(sessions.stdin.take().unwrap(), "go").unwrap();
    let out = sessions.wait_with_output().unwrap();
    let mut answers = String::new();
    said.read_to_string(&mut answers).unwrap();
    assert!(
        out.status.success(),
        "{answers}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // IDLE was told at once, and the connection closed after the BYE.
    assert!(answers.contains("idle: * BYE "), "{answers}");
    assert!(answers.contains("| then: b''"), "{answers}");
    assert!(answers.contains("reader: aborted"), "{answers}");
    assert!(answers.contains("sender: 421 "), "{answers}");
    assert!(answers.contains("new login: OK"), "{answers}");
    let log = provider_log(&a);
    assert!(
        log.contains("IMAP session ended: its login no longer stands"),
        "{log}"
    );
    assert!(
        log.contains("submission refused: its login no longer stands"),
        "{log}"
    );
}

fn provider_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("pecd.log")).unwrap_or_default()
}
