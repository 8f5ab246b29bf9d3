//! The adversarial suite (issue 18): each test builds an attack at run time, most of
//! them against two live providers from `pecd init`, and asserts that it fails.

mod crowding;
mod files;
mod forgery;
mod limits;
mod replay;
mod throttle;

use crate::support;

/// Hands `data` to an MX as any host on the network can: plaintext SMTP with Python's
/// smtplib. Returns the reply to DATA (`250 …`, or the refusal's code and text).
pub fn mx_send(port: u16, mail_from: &str, rcpts: &[&str], data: &[u8]) -> String {
    let script = r#"
import smtplib, sys, json
port, mail_from, rcpts, path = sys.argv[1:5]
with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
    s.ehlo("attacker.test")
    try:
        s.mail(mail_from)
        for r in json.loads(rcpts):
            s.rcpt(r)
        code, text = s.data(open(path, "rb").read())
        print(code, text.decode())
    except smtplib.SMTPResponseException as e:
        print(e.smtp_code, e.smtp_error.decode())
"#;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), data).unwrap();
    let rcpts = serde_json::to_string(rcpts).unwrap();
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &port.to_string(),
            mail_from,
            &rcpts,
            &file.path().to_string_lossy(),
        ],
        "python3",
    );
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
