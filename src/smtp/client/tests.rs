//! The client against pecd's own server, in-process.

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::*;
use crate::net::tls;
use crate::smtp::client::pool::Pool;
use crate::smtp::server::tests::FakeBackend;
use crate::smtp::server::tests::TestServer;
use crate::smtp::server::tests::dev;
use crate::smtp::server::tests::endpoint;
use crate::smtp::session::Mode;

fn options(require_tls: bool) -> ClientOptions {
    ClientOptions {
        helo: "mx.pec-b.test".into(),
        tls: tls::client_config(&[dev("ca.pem")]).unwrap(),
        require_tls,
        timeouts: ClientTimeouts {
            connect: Duration::from_secs(5),
            command: Duration::from_secs(10),
            data_end: Duration::from_secs(10),
        },
    }
}

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

const BODY: &[u8] = b"Subject: relay\r\n\r\n.starts with a dot\r\n.\r\nend\r\n";

#[tokio::test]
async fn delivers_over_starttls_with_per_recipient_outcomes() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let rcpt_to = recipients(&["bob@pec-a.test", "unknown@pec-a.test"]);
    let message = Message {
        mail_from: "alice@pec-b.test",
        rcpt_to: &rcpt_to,
        data: BODY,
    };
    let delivery = send(server.address, "pec-a.test", &options(true), &message)
        .await
        .unwrap();
    assert!(delivery.tls);
    assert_eq!(delivery.accepted().collect::<Vec<_>>(), ["bob@pec-a.test"]);
    let rejected: Vec<_> = delivery.rejected().collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].address, "unknown@pec-a.test");
    assert_eq!(rejected[0].reply.code(), 550);
    assert_eq!(rejected[0].reply.enhanced(), Some((5, 1, 1)));
    assert_eq!(delivery.data_reply.as_ref().map(Reply::code), Some(250));

    let [envelope] = server.backend.submitted().try_into().unwrap();
    assert_eq!(envelope.data, BODY, "dot-stuffing round trip");
    assert_eq!(envelope.helo, "mx.pec-b.test");
    assert_eq!(envelope.rcpt_to, ["bob@pec-a.test"]);
    assert!(envelope.tls);
    server.stop().await;
}

#[tokio::test]
async fn require_tls_refuses_a_server_without_starttls() {
    let mut plaintext = endpoint(Mode::Mx, false, FakeBackend::default());
    plaintext.tls = None;
    let server = TestServer::start(plaintext, 4).await;
    let rcpt_to = recipients(&["bob@pec-a.test"]);
    let message = Message {
        mail_from: "alice@pec-b.test",
        rcpt_to: &rcpt_to,
        data: BODY,
    };
    let error = send(server.address, "pec-a.test", &options(true), &message)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::TlsNotOffered), "{error}");
    assert!(error.is_transient());
    assert!(server.backend.submitted().is_empty());

    let delivery = send(server.address, "pec-a.test", &options(false), &message)
        .await
        .unwrap();
    assert!(!delivery.tls);
    assert!(!server.backend.submitted()[0].tls);
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_stops_the_delivery() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let mut untrusting = options(true);
    let other_ca = dev("ca.pem")
        .parent()
        .unwrap()
        .with_file_name("pec-b.test")
        .join("ca.pem");
    untrusting.tls = tls::client_config(&[other_ca]).unwrap();
    let rcpt_to = recipients(&["bob@pec-a.test"]);
    let message = Message {
        mail_from: "alice@pec-b.test",
        rcpt_to: &rcpt_to,
        data: BODY,
    };
    let error = send(server.address, "pec-a.test", &untrusting, &message)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Handshake(_)), "{error}");
    assert!(server.backend.submitted().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn permanent_and_transient_failures_are_told_apart() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let rcpt_to = recipients(&["unknown@pec-a.test"]);
    let nobody = Message {
        mail_from: "alice@pec-b.test",
        rcpt_to: &rcpt_to,
        data: BODY,
    };
    let delivery = send(server.address, "pec-a.test", &options(true), &nobody)
        .await
        .unwrap();
    assert_eq!(delivery.data_reply, None);
    assert_eq!(delivery.accepted().count(), 0);

    // The test endpoint's limit is 10 000 bytes: SIZE= makes MAIL fail with 552.
    let big = vec![b'x'; 20_000];
    let rcpt_to = recipients(&["bob@pec-a.test"]);
    let too_big = Message {
        mail_from: "alice@pec-b.test",
        rcpt_to: &rcpt_to,
        data: &big,
    };
    let error = send(server.address, "pec-a.test", &options(true), &too_big)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Rejected { stage: Stage::MailFrom, reply } if reply.code() == 552),
        "{error}"
    );
    assert!(error.is_permanent());

    let injected = Message {
        mail_from: "alice@pec-b.test>\r\nRCPT TO:<x@y.test",
        ..nobody
    };
    let error = send(server.address, "pec-a.test", &options(true), &injected)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::InvalidAddress(_)), "{error}");
    assert!(error.is_permanent());
    server.stop().await;

    let busy = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 0).await;
    let error = send(busy.address, "pec-a.test", &options(true), &nobody)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Rejected { stage: Stage::Greeting, reply } if reply.code() == 421),
        "{error}"
    );
    assert!(error.is_transient());
    busy.stop().await;

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let error = send(address, "pec-a.test", &options(true), &nobody)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Connect(_)), "{error}");
    assert!(error.is_transient());
}

#[test]
fn parses_replies() {
    let ehlo: [&[u8]; 3] = [
        b"250-pec-a.test\r\n",
        b"250-SIZE 100\r\n",
        b"250 STARTTLS\r\n",
    ];
    let reply = parse_reply(&ehlo).unwrap();
    assert_eq!(reply.code(), 250);
    assert_eq!(reply.text(), "pec-a.test\nSIZE 100\nSTARTTLS");
    assert_eq!(reply.enhanced(), None);

    let refusal = parse_reply(&[b"550-5.1.1 No such\r\n", b"550 5.1.1 user\r\n"]).unwrap();
    assert_eq!(refusal.enhanced(), Some((5, 1, 1)));
    assert_eq!(refusal.text(), "No such\nuser");
    assert_eq!(
        parse_reply(&[b"538 5.7.11 Encryption\n"])
            .unwrap()
            .enhanced(),
        Some((5, 7, 11))
    );
    assert_eq!(parse_reply(&[b"250\r\n"]).unwrap().text(), "");
    assert_eq!(
        parse_reply(&[b"354 Go ahead 1.2.3\r\n"])
            .unwrap()
            .enhanced(),
        None
    );

    for bad in [
        &[&b"25O OK\r\n"[..]][..],
        &[b"250-more\r\n"],
        &[b"250 a\r\n", b"250 b\r\n"],
        &[b"250-a\r\n", b"251 b\r\n"],
        &[b"999 what\r\n"],
        &[b"250x\r\n"],
        &[],
    ] {
        assert_eq!(parse_reply(bad), None, "{bad:?}");
    }
}

#[test]
fn capabilities_come_from_ehlo_keywords() {
    let reply = Reply::plain(250, "pec-a.test\nsize 100\nstarttls\nPIPELINING");
    let capabilities = Capabilities::from_ehlo(&reply);
    assert!(capabilities.starttls && capabilities.size && !capabilities.eight_bit_mime);
    let reply = Reply::plain(250, "STARTTLS.example says hi");
    assert!(!Capabilities::from_ehlo(&reply).starttls);
}

fn message<'a>(rcpt_to: &'a [String]) -> Message<'a> {
    Message {
        mail_from: "alice@pec-b.test",
        rcpt_to,
        data: BODY,
    }
}

/// The server takes one connection at a time, so the second message only gets through
/// over the session the first one left open.
#[tokio::test]
async fn a_kept_session_carries_the_next_messages() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 1).await;
    let address = server.address.to_string();
    let pool = Pool::new(Duration::from_secs(30), 4);
    let bob = recipients(&["bob@pec-a.test"]);
    let nobody = recipients(&["unknown@pec-a.test"]);
    for rcpt_to in [&bob, &nobody, &bob] {
        pool.send(&address, "pec-a.test", &options(true), &message(rcpt_to))
            .await
            .unwrap();
        assert_eq!(pool.idle_to(&address), 1);
    }
    let submitted = server.backend.submitted();
    assert_eq!(
        submitted.len(),
        2,
        "the refused transaction was reset, not sent"
    );
    assert!(submitted.iter().all(|e| e.tls && e.data == BODY));
    server.stop().await;
}

#[tokio::test]
async fn a_session_the_server_closed_is_replaced() {
    let mut quick = endpoint(Mode::Mx, false, FakeBackend::default());
    quick.timeouts.command = Duration::from_millis(200);
    let server = TestServer::start(quick, 4).await;
    let address = server.address.to_string();
    let pool = Pool::new(Duration::from_secs(30), 4);
    let bob = recipients(&["bob@pec-a.test"]);
    pool.send(&address, "pec-a.test", &options(true), &message(&bob))
        .await
        .unwrap();
    // The server says 421 and hangs up while the session sits in the pool.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivery = pool
        .send(&address, "pec-a.test", &options(true), &message(&bob))
        .await
        .unwrap();
    assert_eq!(delivery.accepted().count(), 1);
    assert_eq!(server.backend.submitted().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn idle_sessions_are_closed_after_a_while() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let address = server.address.to_string();
    let pool = Pool::new(Duration::from_millis(100), 4);
    let bob = recipients(&["bob@pec-a.test"]);
    pool.send(&address, "pec-a.test", &options(true), &message(&bob))
        .await
        .unwrap();
    pool.close_idle();
    assert_eq!(pool.idle_to(&address), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    pool.close_idle();
    assert_eq!(pool.idle_to(&address), 0);
    server.stop().await;
}

/// A minimal server without PIPELINING (nor STARTTLS) taking at most
/// `per_session` messages per connection (`452` to the next MAIL, as servers with a
/// per-session limit say). It serves `connections` connections and returns, per
/// connection, every read outside DATA: a client that waits for each reply makes
/// exactly one command per read.
async fn scripted_server(
    per_session: usize,
    connections: usize,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Vec<Vec<String>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut sessions = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(b"220 old.test\r\n").await.unwrap();
            let mut reads = Vec::new();
            let (mut in_data, mut taken) = (false, 0);
            loop {
                let mut buffer = vec![0; 65536];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let chunk = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if in_data {
                    if chunk.ends_with("\r\n.\r\n") {
                        in_data = false;
                        taken += 1;
                        stream.write_all(b"250 taken\r\n").await.unwrap();
                    }
                    continue;
                }
                reads.push(chunk.clone());
                let reply: &[u8] = if chunk.starts_with("EHLO") {
                    b"250-old.test\r\n250 SIZE 100000\r\n"
                } else if chunk.starts_with("MAIL") && taken >= per_session {
                    b"452 4.5.3 Too many messages in this session\r\n"
                } else if chunk.starts_with("DATA") {
                    in_data = true;
                    b"354 go ahead\r\n"
                } else if chunk.starts_with("QUIT") {
                    b"221 bye\r\n"
                } else {
                    b"250 ok\r\n"
                };
                stream.write_all(reply).await.unwrap();
            }
            sessions.push(reads);
        }
        sessions
    });
    (address, server)
}

fn verbs(reads: &[String]) -> Vec<&str> {
    reads
        .iter()
        .map(|r| r.split(' ').next().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn without_pipelining_each_command_waits_for_its_reply() {
    let (address, server) = scripted_server(10, 1).await;
    let two = recipients(&["bob@old.test", "carol@old.test"]);
    let delivery = send(address, "old.test", &options(false), &message(&two))
        .await
        .unwrap();
    assert_eq!(delivery.accepted().count(), 2);
    let [reads] = server.await.unwrap().try_into().unwrap();
    assert_eq!(
        verbs(&reads),
        ["EHLO", "MAIL", "RCPT", "RCPT", "DATA\r\n", "QUIT\r\n"],
        "{reads:?}"
    );
    assert!(
        reads.iter().all(|r| r.matches("\r\n").count() == 1),
        "{reads:?}"
    );
}

/// A server that takes one message per session: the second message goes over a new
/// session, and the refusing one is not kept.
#[tokio::test]
async fn a_session_limit_of_the_server_means_a_new_session() {
    let (address, server) = scripted_server(1, 2).await;
    let pool = Pool::new(Duration::from_secs(30), 4);
    let bob = recipients(&["bob@old.test"]);
    let address = address.to_string();
    for _ in 0..2 {
        let delivery = pool
            .send(&address, "old.test", &options(false), &message(&bob))
            .await
            .unwrap();
        assert_eq!(delivery.accepted().count(), 1);
    }
    assert_eq!(pool.idle_to(&address), 1);
    pool.close_idle();
    drop(pool);
    let sessions = server.await.unwrap();
    assert_eq!(
        verbs(&sessions[0]),
        ["EHLO", "MAIL", "RCPT", "DATA\r\n", "MAIL"]
    );
    assert_eq!(verbs(&sessions[1]), ["EHLO", "MAIL", "RCPT", "DATA\r\n"]);
}
