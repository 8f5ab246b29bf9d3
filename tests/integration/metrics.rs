//! `GET /metrics` on two live providers exchanging certified mail: the counters move
//! with what happened, the real `promtool check metrics` (Debian `prometheus`) accepts
//! every scrape, the bearer token guards it unless `[metrics] public = true`; and the
//! JSON log of the exchange carries the PEC msgid and mailbox as fields and never the
//! password or the message's text.

use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;

use crate::daemon;
use crate::openapi;

/// The body every message of this test carries: it must not reach the log.
const BODY: &str = "Testo riservato del messaggio 7Q4Z.";

fn token(dir: &std::path::Path) -> String {
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("pecd.toml")).unwrap()).unwrap();
    config["admin"]["token"].as_str().unwrap().to_string()
}

/// One scrape, checked by `promtool check metrics`.
fn scrape(daemon: &daemon::Daemon, token: Option<&str>) -> String {
    let answer = openapi::get(daemon.port_base + 5, "/metrics", token);
    assert!(answer.head.starts_with("HTTP/1.1 200"), "{}", answer.head);
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        answer.head
    );
    let text = String::from_utf8(answer.body).unwrap();
    promtool(&text);
    text
}

/// `promtool check metrics` on a scrape: exit 0, nothing to say.
pub fn promtool(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}); install the Debian package prometheus")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of one series (`name` or `name{labels}`), 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

fn message(to: &str, subject: &str, bcc: bool) -> String {
    let bcc = if bcc { "Bcc: eve@pec-b.test\r\n" } else { "" };
    format!(
        "From: alice@pec-a.test\r\nTo: {to}\r\n{bcc}Subject: {subject}\r\nMessage-ID: <{}@client.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\n{BODY}\r\n",
        subject.replace(' ', "-")
    )
}

#[test]
fn metrics_move_with_a_real_exchange_and_pass_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = daemon::pair(tmp.path(), "\n[log]\nformat = \"json\"\n");
    let b_config = std::fs::read_to_string(b_dir.join("pecd.toml")).unwrap();
    let b_config = b_config.replace("[listen]", "[metrics]\npublic = true\n\n[listen]");
    std::fs::write(b_dir.join("pecd.toml"), b_config).unwrap();
    daemon::add_mailbox(&a_dir, "alice@pec-a.test");
    daemon::add_mailbox(&b_dir, "bob@pec-b.test");
    let (token_a, token_b) = (token(&a_dir), token(&b_dir));
    let a = daemon::start(&a_dir, base_a);
    let b = daemon::start(&b_dir, base_b);

    let anonymous = openapi::get(base_a + 5, "/metrics", None);
    assert!(
        anonymous.head.starts_with("HTTP/1.1 401"),
        "{}",
        anonymous.head
    );
    let wrong = openapi::get(base_a + 5, "/metrics", Some(&"x".repeat(token_a.len())));
    assert!(wrong.head.starts_with("HTTP/1.1 401"), "{}", wrong.head);
    let before_a = scrape(&a, Some(&token_a));
    let before_b = scrape(&b, None);
    // Public metrics do not open the rest of the admin API.
    let api = openapi::get(base_b + 5, "/v1/mailboxes", None);
    assert!(api.head.starts_with("HTTP/1.1 401"), "{}", api.head);
    assert_eq!(sample(&before_a, "pecd_access_accepted_total"), 0.0);
    assert_eq!(sample(&before_a, "pecd_index_providers"), 2.0);
    for certificate in ["signing", "tls", "conservation_seal"] {
        let left = sample(
            &before_a,
            &format!("pecd_certificate_expiry_seconds{{certificate=\"{certificate}\"}}"),
        );
        assert!(left > 86_400.0 * 30.0, "{certificate}: {left}");
    }

    let sent = message("bob@pec-b.test", "Metriche", false);
    let reply = daemon::smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &sent);
    assert_eq!(reply, "250");
    let refused = message("bob@pec-b.test", "Con Bcc", true);
    let reply = daemon::smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &refused);
    assert!(reply.starts_with("550"), "{reply}");
    daemon::wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    daemon::wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);

    let after_a = scrape(&a, Some(&token_a));
    let after_b = scrape(&b, Some(&token_b));
    let moved =
        |before: &str, after: &str, series: &str| sample(after, series) - sample(before, series);
    for (series, by) in [
        ("pecd_access_accepted_total", 1.0),
        ("pecd_access_refused_total{reason=\"bcc\"}", 1.0),
        ("pecd_receipts_issued_total{kind=\"accettazione\"}", 1.0),
        ("pecd_receipts_issued_total{kind=\"non-accettazione\"}", 1.0),
        (
            "pecd_receipts_received_total{kind=\"avvenuta-consegna\"}",
            1.0,
        ),
        ("pecd_logins_total{protocol=\"smtp\",result=\"ok\"}", 2.0),
    ] {
        assert_eq!(
            moved(&before_a, &after_a, series),
            by,
            "A: {series}\n{after_a}"
        );
    }
    for (series, by) in [
        ("pecd_reception_envelopes_total", 1.0),
        ("pecd_receipts_issued_total{kind=\"presa-in-carico\"}", 1.0),
        (
            "pecd_receipts_issued_total{kind=\"avvenuta-consegna\"}",
            1.0,
        ),
        ("pecd_verifications_total{result=\"valid\"}", 1.0),
    ] {
        assert_eq!(
            moved(&before_b, &after_b, series),
            by,
            "B: {series}\n{after_b}"
        );
    }
    // One job to B: a retry after a hiccup would count twice.
    assert!(
        moved(
            &before_a,
            &after_a,
            "pecd_relay_attempts_total{peer=\"pec-b.test\"}"
        ) >= 1.0
    );
    // Bob's INBOX was read over IMAP, with his password.
    assert!(
        moved(
            &before_b,
            &after_b,
            "pecd_logins_total{protocol=\"imap\",result=\"ok\"}"
        ) >= 1.0
    );
    assert!(moved(&before_a, &after_a, "pecd_signing_seconds_count") >= 3.0);
    assert!(moved(&before_b, &after_b, "pecd_verification_seconds_count") >= 1.0);
    assert!(moved(&before_a, &after_a, "pecd_store_commit_seconds_count") >= 1.0);
    // The delivery receipt ended the timers and emptied the queue.
    assert_eq!(sample(&after_a, "pecd_relay_queue_depth"), 0.0);
    assert_eq!(sample(&after_a, "pecd_timers_pending{timer=\"12h\"}"), 0.0);
    drop((a, b));

    for dir in [&a_dir, &b_dir] {
        let first = first_gestore_password(dir);
        json_log_is_clean(dir, &[daemon::PASSWORD, BODY, &token_a, &token_b, &first]);
    }
}

/// The first gestore's password, from the file only the daemon's user may read.
fn first_gestore_password(dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("data").join(pecd::cli::serve::FIRST_PASSWORD_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
    let password = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(password.len(), 24, "{password:?}");
    password
}

/// Every line of the daemon's log is one JSON object; an accettazione or a busta
/// carries its msgid as a field; no secret or body text is anywhere in it.
fn json_log_is_clean(dir: &std::path::Path, secrets: &[&str]) {
    let log = std::fs::read_to_string(dir.join("pecd.log")).unwrap();
    let mut with_msgid = 0;
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
        if event["msgid"].is_string() {
            with_msgid += 1;
        }
        if event["message"] == "accettazione" {
            assert_eq!(event["mailbox"], "alice@pec-a.test", "{line}");
        }
    }
    assert!(with_msgid >= 1, "no event with a msgid field:\n{log}");
    for secret in secrets {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
}

/// With no `[admin] token`, `[metrics] public = true` opens the admin listener for
/// `/metrics` alone: the API with an empty token must not come with it.
#[test]
fn public_metrics_without_a_token_open_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _b, base, _) = daemon::pair(tmp.path(), "\n[metrics]\npublic = true\n");
    let config = std::fs::read_to_string(dir.join("pecd.toml")).unwrap();
    let token_line = config.lines().find(|l| l.starts_with("token = ")).unwrap();
    std::fs::write(
        dir.join("pecd.toml"),
        config.replace(token_line, "token = \"\""),
    )
    .unwrap();
    let pecd = daemon::start(&dir, base);
    let text = scrape(&pecd, None);
    assert!(text.contains("pecd_relay_queue_depth 0"), "{text}");
    for (path, token) in [
        ("/v1/mailboxes", None),
        ("/v1/mailboxes", Some("")),
        ("/v1/openapi.json", None),
    ] {
        let answer = openapi::get(base + 5, path, token);
        assert!(
            answer.head.starts_with("HTTP/1.1 404"),
            "{path}: {}",
            answer.head
        );
    }
}

/// A peer that never answers: the relay's failures to it, its queue and the 12 h and
/// 24 h timers show in the metrics.
#[test]
fn a_peer_down_shows_in_the_relay_and_timer_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _) = daemon::pair(tmp.path(), "warning_secs = 2\nfinal_secs = 4\n");
    daemon::add_mailbox(&a_dir, "alice@pec-a.test");
    let token = token(&a_dir);
    let a = daemon::start(&a_dir, base_a); // B is down.
    let sent = message("bob@pec-b.test", "B spento", false);
    let reply = daemon::smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &sent);
    assert_eq!(reply, "250");
    daemon::wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
        ],
    );
    let text = scrape(&a, Some(&token));
    assert_eq!(
        sample(&text, "pecd_timers_fired_total{timer=\"12h\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "pecd_timers_fired_total{timer=\"24h\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "pecd_timers_pending{timer=\"24h\"}"),
        0.0,
        "{text}"
    );
    assert!(
        sample(&text, "pecd_relay_failures_total{peer=\"pec-b.test\"}") >= 1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "pecd_relay_queue_depth"), 1.0, "{text}");
    assert!(
        sample(&text, "pecd_relay_oldest_job_age_seconds") >= 4.0,
        "{text}"
    );
}
