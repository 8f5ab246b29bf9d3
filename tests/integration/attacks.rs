//! The adversarial suite: each test builds an attack at run time, most of
//! them against two live providers from `pecd init`, and asserts that it fails.

mod cms;
mod crowding;
mod files;
mod forgery;
mod limits;
mod logs;
mod replay;
mod revoked;
mod throttle;

use crate::support;

/// Hands `data` to an MX as any host on the network can: plaintext SMTP with Python's
/// smtplib. Returns the reply to DATA (`250 …`, or the refusal's code and text).
pub fn mx_send(port: u16, mail_from: &str, rcpts: &[&str], data: &[u8]) -> String {
    let mut replies = mx_send_each(port, mail_from, rcpts, &[data.to_vec()]);
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.remove(0)
}

/// [`mx_send`] of several messages over one connection; stops after the first reply
/// that is not 250.
pub fn mx_send_each(
    port: u16,
    mail_from: &str,
    rcpts: &[&str],
    messages: &[Vec<u8>],
) -> Vec<String> {
    let script = r#"
import smtplib, sys, json
port, mail_from, rcpts, paths = sys.argv[1:5]
with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
    s.ehlo("attacker.test")
    for path in json.loads(paths):
        try:
            s.mail(mail_from)
            for r in json.loads(rcpts):
                s.rcpt(r)
            code, text = s.data(open(path, "rb").read())
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, e.smtp_error
        print(code, text.decode())
        if code != 250:
            break
"#;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(n, message)| {
            let path = dir.path().join(format!("{n}.eml"));
            std::fs::write(&path, message).unwrap();
            path.to_string_lossy().into_owned()
        })
        .collect();
    let (rcpts, paths) = (
        serde_json::to_string(rcpts).unwrap(),
        serde_json::to_string(&paths).unwrap(),
    );
    let out = support::run(
        "python3",
        &["-c", script, &port.to_string(), mail_from, &rcpts, &paths],
        "python3",
    );
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
