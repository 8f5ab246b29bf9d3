//! The driver against real sockets, real TLS and a real client (Python's `smtplib`),
//! with an in-memory backend.

use std::path::PathBuf;
use std::sync::Mutex;

use rustls_pki_types::ServerName;
use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::io::BufReader;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::*;
use crate::config::LimitsConfig;
use crate::net::throttle::ThrottlePolicy;
use crate::net::tls;
use crate::store::mailbox::Credential;

mod deadlines;
mod store_faults;

const WAIT: Duration = Duration::from_secs(20);
const PLAIN_OK: &str = "AGFsaWNlQHBlYy1hLnRlc3QAc2VjcmV0";
const PLAIN_WRONG: &str = "AGFsaWNlQHBlYy1hLnRlc3QAd3Jvbmc=";

pub(crate) fn dev(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs/pec-a.test")
        .join(file)
}

/// Accepts alice@pec-a.test / secret, refuses `unknown@…`, keeps what it is given.
#[derive(Clone, Default)]
pub(crate) struct FakeBackend {
    pub(crate) submitted: Arc<Mutex<Vec<Envelope>>>,
    /// While set, no password can be checked: the store does not answer.
    pub(crate) store_down: Arc<std::sync::atomic::AtomicBool>,
    /// When set, `submit` signals the first and waits for the second before answering.
    pub(crate) gate: Option<(Arc<Notify>, Arc<Notify>)>,
}

impl FakeBackend {
    /// A backend whose `submit` signals `entered` and then waits for `release`.
    fn gated() -> (FakeBackend, Arc<Notify>, Arc<Notify>) {
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let backend = FakeBackend {
            gate: Some((entered.clone(), release.clone())),
            ..FakeBackend::default()
        };
        (backend, entered, release)
    }

    pub(crate) fn submitted(&self) -> Vec<Envelope> {
        self.submitted.lock().unwrap().clone()
    }
}

impl Backend for FakeBackend {
    fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send {
        let right = user == "alice@pec-a.test" && password == "secret";
        let down = self.store_down.load(std::sync::atomic::Ordering::SeqCst);
        async move {
            if down {
                Err(StoreError::Internal("the store does not answer"))
            } else {
                Ok(right.then(|| Credential::of("alice")))
            }
        }
    }

    fn check_recipient(
        &self,
        _mode: Mode,
        _authenticated: Option<&str>,
        rcpt: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let verdict = if rcpt.starts_with("unknown@") {
            Err(Reply::new(550, (5, 1, 1), "No such user"))
        } else {
            Ok(())
        };
        async move { verdict }
    }

    fn submit(&self, _mode: Mode, envelope: Envelope) -> impl Future<Output = Reply> + Send {
        let submitted = self.submitted.clone();
        let gate = self.gate.clone();
        async move {
            if let Some((entered, release)) = gate {
                entered.notify_one();
                release.notified().await;
            }
            submitted.lock().unwrap().push(envelope);
            Reply::new(250, (2, 0, 0), "Queued")
        }
    }
}

pub(crate) fn endpoint(
    mode: Mode,
    implicit_tls: bool,
    backend: FakeBackend,
) -> Endpoint<FakeBackend> {
    let server = tls::server_config(&dev("tls.pem"), &dev("tls.key")).unwrap();
    Endpoint {
        config: SessionConfig {
            mode,
            hostname: "pec-a.test".into(),
            max_message_bytes: 10_000,
            max_recipients: 10,
            max_auth_failures: 3,
            tls_available: true,
            implicit_tls,
        },
        tls: Some(TlsAcceptor::from(server)),
        backend,
        timeouts: Timeouts::default(),
        throttle: AuthThrottle::new(ThrottlePolicy::default()),
        metrics: crate::metrics::Metrics::default(),
    }
}

pub(crate) struct TestServer {
    pub(crate) address: SocketAddr,
    pub(crate) backend: FakeBackend,
    pub(crate) shutdown: CancellationToken,
    tracker: TaskTracker,
    task: JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(endpoint: Endpoint<FakeBackend>, max_connections: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = LimitsConfig {
            max_connections,
            ..LimitsConfig::default()
        };
        Self::start_with(listener, endpoint, &limits)
    }

    pub(crate) async fn start_limited(
        endpoint: Endpoint<FakeBackend>,
        limits: &LimitsConfig,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_with(listener, endpoint, limits)
    }

    fn start_with(
        listener: TcpListener,
        endpoint: Endpoint<FakeBackend>,
        limits: &LimitsConfig,
    ) -> Self {
        let address = listener.local_addr().unwrap();
        let backend = endpoint.backend.clone();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let task = tokio::spawn(run_listener(
            listener,
            endpoint,
            limits,
            shutdown.clone(),
            tracker.clone(),
        ));
        TestServer {
            address,
            backend,
            shutdown,
            tracker,
            task,
        }
    }

    async fn connect(&self) -> Wire<TcpStream> {
        Wire::new(TcpStream::connect(self.address).await.unwrap())
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .unwrap();
    }
}

/// A raw client that reads whole (multi-line) replies.
struct Wire<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    fn new(stream: S) -> Self {
        Wire {
            stream: BufReader::new(stream),
        }
    }

    async fn send(&mut self, text: &str) {
        let stream = self.stream.get_mut();
        stream.write_all(text.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(WAIT, self.stream.read_line(&mut line));
            let n = read.await.expect("reply in time").unwrap();
            assert!(n > 0, "connection closed after {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let reply = self.reply().await;
        assert!(
            reply.starts_with(prefix),
            "expected {prefix:?}, got {reply:?}"
        );
        reply
    }

    async fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.expect(prefix).await
    }

    async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest));
        read.await.expect("close in time").unwrap();
        assert!(
            rest.is_empty(),
            "unexpected {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    fn into_inner(self) -> S {
        assert!(self.stream.buffer().is_empty());
        self.stream.into_inner()
    }
}

async fn tls_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
) -> tokio_rustls::client::TlsStream<S> {
    let connector = TlsConnector::from(tls::client_config(&[dev("ca.pem")]).unwrap());
    let name = ServerName::try_from("pec-a.test").unwrap();
    connector.connect(name, stream).await.unwrap()
}

/// Runs a Python script with `sys.argv[1]` = port and `sys.argv[2]` = the dev CA.
async fn python(script: &str, port: u16) -> String {
    let output = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(dev("ca.pem"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(WAIT, output)
        .await
        .expect("python3 finished in time")
        .unwrap_or_else(|error| panic!("python3 is required for the smtplib tests: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python3 failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test]
async fn smtplib_submits_over_starttls() {
    let server =
        TestServer::start(endpoint(Mode::Submission, false, FakeBackend::default()), 4).await;
    let script = r#"
import smtplib, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("client.test")
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
s.starttls(context=ssl.create_default_context(cafile=ca))
s.ehlo("client.test")
assert s.has_extn("auth") and not s.has_extn("starttls"), s.esmtp_features
assert s.esmtp_features["size"] == "10000"
s.login("alice@pec-a.test", "secret")
refused = s.sendmail("alice@pec-a.test", ["bob@pec-b.test", "unknown@pec-b.test"],
                     b"Subject: hi\r\n\r\n.dot line\r\nbody\r\n")
assert list(refused) == ["unknown@pec-b.test"], refused
s.quit()
print("sent")
"#;
    assert_eq!(python(script, server.address.port()).await.trim(), "sent");
    let [envelope] = server.backend.submitted().try_into().unwrap();
    assert_eq!(envelope.mail_from, "alice@pec-a.test");
    assert_eq!(envelope.rcpt_to, ["bob@pec-b.test"]);
    assert_eq!(envelope.data, b"Subject: hi\r\n\r\n.dot line\r\nbody\r\n");
    assert_eq!(envelope.user(), Some("alice@pec-a.test"));
    assert!(envelope.tls);
    server.stop().await;
}

#[tokio::test]
async fn smtplib_submits_over_implicit_tls_with_auth_login_after_a_wrong_password() {
    let server =
        TestServer::start(endpoint(Mode::Submission, true, FakeBackend::default()), 4).await;
    let script = r#"
import smtplib, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10,
                     context=ssl.create_default_context(cafile=ca))
s.ehlo("client.test")
assert not s.has_extn("starttls"), s.esmtp_features
try:
    s.login("alice@pec-a.test", "wrong")
    raise SystemExit("wrong password accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.user, s.password = "alice@pec-a.test", "secret"
code, _ = s.auth("LOGIN", s.auth_login)
assert code == 235, code
s.sendmail("alice@pec-a.test", ["bob@pec-b.test"], b"Subject: implicit\r\n\r\nhello\r\n")
s.quit()
print("sent")
"#;
    assert_eq!(python(script, server.address.port()).await.trim(), "sent");
    let [envelope] = server.backend.submitted().try_into().unwrap();
    assert_eq!(envelope.data, b"Subject: implicit\r\n\r\nhello\r\n");
    assert!(envelope.tls);
    server.stop().await;
}

#[tokio::test]
async fn auth_before_starttls_is_refused() {
    let server =
        TestServer::start(endpoint(Mode::Submission, false, FakeBackend::default()), 4).await;
    let mut client = server.connect().await;
    client.expect("220 pec-a.test").await;
    let ehlo = client.cmd("EHLO client.test", "250-pec-a.test").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    client
        .cmd(&format!("AUTH PLAIN {PLAIN_OK}"), "538 5.7.11")
        .await;
    client
        .cmd("MAIL FROM:<alice@pec-a.test>", "530 5.7.0")
        .await;
    client.cmd("QUIT", "221").await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_then_right_password() {
    let server =
        TestServer::start(endpoint(Mode::Submission, true, FakeBackend::default()), 4).await;
    let tcp = TcpStream::connect(server.address).await.unwrap();
    let mut client = Wire::new(tls_connect(tcp).await);
    client.expect("220 ").await;
    let ehlo = client.cmd("EHLO client.test", "250-").await;
    assert!(ehlo.contains("250 AUTH PLAIN LOGIN"), "{ehlo}");
    client
        .cmd(&format!("AUTH PLAIN {PLAIN_WRONG}"), "535 5.7.8")
        .await;
    client
        .cmd(&format!("AUTH PLAIN {PLAIN_OK}"), "235 2.7.0")
        .await;
    client
        .cmd("MAIL FROM:<alice@pec-a.test>", "250 2.1.0")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn starttls_discards_commands_pipelined_behind_it() {
    let backend = FakeBackend::default();
    let endpoint = Arc::new(endpoint(Mode::Mx, false, backend.clone()));
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(run_connection(
        server_side,
        IpAddr::from([192, 0, 2, 7]),
        endpoint,
        Bounds::new(&LimitsConfig::default(), Mode::Mx),
        CancellationToken::new(),
    ));
    let mut client = Wire::new(client_side);
    client.expect("220 ").await;
    client
        .send("EHLO evil.test\r\nSTARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        .await;
    client.expect("250-pec-a.test").await;
    client.expect("220 2.0.0 Ready to start TLS").await;
    let mut client = Wire::new(tls_connect(client.into_inner()).await);
    // Had the injected MAIL run, this would be its 250 2.1.0, and the next MAIL a 503.
    client.cmd("EHLO relay.pec-b.test", "250-pec-a.test").await;
    client.cmd("MAIL FROM:<good@pec-b.test>", "250 2.1.0").await;
    client.cmd("QUIT", "221").await;
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn unterminated_data_and_a_dropped_connection_submit_nothing() {
    let backend = FakeBackend::default();
    let endpoint = Arc::new(endpoint(Mode::Mx, false, backend.clone()));
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(run_connection(
        server_side,
        IpAddr::from([192, 0, 2, 7]),
        endpoint,
        Bounds::new(&LimitsConfig::default(), Mode::Mx),
        CancellationToken::new(),
    ));
    let mut client = Wire::new(client_side);
    client.expect("220 ").await;
    client.cmd("EHLO relay.pec-b.test", "250-").await;
    client.cmd("MAIL FROM:<a@pec-b.test>", "250").await;
    client.cmd("RCPT TO:<bob@pec-a.test>", "250").await;
    client.cmd("DATA", "354").await;
    client.send("Subject: cut\r\n\r\nhalf a message\r\n").await;
    drop(client);
    server.await.unwrap().unwrap();
    assert!(backend.submitted().is_empty());
}

#[tokio::test]
async fn overlong_line_is_refused_and_the_session_continues() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let mut client = server.connect().await;
    client.expect("220 ").await;
    client
        .cmd(&format!("NOOP {}", "a".repeat(1200)), "500 5.5.2")
        .await;
    client
        .cmd(&format!("NOOP {}", "a".repeat(50_000)), "500 5.5.2")
        .await;
    client.cmd("NOOP", "250 2.0.0").await;
    server.stop().await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let mut client = server.connect().await;
    client.expect("220 ").await;
    client
        .send(concat!(
            "EHLO relay.pec-b.test\r\n",
            "MAIL FROM:<a@pec-b.test>\r\n",
            "RCPT TO:<bob@pec-a.test>\r\n",
            "RCPT TO:<unknown@pec-a.test>\r\n",
            "DATA\r\n",
        ))
        .await;
    client.expect("250-pec-a.test").await;
    client.expect("250 2.1.0").await;
    client.expect("250 2.1.5").await;
    client.expect("550 5.1.1").await;
    client.expect("354 ").await;
    client
        .send("Subject: p\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    client.expect("250 2.0.0 Queued").await;
    client.expect("250 2.0.0 OK").await;
    client.expect("221 ").await;
    client.expect_closed().await;
    let [envelope] = server.backend.submitted().try_into().unwrap();
    assert_eq!(envelope.rcpt_to, ["bob@pec-a.test"]);
    assert!(!envelope.tls);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_get_421() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 1).await;
    let mut first = server.connect().await;
    first.expect("220 ").await;
    let mut second = server.connect().await;
    second.expect("421 4.7.0 Too many connections").await;
    second.expect_closed().await;
    first.cmd("NOOP", "250").await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_says_421_at_the_next_command_boundary() {
    let server = TestServer::start(endpoint(Mode::Mx, false, FakeBackend::default()), 4).await;
    let mut client = server.connect().await;
    client.expect("220 ").await;
    client.cmd("EHLO relay.pec-b.test", "250-").await;
    server.shutdown.cancel();
    client.expect("421 4.3.2 Service shutting down").await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn a_submission_in_flight_finishes_before_shutdown() {
    let (backend, entered, release) = FakeBackend::gated();
    let server = TestServer::start(endpoint(Mode::Mx, false, backend), 4).await;
    let mut client = server.connect().await;
    client.expect("220 ").await;
    client.cmd("EHLO relay.pec-b.test", "250-").await;
    client.cmd("MAIL FROM:<a@pec-b.test>", "250").await;
    client.cmd("RCPT TO:<bob@pec-a.test>", "250").await;
    client.cmd("DATA", "354").await;
    client.send("Subject: late\r\n\r\nbody\r\n.\r\n").await;
    // Stop the server while the backend is busy with the message.
    entered.notified().await;
    server.shutdown.cancel();
    release.notify_one();
    client.expect("250 2.0.0 Queued").await;
    client.expect("421 4.3.2").await;
    client.expect_closed().await;
    assert_eq!(server.backend.submitted().len(), 1);
    server.stop().await;
}

/// Real time (tokio's `test-util` clock is not enabled): a short timeout instead.
#[tokio::test]
async fn a_silent_client_times_out() {
    let mut endpoint = endpoint(Mode::Mx, false, FakeBackend::default());
    endpoint.timeouts = Timeouts {
        command: Duration::from_millis(200),
        data: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let (client_side, server_side) = tokio::io::duplex(4096);
    let server = tokio::spawn(run_connection(
        server_side,
        IpAddr::from([192, 0, 2, 7]),
        Arc::new(endpoint),
        Bounds::new(&LimitsConfig::default(), Mode::Mx),
        CancellationToken::new(),
    ));
    let mut client = Wire::new(client_side);
    client.expect("220 ").await;
    client.expect("421 4.4.2").await;
    client.expect_closed().await;
    server.await.unwrap().unwrap();
}

/// On the implicit-TLS port, a client that connects and never says hello is cut at
/// the handshake deadline, not a command's.
#[tokio::test]
async fn a_client_that_never_starts_tls_is_cut_at_the_handshake_deadline() {
    let mut endpoint = endpoint(Mode::Submission, true, FakeBackend::default());
    endpoint.timeouts.handshake = Duration::from_millis(200);
    let server = TestServer::start(endpoint, 4).await;
    let mut silent = Wire::new(TcpStream::connect(server.address).await.unwrap());
    silent.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn a_locked_address_cannot_authenticate() {
    let mut endpoint = endpoint(Mode::Submission, true, FakeBackend::default());
    endpoint.throttle = AuthThrottle::new(ThrottlePolicy {
        delay_after_failures: 10,
        lock_after_failures: 2,
        ..ThrottlePolicy::default()
    });
    let server = TestServer::start(endpoint, 4).await;
    for _ in 0..2 {
        let tcp = TcpStream::connect(server.address).await.unwrap();
        let mut client = Wire::new(tls_connect(tcp).await);
        client.expect("220 ").await;
        client.cmd("EHLO client.test", "250-").await;
        client
            .cmd(&format!("AUTH PLAIN {PLAIN_WRONG}"), "535")
            .await;
    }
    let tcp = TcpStream::connect(server.address).await.unwrap();
    let mut client = Wire::new(tls_connect(tcp).await);
    client.expect("220 ").await;
    client.cmd("EHLO client.test", "250-").await;
    client
        .cmd(&format!("AUTH PLAIN {PLAIN_OK}"), "421 4.7.0")
        .await;
    server.stop().await;
}
