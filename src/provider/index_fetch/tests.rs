//! The scheduled download against a real HTTPS server (rustls, a dev CA made here and
//! trusted through `tls_roots`): a good index replaces the current one; an unsigned,
//! a wrongly signed, a tampered one, an error status and a server that is down leave it.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::Mutex;

use openssl::pkcs7::Pkcs7;
use openssl::pkcs7::Pkcs7Flags;
use openssl::stack::Stack;

use super::*;
use crate::crypto::certs;
use crate::crypto::certs::Issued;

const LDIF: &[u8] = include_bytes!("../../../tests/data/index/two-providers.ldif");

/// What the server answers: status and body.
type Answer = Arc<Mutex<(u16, Vec<u8>)>>;

/// An HTTPS server on 127.0.0.1 answering every request with the current [`Answer`].
struct Server {
    port: u16,
    answer: Answer,
}

impl Server {
    fn start(tls: &Issued) -> Server {
        let chain = vec![rustls_pki_types::CertificateDer::from(
            tls.certificate.to_der().unwrap(),
        )];
        let key =
            rustls_pki_types::PrivateKeyDer::Pkcs8(tls.key.private_key_to_pkcs8().unwrap().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer: Answer = Arc::new(Mutex::new((200, Vec::new())));
        let served = Arc::clone(&answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => request.push(byte[0]),
                        _ => break,
                    }
                }
                if !request.starts_with(b"GET /index.p7m ") {
                    continue;
                }
                let (status, body) = served.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes());
                let _ = tls.write_all(&body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Server { port, answer }
    }

    fn answer(&self, status: u16, body: Vec<u8>) {
        *self.answer.lock().unwrap() = (status, body);
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/index.p7m", self.port)
    }
}

/// The index signed (content embedded) by `signer`.
fn signed(content: &[u8], signer: &Issued) -> Vec<u8> {
    Pkcs7::sign(
        &signer.certificate,
        &signer.key,
        &Stack::new().unwrap(),
        content,
        Pkcs7Flags::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    config: IndexConfig,
    index_ca: Issued,
    tls: Issued,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let index_ca = certs::dev_ca("Indice", 2048).unwrap();
    let tls_ca = certs::dev_ca("Server", 2048).unwrap();
    let tls = certs::tls_certificate(&tls_ca, &["127.0.0.1"], 2048).unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let config = IndexConfig {
        ldif: write("index.p7m", b"the current index".to_vec()),
        url: String::new(),
        signer_ca: Some(write("index-ca.pem", index_ca.certificate_pem().unwrap())),
        tls_roots: vec![write("tls-ca.pem", tls_ca.certificate_pem().unwrap())],
        refresh_secs: 86_400,
    };
    Setup {
        _dir: dir,
        config,
        index_ca,
        tls,
    }
}

fn fetcher(config: &IndexConfig, url: &str, status: &IndexStatusCell) -> IndexFetcher {
    let config = IndexConfig {
        url: url.to_string(),
        ..config.clone()
    };
    IndexFetcher::from_config(&config, status.clone())
        .unwrap()
        .unwrap()
}

/// One round; the index installed, if any.
fn round(fetcher: &IndexFetcher) -> (Result<(), IndexFetchError>, Option<ProvidersIndex>) {
    let mut installed = None;
    let result = fetcher.refresh(|index| installed = Some(index));
    (result, installed)
}

#[test]
fn a_good_index_replaces_the_current_one_and_bad_downloads_keep_it() {
    let setup = setup();
    let server = Server::start(&setup.tls);
    let status = IndexStatusCell::default();
    let fetcher = fetcher(&setup.config, &server.url(), &status);
    let signer =
        certs::signing_certificate(&setup.index_ca, "indice.test", "Indice", 2048).unwrap();
    // Signing times are whole seconds.
    let older = signed(LDIF, &signer);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let good = signed(LDIF, &signer);

    server.answer(200, good.clone());
    let (result, installed) = round(&fetcher);
    result.unwrap();
    assert!(installed.unwrap().providers().len() >= 2);
    assert_eq!(std::fs::read(&setup.config.ldif).unwrap(), good);

    // The same index again: still good, the file left as it is.
    let written = std::fs::metadata(&setup.config.ldif)
        .unwrap()
        .modified()
        .unwrap();
    round(&fetcher).0.unwrap();
    assert_eq!(
        std::fs::metadata(&setup.config.ldif)
            .unwrap()
            .modified()
            .unwrap(),
        written
    );

    let after_success = status.get();
    assert!(after_success.last_success.is_some());
    assert_eq!(after_success.last_error, None);

    // An older index of the same authority, replayed: refused.
    server.answer(200, older);
    let (result, installed) = round(&fetcher);
    assert!(
        matches!(result, Err(IndexFetchError::Older { .. })),
        "{result:?}"
    );
    assert!(installed.is_none());

    // Unsigned: plain LDIF is refused however valid.
    server.answer(200, LDIF.to_vec());
    let (result, installed) = round(&fetcher);
    assert!(
        matches!(result, Err(IndexFetchError::Unsigned(_))),
        "{result:?}"
    );
    assert!(installed.is_none());

    // Signed by a certificate of another CA.
    let stranger_ca = certs::dev_ca("Altro", 2048).unwrap();
    let stranger = certs::signing_certificate(&stranger_ca, "indice.test", "Indice", 2048).unwrap();
    server.answer(200, signed(LDIF, &stranger));
    let (result, installed) = round(&fetcher);
    assert!(
        matches!(result, Err(IndexFetchError::Refused { .. })),
        "{result:?}"
    );
    assert!(installed.is_none());

    // Self-signed by a certificate that copies the right CA's name.
    let impostor = certs::dev_ca("Indice", 2048).unwrap();
    server.answer(200, signed(LDIF, &impostor));
    assert!(matches!(
        round(&fetcher).0,
        Err(IndexFetchError::Refused { .. })
    ));

    // The right signer, one content byte changed after signing.
    let mut tampered = good.clone();
    let at = tampered
        .windows(11)
        .position(|w| w == b"mailReceipt")
        .unwrap();
    tampered[at] ^= 0x01;
    server.answer(200, tampered);
    assert!(matches!(
        round(&fetcher).0,
        Err(IndexFetchError::Refused { .. })
    ));

    // A truncated download.
    server.answer(200, good[..good.len() / 2].to_vec());
    assert!(matches!(
        round(&fetcher).0,
        Err(IndexFetchError::Refused { .. })
    ));

    server.answer(404, b"not here".to_vec());
    let (result, _) = round(&fetcher);
    assert!(
        matches!(result, Err(IndexFetchError::Status { status: 404, .. })),
        "{result:?}"
    );

    // Through all of it the good index stayed on disk, and the status says why.
    assert_eq!(std::fs::read(&setup.config.ldif).unwrap(), good);
    let now = status.get();
    assert_eq!(now.last_success, after_success.last_success);
    assert!(now.last_error.unwrap().contains("404"));
    assert!(now.last_attempt > after_success.last_attempt);
}

#[test]
fn a_server_that_is_down_or_untrusted_keeps_the_current_index() {
    let setup = setup();
    let status = IndexStatusCell::default();
    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = fetcher(
        &setup.config,
        &format!("https://127.0.0.1:{port}/index.p7m"),
        &status,
    );
    let (result, installed) = round(&down);
    assert!(
        matches!(result, Err(IndexFetchError::Http { .. })),
        "{result:?}"
    );
    assert!(installed.is_none());
    assert_eq!(
        std::fs::read(&setup.config.ldif).unwrap(),
        b"the current index"
    );
    assert!(status.get().last_error.is_some());

    // A server whose TLS certificate chains to a CA not in tls_roots: never trusted,
    // however good the index it serves.
    let other_tls_ca = certs::dev_ca("Altro server", 2048).unwrap();
    let other_tls = certs::tls_certificate(&other_tls_ca, &["127.0.0.1"], 2048).unwrap();
    let server = Server::start(&other_tls);
    let signer =
        certs::signing_certificate(&setup.index_ca, "indice.test", "Indice", 2048).unwrap();
    server.answer(200, signed(LDIF, &signer));
    let untrusted = fetcher(&setup.config, &server.url(), &status);
    assert!(matches!(
        round(&untrusted).0,
        Err(IndexFetchError::Http { .. })
    ));
    assert_eq!(
        std::fs::read(&setup.config.ldif).unwrap(),
        b"the current index"
    );
}

#[test]
fn without_a_url_there_is_no_fetcher_and_a_bad_signer_ca_is_an_error() {
    let setup = setup();
    let status = IndexStatusCell::default();
    assert!(
        IndexFetcher::from_config(&setup.config, status.clone())
            .unwrap()
            .is_none()
    );
    let broken = IndexConfig {
        url: "https://127.0.0.1:1/index.p7m".into(),
        signer_ca: Some(setup.config.ldif.clone()),
        ..setup.config.clone()
    };
    assert!(matches!(
        IndexFetcher::from_config(&broken, status),
        Err(IndexFetchError::Config(_))
    ));
}
