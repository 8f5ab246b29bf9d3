//! The certified exchange between two providers and the notices it ends in: receipts,
//! refusals, the 12 h / 24 h notices, limits, and relaying by MX record.

use super::*;

#[test]
fn a_certified_message_travels_from_a_to_b_with_all_its_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    add_mailbox(&b_dir, "carol@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);

    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test", "carol@pec-b.test"],
        &message(
            "alice@pec-a.test",
            "bob@pec-b.test",
            Some("carol@pec-b.test"),
            "Prova A verso B",
        ),
    );
    assert_eq!(reply, "250");

    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let at_bob = wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    let at_carol = wait_for(&b, "carol@pec-b.test", &[Kind::Transport]);
    for m in &at_a {
        let read = reader::read(m).unwrap();
        let ca = if read.kind == Kind::Receipt(ReceiptKind::Acceptance) {
            a.ca()
        } else {
            b.ca()
        };
        check_signed(m, &ca);
    }
    for m in at_bob.iter().chain(&at_carol) {
        check_signed(m, &a.ca());
    }
    // Bob (To) gets a ricevuta completa carrying the original; Carol (Cc) a sintetica.
    let deliveries: Vec<_> = at_a
        .iter()
        .map(|m| reader::read(m).unwrap())
        .filter(|r| r.kind == Kind::Receipt(ReceiptKind::Delivered))
        .collect();
    let for_bob = deliveries
        .iter()
        .find(|r| r.daticert.as_ref().unwrap().data.delivery.as_deref() == Some("bob@pec-b.test"))
        .unwrap();
    assert!(for_bob.original.is_some());
    let for_carol = deliveries
        .iter()
        .find(|r| r.daticert.as_ref().unwrap().data.delivery.as_deref() == Some("carol@pec-b.test"))
        .unwrap();
    assert!(for_carol.original.is_none());
    let subject = reader::read(&at_bob[0]).unwrap().subject.unwrap();
    assert_eq!(subject, "POSTA CERTIFICATA: Prova A verso B");

    // The log of each side holds the facts, and its chain verifies.
    for daemon in [&a, &b] {
        let out = pecd()
            .args([
                "log",
                "verify",
                "--config",
                &daemon.dir.join("pecd.toml").to_string_lossy(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = pecd()
        .args([
            "log",
            "query",
            "--config",
            &a.dir.join("pecd.toml").to_string_lossy(),
            "--mailbox",
            "alice@pec-a.test",
            "--json",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("\"accepted\""), "{log}");
}

#[test]
fn refusals_and_failures_become_signed_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let _b = start(&b_dir, base_b);

    // Bcc: refused at the access point, with an avviso di non accettazione.
    let with_bcc = message("alice@pec-a.test", "bob@pec-b.test", None, "Con Bcc")
        .replace("Subject:", "Bcc: eve@pec-b.test\r\nSubject:");
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &with_bcc);
    assert!(reply.starts_with("550"), "{reply}");
    // From differs from the authenticated user.
    let forged = message(
        "mallory@pec-a.test",
        "bob@pec-b.test",
        None,
        "Falso mittente",
    );
    let reply = smtplib_send(&a, "alice@pec-a.test", &["bob@pec-b.test"], &forged);
    assert!(reply.starts_with("550"), "{reply}");
    // Unknown mailbox at B: avviso di mancata consegna back at A.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["nessuno@pec-b.test"],
        &message("alice@pec-a.test", "nessuno@pec-b.test", None, "A nessuno"),
    );
    assert_eq!(reply, "250");

    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryError),
        ],
    );
    let error = at_a
        .iter()
        .map(|m| reader::read(m).unwrap())
        .find(|r| r.kind == Kind::Receipt(ReceiptKind::DeliveryError))
        .unwrap();
    let daticert = error.daticert.unwrap();
    assert_eq!(
        daticert.data.extended_error.as_deref(),
        Some("5.1.1 - Gestore B S.p.A. - indirizzo non valido")
    );
    assert_eq!(daticert.error, pecd::pec::kind::ErrorCode::NoDest);
    for m in &at_a {
        let read = reader::read(m).unwrap();
        let ca = if read.kind == Kind::Receipt(ReceiptKind::DeliveryError) {
            _b.ca()
        } else {
            a.ca()
        };
        check_signed(m, &ca);
    }
}

#[test]
fn a_provider_that_never_answers_yields_the_12_and_24_hour_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, _b_dir, base_a, _base_b) = pair(tmp.path(), "warning_secs = 2\nfinal_secs = 4\n");
    add_mailbox(&a_dir, "alice@pec-a.test");
    let a = start(&a_dir, base_a); // B is down.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &message("alice@pec-a.test", "bob@pec-b.test", None, "B spento"),
    );
    assert_eq!(reply, "250");
    let at_a = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
            Kind::Receipt(ReceiptKind::DeliveryWarning),
        ],
    );
    let codes: Vec<String> = at_a
        .iter()
        .filter_map(|m| reader::read(m).unwrap().daticert)
        .filter_map(|d| d.data.extended_error)
        .collect();
    assert!(codes.iter().any(|c| c.starts_with("4.4.7")), "{codes:?}");
    assert!(codes.iter().any(|c| c.starts_with("5.4.1")), "{codes:?}");
    for m in &at_a {
        check_signed(m, &a.ca());
    }
}

#[test]
fn limits_give_non_acceptance_and_same_domain_mail_runs_the_full_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = "[limits]\nmax_recipients = 50\nmax_total_bytes = 30000000\n";
    let (a_dir, _b_dir, base_a, _base_b) = pair(tmp.path(), limits);
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&a_dir, "dario@pec-a.test");
    let a = start(&a_dir, base_a);

    // 51 recipients: over the limit (at least the DM art. 12 minimum of 50).
    let many: Vec<String> = (0..51).map(|i| format!("r{i}@pec-b.test")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &refs,
        &message(
            "alice@pec-a.test",
            &many.join(", "),
            None,
            "Troppi destinatari",
        ),
    );
    assert!(reply.starts_with("550"), "{reply}");
    // 16 MB to two recipients: 32 MB over the 30 MB of size × recipients.
    let big = message(
        "alice@pec-a.test",
        "bob@pec-b.test, carol@pec-b.test",
        None,
        "Troppo grande",
    )
    .replace(
        "Testo del messaggio.",
        &"x".repeat(76)
            .repeat(16 * 1024 * 1024 / 78)
            .replace(&"x".repeat(76), &format!("{}\r\n", "x".repeat(76))),
    );
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test", "carol@pec-b.test"],
        &big,
    );
    assert!(reply.starts_with("550"), "{reply}");
    // Same domain: the full flow, receipts included.
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["dario@pec-a.test"],
        &message(
            "alice@pec-a.test",
            "dario@pec-a.test",
            None,
            "Stesso dominio",
        ),
    );
    assert_eq!(reply, "250");

    let at_alice = wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::NonAcceptance),
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let at_dario = wait_for(&a, "dario@pec-a.test", &[Kind::Transport]);
    for m in at_alice.iter().chain(&at_dario) {
        check_signed(m, &a.ca());
    }
    let reasons: Vec<String> = at_alice
        .iter()
        .filter_map(|m| reader::read(m).unwrap().daticert)
        .filter_map(|d| d.data.extended_error)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("numero di destinatari")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("dimensione complessiva")),
        "{reasons:?}"
    );
}

/// A tiny DNS server answering MX and A queries from a table, for the MX-lookup test.
const DNS_SERVER: &str = r#"
import socket, struct, sys
port, mx_domain, mx_host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
print("ready", flush=True)
def name(text):
    return b"".join(bytes([len(l)]) + l.encode() for l in text.strip(".").split(".")) + b"\0"
while True:
    data, peer = s.recvfrom(512)
    qid, flags = struct.unpack(">HH", data[:4])
    i = 12
    labels = []
    while data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode())
        i += 1 + data[i]
    qname = ".".join(labels).lower()
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
    question = data[12:i + 5]
    answers = []
    if qtype == 15 and qname == mx_domain:
        rdata = struct.pack(">H", 10) + name(mx_host)
        answers.append(struct.pack(">HHHIH", 0xC00C, 15, 1, 60, len(rdata)) + rdata)
    elif qtype == 1 and qname == mx_host:
        answers.append(struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1]))
    known = qname in (mx_domain, mx_host)
    rcode = 0 if known else 3
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    s.sendto(header + question + b"".join(answers), peer)
"#;

#[test]
fn without_a_route_the_relay_finds_the_provider_through_its_mx_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, base_a, base_b) = pair(tmp.path(), "");
    let dns_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dns = Command::new("python3")
        .args([
            "-c",
            DNS_SERVER,
            &dns_port.to_string(),
            "pec-b.test",
            "localhost",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(dns.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    // A: no route to B; DNS says pec-b.test's mail host is `localhost`, on B's MX port.
    let config = std::fs::read_to_string(a_dir.join("pecd.toml")).unwrap();
    let config = config
        .lines()
        .filter(|l| !l.starts_with("\"pec-b.test\""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "[relay]\n",
            &format!(
                "[relay]\nnameservers = [\"127.0.0.1:{dns_port}\"]\nmx_port = {}\n",
                base_b + 2
            ),
        );
    std::fs::write(a_dir.join("pecd.toml"), config).unwrap();
    add_mailbox(&a_dir, "alice@pec-a.test");
    add_mailbox(&b_dir, "bob@pec-b.test");
    let a = start(&a_dir, base_a);
    let b = start(&b_dir, base_b);
    let reply = smtplib_send(
        &a,
        "alice@pec-a.test",
        &["bob@pec-b.test"],
        &message("alice@pec-a.test", "bob@pec-b.test", None, "Via MX"),
    );
    assert_eq!(reply, "250");
    wait_for(&b, "bob@pec-b.test", &[Kind::Transport]);
    wait_for(
        &a,
        "alice@pec-a.test",
        &[
            Kind::Receipt(ReceiptKind::Acceptance),
            Kind::Receipt(ReceiptKind::Delivered),
        ],
    );
    let _ = dns.kill();
    let _ = dns.wait();
}
