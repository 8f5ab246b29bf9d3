//! Signatures built to cost the punto di ricezione time: a stranger hands them to the
//! MX, and the message must come out as a busta di anomalia at once, the refusal
//! named in the log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pecd::crypto::smime::shapes;
use pecd::crypto::validation::Validation;
use pecd::pec::kind::Kind;

use super::mx_send;
use crate::daemon;

/// A multipart/signed to Alice whose signature part carries `der`.
fn signed_with(der: &[u8]) -> Vec<u8> {
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "From: <mallory@attacker.test>\r\nTo: <alice@pec-a.test>\r\nSubject: firmato\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/signed; \
         protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nciao\r\n\
         --B\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--B--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// Without the bounds, RustCrypto's `der` would put the 60,000 digest algorithms in
/// order with an insertion sort: some 1.8 billion comparisons, minutes of a core, before
/// the MX answers DATA.
#[test]
fn a_signature_with_a_set_of_60000_elements_in_reverse_order_is_an_anomaly_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _b, base_a, _base_b) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "alice@pec-a.test");
    let a = daemon::start(&a, base_a);
    let message = signed_with(&shapes::unsorted_set_signature(60_000).unwrap());
    let reply = mx_send(
        a.port_base + 2,
        "mallory@attacker.test",
        &["alice@pec-a.test"],
        &message,
    );
    assert!(reply.starts_with("250"), "{reply}");
    daemon::wait_for(&a, "alice@pec-a.test", &[Kind::Anomaly]);
    // What the punto di ricezione made of it, read by the same check.
    let reasons = Validation::check(&message, None, None, jiff::Timestamp::now())
        .unwrap()
        .reasons();
    assert!(
        reasons
            .iter()
            .any(|reason| reason
                .contains("a set in the CMS structure has 60000 elements, more than 32")),
        "{reasons:?}"
    );
}
