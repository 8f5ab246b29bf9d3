//! Attacks on the panel's listener and sessions: bodies sent before any session,
//! connections held open without a request, bodies trickled, a disabled operator's
//! session used again.

use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::*;

/// A raw TLS connection to the panel, as an attacker's script opens it.
async fn connect(panel: &Panel) -> TlsStream<TcpStream> {
    let config = crate::net::tls::client_config(&[dev("ca.pem")]).unwrap();
    let address = panel.base.trim_start_matches("https://");
    let tcp = TcpStream::connect(address).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    TlsConnector::from(config).connect(name, tcp).await.unwrap()
}

/// The status line of the server's answer, waiting at most `within`; `None` if none
/// came.
async fn status(stream: &mut TlsStream<TcpStream>, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.windows(2).any(|w| w == b"\r\n") {
        let mut buffer = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buffer[..n]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    text.lines().next().map(str::to_string)
}

/// Whether the server closes the connection within `within`, reading (and dropping)
/// whatever it sends first.
async fn closed_within(stream: &mut TlsStream<TcpStream>, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut buffer = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A session cookie from the login page, as a browser gets one.
async fn anonymous_cookie(panel: &Panel) -> String {
    let base = panel.base.clone();
    browse(move || {
        let mut browser = Browser::new(&base);
        assert_eq!(browser.get("/accesso").status, 200);
        browser.cookie.unwrap()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_s_body_is_refused_before_it_is_read() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    // No session: refused as soon as the head is in, with 12 MiB announced and five
    // bytes sent.
    let mut tls = connect(&panel).await;
    let head = "POST /accesso HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12582912\r\n\r\ncsrf=";
    tls.write_all(head.as_bytes()).await.unwrap();
    let answer = status(&mut tls, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 403 Forbidden"));

    // An anonymous session (the login page's) gets a form's room, not an upload's.
    let cookie = anonymous_cookie(&panel).await;
    for path in [
        "/accesso",
        "/attiva/qualsiasi",
        "/caselle/x@pec-a.test/documenti",
    ] {
        let mut tls = connect(&panel).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
            Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n"
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let answer = status(&mut tls, Duration::from_secs(5)).await;
        assert_eq!(
            answer.as_deref(),
            Some("HTTP/1.1 413 Payload Too Large"),
            "{path}"
        );
    }
    // Without a declared length the panel reads no more than that room.
    let mut tls = connect(&panel).await;
    let head = format!(
        "POST /accesso HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
    for _ in 0..20 {
        tls.write_all(chunk.as_bytes()).await.unwrap();
    }
    let answer = status(&mut tls, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 413 Payload Too Large"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_logged_in_operator_s_upload_gets_the_upload_room() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    let base = panel.base.clone();
    let (cookie, upload) = browse(move || {
        let mut admin = Browser::logged_in(&base, "admin");
        let token = admin.get("/").csrf();
        let fields = [("csrf", token.as_str()), ("tipo", "contratto")];
        let padding = vec![b'x'; 200 << 10];
        let upload = admin.upload("/caselle/nessuna@pec-a.test/documenti", &fields, &padding);
        (admin.cookie.unwrap(), upload.status)
    })
    .await;
    assert!(
        upload != 413 && upload != 403,
        "an upload of 200 KiB reaches its handler: {upload}"
    );
    // The same operator's other forms are held to a form's size.
    let mut tls = connect(&panel).await;
    let head = format!(
        "POST /domini HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 204800\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let answer = status(&mut tls, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 413 Payload Too Large"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_no_request_are_closed() {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    // The panel's head deadline is one second here.
    let started = Instant::now();
    let mut silent = connect(&panel).await;
    let mut partial = connect(&panel).await;
    partial.write_all(b"GET / HT").await.unwrap();
    let mut idle = connect(&panel).await;
    idle.write_all(b"GET /static/pecd.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = status(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
    for stream in [&mut silent, &mut partial, &mut idle] {
        assert!(closed_within(stream, Duration::from_secs(5)).await);
    }
    assert!(started.elapsed() < Duration::from_secs(10));

    // A body trickled: the request is answered 408 at the body deadline.
    let cookie = anonymous_cookie(&panel).await;
    let mut slow = connect(&panel).await;
    let head = format!(
        "POST /accesso HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ncsrf="
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = status(&mut slow, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
}

/// A panel with a gestore `admin` and an LRA `comune`, and `comune` logged in.
async fn gestore_and_lra() -> (Panel, Browser) {
    let panel = Panel::start(ThrottlePolicy::default()).await;
    panel.add_operator("admin", "gestore", None);
    panel.add_operator("comune", "lra", Some("Comune di Prova"));
    let base = panel.base.clone();
    let lra = browse(move || {
        let mut lra = Browser::logged_in(&base, "comune");
        assert_eq!(lra.get("/").status, 200);
        assert_eq!(lra.api("GET", "/v1/me", None, "").status, 200);
        lra
    })
    .await;
    (panel, lra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_operator_s_session_ends_at_the_next_request() {
    let (panel, mut lra) = gestore_and_lra().await;
    let gestore = crate::manage::Actor::gestore("admin");
    crate::manage::operators::set_disabled(&panel.store, &gestore, "comune", true).unwrap();
    let store = panel.store.clone();
    browse(move || {
        let page = lra.get("/");
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), "/accesso");
        crate::manage::operators::set_disabled(&store, &gestore, "comune", false).unwrap();
        // Enabled again, the old session is still over: a new login is needed.
        assert_eq!(lra.api("GET", "/v1/me", None, "").status, 401);
        assert_eq!(lra.get("/").status, 303);
    })
    .await;
}

/// The gestore gives an operator a new password (a colleague left with it, or it
/// leaked): the sessions opened with the old one end at their next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_sessions_opened_with_the_old_one() {
    let (panel, mut lra) = gestore_and_lra().await;
    let gestore = crate::manage::Actor::gestore("admin");
    crate::manage::operators::set_password(&panel.store, &gestore, "comune", "Nuova-password-99")
        .unwrap();
    browse(move || {
        let page = lra.get("/");
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), "/accesso");
        assert_eq!(lra.api("GET", "/v1/me", None, "").status, 401);
    })
    .await;
}
