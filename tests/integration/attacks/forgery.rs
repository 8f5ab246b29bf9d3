//! Certificate confusion: the attacker makes, with the `openssl` command, its own key
//! and a certificate that copies the issuer name, serial number and subject of a
//! provider's real signing certificate, signs a busta (or a receipt) with it, and embeds
//! the genuine certificate beside its own, first or second on the wire. Nothing it
//! sends may be certified, and `pecd verify` must not call it valid.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::PKey;
use openssl::x509::X509;
use openssl::x509::X509NameRef;
use pecd::crypto::identity::Signer;
use pecd::crypto::smime;
use pecd::pec::compose::Issuer;
use pecd::pec::envelope;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;
use pecd::pec::receipt;

use super::mx_send;
use crate::builders;
use crate::daemon;
use crate::support;

/// The one-line form `openssl -subj` takes, of a certificate name.
fn subj(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let field = entry.object().nid().short_name().unwrap();
            format!("/{field}={}", entry.data().to_string().unwrap())
        })
        .collect()
}

/// The attacker's signer: a fake CA named like the real issuer, an impostor
/// certificate with the genuine serial and subject issued by it, and the genuine
/// certificate carried along as if it were the chain.
fn impostor_of(genuine_pem: &Path, email: &str, work: &Path) -> Signer {
    let genuine = X509::from_pem(&std::fs::read(genuine_pem).unwrap()).unwrap();
    let serial = support::stdout_of(
        "openssl",
        &[
            "x509",
            "-in",
            &genuine_pem.to_string_lossy(),
            "-noout",
            "-serial",
        ],
        "openssl",
    );
    // Names as UTF8String, like the names pecd writes, so they match byte for byte.
    let script = r#"set -e
printf '[req]\ndistinguished_name = dn\nstring_mask = utf8only\n[dn]\n' > req.cnf
printf 'subjectAltName=email:%s\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n' "$EMAIL" > ext.cnf
openssl req -config req.cnf -x509 -newkey rsa:2048 -nodes -keyout fake-ca.key -out fake-ca.pem -subj "$ISSUER" -days 30
openssl req -config req.cnf -new -newkey rsa:2048 -nodes -keyout impostor.key -out impostor.csr -subj "$SUBJECT"
openssl x509 -req -in impostor.csr -CA fake-ca.pem -CAkey fake-ca.key -set_serial "$SERIAL" -days 30 -extfile ext.cnf -out impostor.pem
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(work)
        .env("EMAIL", email)
        .env("ISSUER", subj(genuine.issuer_name()))
        .env("SUBJECT", subj(genuine.subject_name()))
        .env(
            "SERIAL",
            format!("0x{}", serial.trim().trim_start_matches("serial=")),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let impostor = X509::from_pem(&std::fs::read(work.join("impostor.pem")).unwrap()).unwrap();
    assert_eq!(
        impostor.serial_number().to_bn().unwrap(),
        genuine.serial_number().to_bn().unwrap()
    );
    assert_eq!(
        impostor.issuer_name().to_der().unwrap(),
        genuine.issuer_name().to_der().unwrap()
    );
    let key =
        PKey::private_key_from_pem(&std::fs::read(work.join("impostor.key")).unwrap()).unwrap();
    Signer::new(impostor, key, vec![genuine]).unwrap()
}

/// The signed message as made, and with the two embedded certificates swapped on the
/// wire (same bytes otherwise).
fn both_orders(signed: Vec<u8>, signer: &Signer) -> [Vec<u8>; 2] {
    let parts = smime::split_signed(&signed).unwrap();
    let der = &parts.signature;
    let ours = signer.certificate_der();
    let theirs = signer.chain()[0].to_der().unwrap();
    let find = |a: &[u8], b: &[u8]| {
        let pair = [a, b].concat();
        der.windows(pair.len())
            .position(|w| w == pair)
            .map(|at| (at, pair.len()))
    };
    let ((at, len), first, second) = match find(&ours, &theirs) {
        Some(found) => (found, &theirs, &ours),
        None => (
            find(&theirs, &ours).expect("both certificates embedded, adjacent"),
            &ours,
            &theirs,
        ),
    };
    let swapped = [&der[..at], first, second, &der[at + len..]].concat();
    let wrap = |der: &[u8]| {
        let text = STANDARD.encode(der);
        text.as_bytes()
            .chunks(76)
            .collect::<Vec<_>>()
            .join(&b"\r\n"[..])
    };
    let other = replace_once(&signed, &wrap(der), &wrap(&swapped));
    [signed, other]
}

fn replace_once(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("present");
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

fn kinds(messages: &[Vec<u8>]) -> Vec<Kind> {
    messages
        .iter()
        .map(|m| reader::read(m).unwrap().kind)
        .collect()
}

fn pecd_verify(dir: &Path, message: &[u8]) -> i32 {
    let file = dir.join("forged.eml");
    std::fs::write(&file, message).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args([
            "verify",
            &file.to_string_lossy(),
            "--index",
            &dir.join("index.ldif").to_string_lossy(),
        ])
        .output()
        .unwrap();
    out.status.code().unwrap()
}

#[test]
fn a_busta_signed_by_an_impostor_of_provider_a_is_only_an_anomaly_at_b() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, _, base_b) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&b, "bob@pec-b.test");
    let forger = impostor_of(
        &a.join("certs/signing.pem"),
        "posta-certificata@pec-a.test",
        tmp.path(),
    );
    let (original, facts) = builders::facts();
    let issuer = Issuer {
        domain: "pec-a.test".into(),
        name: "Gestore A S.p.A.".into(),
    };
    let busta = envelope::transport(
        &issuer,
        &facts,
        &original,
        &support::stamp(41, "pec-a.test"),
    );
    let forged = smime::sign(&forger, &busta).unwrap();
    let b_daemon = daemon::start(&b, base_b);
    for (n, message) in both_orders(forged, &forger).into_iter().enumerate() {
        assert_eq!(
            pecd_verify(&b, &message),
            1,
            "order {n}: pecd verify must say not valid"
        );
        let reply = mx_send(
            base_b + 2,
            "alice@pec-a.test",
            &["bob@pec-b.test"],
            &message,
        );
        assert!(reply.starts_with("250"), "{reply}");
        let inbox = b_daemon.inbox("bob@pec-b.test");
        assert_eq!(kinds(&inbox), vec![Kind::Anomaly; n + 1], "order {n}");
    }
    let log = std::fs::read_to_string(b.join("pecd.log")).unwrap();
    assert!(
        log.contains("several embedded certificates match the signer"),
        "{log}"
    );
}

#[test]
fn a_consegna_signed_by_an_impostor_of_provider_b_changes_nothing_at_a() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, base_a, _) = daemon::pair(tmp.path(), "");
    daemon::add_mailbox(&a, "alice@pec-a.test");
    let forger = impostor_of(
        &b.join("certs/signing.pem"),
        "posta-certificata@pec-b.test",
        tmp.path(),
    );
    // Alice really sends to bob; B is down, so only a consegna could end A's wait.
    let a_daemon = daemon::start(&a, base_a);
    let submission = "From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: atto\r\nMessage-ID: <c-1@mua.test>\r\n\r\ntesto\r\n";
    assert_eq!(
        daemon::smtplib_send(
            &a_daemon,
            "alice@pec-a.test",
            &["bob@pec-b.test"],
            submission
        ),
        "250"
    );
    let inbox = daemon::wait_for(
        &a_daemon,
        "alice@pec-a.test",
        &[Kind::Receipt(ReceiptKind::Acceptance)],
    );
    let accepted = reader::read(&inbox[0]).unwrap().daticert.unwrap();
    let facts = pecd::pec::compose::Facts::from_daticert(&accepted);
    let issuer = Issuer {
        domain: "pec-b.test".into(),
        name: "Gestore B S.p.A.".into(),
    };
    let consegna = receipt::delivered(
        &issuer,
        &facts,
        "bob@pec-b.test",
        pecd::pec::kind::ReceiptType::Summary,
        b"",
        &support::stamp(42, "pec-b.test"),
    );
    let forged = smime::sign(&forger, &consegna).unwrap();
    for (n, message) in both_orders(forged, &forger).into_iter().enumerate() {
        let reply = mx_send(
            base_a + 2,
            "posta-certificata@pec-b.test",
            &["alice@pec-a.test"],
            &message,
        );
        assert!(reply.starts_with("250"), "{reply}");
        let kinds = kinds(&a_daemon.inbox("alice@pec-a.test"));
        assert!(
            !kinds.contains(&Kind::Receipt(ReceiptKind::Delivered)),
            "order {n}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == Kind::Anomaly).count(),
            n + 1,
            "{kinds:?}"
        );
    }
}

fn reasons_of(message: &[u8]) -> Vec<String> {
    let index = support::index();
    pecd::crypto::validation::Validation::check(
        message,
        Some(&support::anchors()),
        Some(&index),
        jiff::Timestamp::now(),
    )
    .unwrap()
    .reasons()
}

#[test]
fn a_listed_provider_cannot_certify_a_busta_from_another_providers_user() {
    // B signs, with its own genuine key and its own From, a busta whose daticert says
    // alice@pec-a.test sent it.
    let b = support::TestProvider::b();
    let (original, facts) = builders::facts();
    let busta = envelope::transport(
        &b.issuer,
        &facts,
        &original,
        &support::stamp(43, "pec-b.test"),
    );
    let signed = smime::sign(&b.signer, &busta).unwrap();
    let reasons = reasons_of(&signed);
    assert_eq!(
        reasons,
        vec!["the daticert mittente is not of a domain the signing provider manages"]
    );
}

#[test]
fn a_header_added_twice_to_a_genuine_busta_makes_it_an_anomaly() {
    let (_, busta) = builders::signed_cases().into_iter().next().unwrap();
    assert!(reasons_of(&busta).is_empty(), "{:?}", reasons_of(&busta));
    for added in [
        "Subject: POSTA CERTIFICATA: Sfratto esecutivo\r\n",
        "From: \"Per conto di: sindaco@pec-a.test\" <posta-certificata@pec-a.test>\r\n",
        "X-Ricevuta: avvenuta-consegna\r\n",
    ] {
        let twice = [added.as_bytes(), &busta].concat();
        let reasons = reasons_of(&twice);
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("more than once") || r.starts_with("both")),
            "{added}: {reasons:?}"
        );
    }
}
