//! A stranger writing the daemon's log: user names sent before any login reach the
//! log escaped, so a line break in one cannot start a line of its own.

use crate::daemon;
use crate::support;

/// SMTP AUTH PLAIN over implicit TLS and IMAP LOGIN with a literal, each with a user
/// name that breaks the line and forges an entry after it.
#[test]
fn a_user_name_with_line_breaks_forges_no_log_line() {
    const FORGED: &str = "2026-01-01T00:00:00.000000Z  INFO pecd: operator gestore logged in";
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _base_b) = daemon::pair(tmp.path(), "");
    let a = daemon::start(&a, base_a);
    let script = r#"
import base64, smtplib, socket, ssl, sys
smtp, imap, ca, forged = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
user = "mallory\r\n" + forged
context = ssl.create_default_context(cafile=ca)
with smtplib.SMTP_SSL("127.0.0.1", smtp, context=context, timeout=30) as s:
    s.ehlo("attacker.test")
    plain = base64.b64encode(b"\0" + user.encode() + b"\0secret").decode()
    print(s.docmd("AUTH", "PLAIN " + plain)[0])
raw = socket.create_connection(("127.0.0.1", imap), timeout=30)
with context.wrap_socket(raw, server_hostname="pec-a.test") as t:
    lines = t.makefile("rb")
    lines.readline()
    name = user.encode()
    t.sendall(b"a LOGIN {%d}\r\n" % len(name))
    lines.readline()
    t.sendall(name + b" secret\r\n")
    print(lines.readline().decode().strip())
"#;
    let ca = a.ca();
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &(a.port_base + 1).to_string(),
            &(a.port_base + 4).to_string(),
            &ca.to_string_lossy(),
            FORGED,
        ],
        "python3",
    );
    let answers = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{answers}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(answers.starts_with("535"), "{answers}");
    assert!(answers.contains("a NO"), "{answers}");
    let log = std::fs::read_to_string(a.dir.join("pecd.log")).unwrap();
    assert!(log.contains("IMAP login failed"), "{log}");
    assert!(log.contains("authentication failed"), "{log}");
    assert!(!log.lines().any(|line| line.starts_with(FORGED)), "{log}");
}
