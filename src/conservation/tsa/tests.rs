//! The built-in TSA against the checker, and the HTTP client against a one-shot TSA on
//! loopback that answers in each HTTP framing.

use std::io::Read;
use std::io::Write;
use std::net::TcpListener;

use jiff::Timestamp;

use super::*;

#[test]
fn built_in_tsa_stamps_and_verifies() {
    let tsa = Tsa::create(None).unwrap();
    let cert = tsa.certificate().clone();
    let source = TimeSource::Builtin(tsa);
    let response = source.stamp(b"hello", Timestamp::now()).unwrap();
    let stamped = verify(&response, b"hello", &cert, std::slice::from_ref(&cert)).unwrap();
    assert!(stamped.time.ends_with('Z'));
    assert!(matches!(
        verify(&response, b"other", &cert, &[]),
        Err(TsaError::OtherData)
    ));
    let other = Tsa::create(None).unwrap();
    assert!(matches!(
        verify(&response, b"hello", other.certificate(), &[]),
        Err(TsaError::Signature(_))
    ));
    assert!(matches!(
        verify(
            &response,
            b"hello",
            &cert,
            std::slice::from_ref(other.certificate())
        ),
        Err(TsaError::Chain(_))
    ));
}

#[test]
fn garbage_requests_are_rejected_not_panicked() {
    let tsa = Tsa::create(None).unwrap();
    let reply = tsa.respond(b"\x30\x03\x02\x01", Timestamp::now()).unwrap();
    assert_eq!(reply, vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]);
    assert!(matches!(
        verify(&reply, b"x", tsa.certificate(), &[]),
        Err(TsaError::NotGranted(_))
    ));
}

#[test]
fn requests_round_trip_and_echo_the_nonce() {
    let request = request(b"x", 0x8000_0000_0000_0001 >> 1).unwrap();
    let asked = parse_request(&request).unwrap();
    assert_eq!(
        asked.imprint.hashed_message.as_bytes(),
        openssl::sha::sha256(b"x")
    );
    assert_eq!(
        asked.nonce.unwrap().as_bytes(),
        &0x4000_0000_0000_0000u64.to_be_bytes()
    );
}

/// How the one-shot TSA frames its answer.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`, in chunks of this many bytes.
    Chunked(usize),
    /// `Content-Length` and this many bytes of padding after the response.
    Oversized(usize),
}

/// Reads one HTTP request and returns its body.
fn read_request(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        request.extend_from_slice(&buffer[..n]);
        let Some(end) = memchr::memmem::find(&request, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
        assert!(head.contains("content-type: application/timestamp-query"));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if request.len() >= end + 4 + length {
            return request[end + 4..end + 4 + length].to_vec();
        }
    }
}

fn write_reply(stream: &mut std::net::TcpStream, reply: &[u8], framing: Framing) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n";
    match framing {
        Framing::Length | Framing::Oversized(_) => {
            let padding = match framing {
                Framing::Oversized(extra) => vec![0u8; extra],
                _ => Vec::new(),
            };
            let length = reply.len() + padding.len();
            write!(stream, "{head}Content-Length: {length}\r\n\r\n").unwrap();
            stream.write_all(reply).unwrap();
            // The client may stop reading once over its limit.
            let _ = stream.write_all(&padding);
        }
        Framing::Chunked(size) => {
            write!(stream, "{head}Transfer-Encoding: chunked\r\n\r\n").unwrap();
            for chunk in reply.chunks(size) {
                write!(stream, "{:x}\r\n", chunk.len()).unwrap();
                stream.write_all(chunk).unwrap();
                stream.write_all(b"\r\n").unwrap();
            }
            stream.write_all(b"0\r\n\r\n").unwrap();
        }
    }
}

/// A one-shot HTTP TSA on `listener` answering with the built-in authority.
fn serve_once(listener: TcpListener, tsa: Tsa, framing: Framing) -> String {
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let body = read_request(&mut stream);
        let reply = tsa.respond(&body, Timestamp::now()).unwrap();
        write_reply(&mut stream, &reply, framing);
    });
    format!("http://{address}/tsa")
}

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

#[test]
fn a_remote_tsa_is_asked_over_http() {
    let tsa = Tsa::create(None).unwrap();
    let cert = tsa.certificate().clone();
    let source = TimeSource::Remote(serve_once(loopback(), tsa, Framing::Length));
    let response = source.stamp(b"indice", Timestamp::now()).unwrap();
    verify(&response, b"indice", &cert, std::slice::from_ref(&cert)).unwrap();
    let nowhere = TimeSource::Remote("http://127.0.0.1:9/".into());
    assert!(nowhere.stamp(b"x", Timestamp::now()).is_err());
    assert!(
        TimeSource::Remote("ftp://tsa.example/".into())
            .stamp(b"x", Timestamp::now())
            .is_err()
    );
}

#[test]
fn a_chunked_answer_is_read_whole() {
    let tsa = Tsa::create(None).unwrap();
    let cert = tsa.certificate().clone();
    let source = TimeSource::Remote(serve_once(loopback(), tsa, Framing::Chunked(100)));
    let response = source.stamp(b"indice", Timestamp::now()).unwrap();
    verify(&response, b"indice", &cert, std::slice::from_ref(&cert)).unwrap();
}

#[test]
fn an_ipv6_literal_is_a_host() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    };
    let tsa = Tsa::create(None).unwrap();
    let cert = tsa.certificate().clone();
    let url = serve_once(listener, tsa, Framing::Length);
    assert!(url.starts_with("http://[::1]:"), "{url}");
    let response = TimeSource::Remote(url)
        .stamp(b"indice", Timestamp::now())
        .unwrap();
    verify(&response, b"indice", &cert, std::slice::from_ref(&cert)).unwrap();
}

#[test]
fn an_answer_over_the_limit_is_refused() {
    let tsa = Tsa::create(None).unwrap();
    let url = serve_once(loopback(), tsa, Framing::Oversized(64 * 1024));
    let request = request(b"x", 1).unwrap();
    let refused = client::post(&url, &request, 32 * 1024);
    assert!(
        matches!(&refused, Err(TsaError::Http { source, .. })
            if matches!(**source, ureq::Error::BodyExceedsLimit(_))),
        "{refused:?}"
    );
}

#[test]
fn other_statuses_are_named() {
    let listener = loopback();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream);
        stream
            .write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let url = format!("http://{address}/tsa");
    let refused = client::post(&url, &request(b"x", 1).unwrap(), 1024);
    assert!(
        matches!(refused, Err(TsaError::Status { status: 503, .. })),
        "{refused:?}"
    );
}

#[test]
fn the_dev_policy_keeps_its_encoding() {
    // 2.25.2026112201: its last arc needs five base-128 bytes.
    assert_eq!(DEV_POLICY.as_bytes(), [0x69, 0x87, 0xc6, 0x90, 0x89, 0x49]);
}

#[test]
fn an_openssl_tsa_with_fractions_of_a_second_verifies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tsa");
    let response = std::fs::read(dir.join("openssl-fraction.tsr")).unwrap();
    let cert = X509::from_pem(&std::fs::read(dir.join("openssl-fraction.pem")).unwrap()).unwrap();
    let stamped = verify(&response, b"indice", &cert, std::slice::from_ref(&cert)).unwrap();
    assert_eq!(stamped.time, "20261207011239.898Z");
}
