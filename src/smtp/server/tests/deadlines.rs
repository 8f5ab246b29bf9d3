//! Limits on anonymous peers and slow lines: the in-flight budget, the deadlines of
//! an anonymous session and of DATA.

use super::*;

/// Limits for one test: the defaults, with the given changes.
fn limits(change: impl FnOnce(&mut LimitsConfig)) -> LimitsConfig {
    let mut limits = LimitsConfig::default();
    change(&mut limits);
    limits
}

async fn send_message(client: &mut Wire<TcpStream>, body: &str) {
    client.cmd("MAIL FROM:<a@pec-b.test>", "250").await;
    client.cmd("RCPT TO:<bob@pec-a.test>", "250").await;
    client.cmd("DATA", "354").await;
    client.send(&format!("{body}\r\n.\r\n")).await;
}

#[tokio::test]
async fn an_mx_body_without_room_in_the_budget_gets_452_until_room_is_made() {
    let (backend, entered, release) = FakeBackend::gated();
    let limits = limits(|l| l.mx_in_flight_bytes = 12_000);
    let server = TestServer::start_limited(endpoint(Mode::Mx, false, backend), &limits).await;
    let mut first = server.connect().await;
    first.expect("220 ").await;
    first.cmd("EHLO relay.pec-b.test", "250-").await;
    // 9000 bytes reserve the decoder's whole 10000-byte limit while the backend works.
    send_message(&mut first, &"x".repeat(8998)).await;
    entered.notified().await;
    let mut second = server.connect().await;
    second.expect("220 ").await;
    second.cmd("EHLO relay.pec-b.test", "250-").await;
    send_message(&mut second, "Subject: small\r\n\r\nbody").await;
    second.expect("452 4.3.1").await;
    release.notify_one();
    first.expect("250 2.0.0 Queued").await;
    release.notify_one();
    send_message(&mut second, "Subject: small\r\n\r\nbody").await;
    second.expect("250 2.0.0 Queued").await;
    assert_eq!(server.backend.submitted().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_noop_loop_does_not_keep_an_anonymous_session() {
    for (mode, implicit_tls) in [(Mode::Mx, false), (Mode::Submission, false)] {
        let limits = limits(|l| {
            l.mx_transaction_timeout_secs = 1;
            l.unauthenticated_timeout_secs = 1;
        });
        let server = TestServer::start_limited(
            endpoint(mode, implicit_tls, FakeBackend::default()),
            &limits,
        )
        .await;
        let mut client = server.connect().await;
        client.expect("220 ").await;
        client.cmd("EHLO client.test", "250-").await;
        // Each NOOP is answered at once; the session ends at the deadline anyway.
        let mut answered = 0;
        loop {
            client.send("NOOP\r\n").await;
            let reply = client.reply().await;
            if reply.starts_with("421 4.4.2") {
                break;
            }
            assert!(reply.starts_with("250"), "{reply}");
            answered += 1;
            assert!(answered < 1000, "still open after {answered} NOOPs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.expect_closed().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_trickled_body_is_cut_by_the_data_deadline() {
    let mut endpoint = endpoint(Mode::Mx, false, FakeBackend::default());
    endpoint.timeouts.data = Duration::from_millis(500);
    let server = TestServer::start(endpoint, 4).await;
    let mut client = server.connect().await;
    client.expect("220 ").await;
    client.cmd("EHLO relay.pec-b.test", "250-").await;
    client.cmd("MAIL FROM:<a@pec-b.test>", "250").await;
    client.cmd("RCPT TO:<bob@pec-a.test>", "250").await;
    client.cmd("DATA", "354").await;
    // One byte at a time, until the server answers.
    let mut line = String::new();
    for sent in 0.. {
        assert!(sent < 400, "still reading after {sent} bytes");
        client.stream.get_mut().write_all(b"x").await.unwrap();
        let answer = client.stream.read_line(&mut line);
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(50), answer).await {
            read.unwrap();
            break;
        }
    }
    assert!(line.starts_with("421 4.4.2"), "{line:?}");
    client.expect_closed().await;
    assert!(server.backend.submitted().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_logged_in_user_on_a_slow_line_gets_the_whole_body_through() {
    let mut endpoint = endpoint(Mode::Submission, true, FakeBackend::default());
    endpoint.timeouts.data = Duration::from_millis(300);
    let server = TestServer::start(endpoint, 4).await;
    let tcp = TcpStream::connect(server.address).await.unwrap();
    let mut client = Wire::new(tls_connect(tcp).await);
    client.expect("220 ").await;
    client.cmd("EHLO client.test", "250-").await;
    client
        .cmd(&format!("AUTH PLAIN {PLAIN_OK}"), "235 2.7.0")
        .await;
    client.cmd("MAIL FROM:<alice@pec-a.test>", "250").await;
    client.cmd("RCPT TO:<bob@pec-b.test>", "250").await;
    client.cmd("DATA", "354").await;
    // Ten pieces a tenth of a second apart: a second in all, three times the data
    // timeout, with each read well within it.
    for piece in 0..10 {
        let line = format!("Subject: piece {piece}\r\n");
        client
            .stream
            .get_mut()
            .write_all(line.as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.cmd("\r\nbody\r\n.", "250").await;
    assert_eq!(server.backend.submitted().len(), 1);
    server.stop().await;
}
