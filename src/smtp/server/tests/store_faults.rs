//! A store that cannot answer: the client is told to try again later, and nothing is
//! held against it.

use std::sync::atomic::Ordering;

use super::*;

/// A password the store cannot check gets `454 4.7.0` (RFC 4954 §6), not `535`, and
/// does not count as a failure: after more such attempts than the lock allows, the
/// right password still logs in once the store is back.
#[tokio::test]
async fn a_login_the_store_cannot_check_is_a_temporary_failure_counted_as_nothing() {
    let backend = FakeBackend::default();
    backend.store_down.store(true, Ordering::SeqCst);
    let mut endpoint = endpoint(Mode::Submission, true, backend.clone());
    endpoint.throttle = AuthThrottle::new(ThrottlePolicy {
        delay_after_failures: 10,
        lock_after_failures: 2,
        ..ThrottlePolicy::default()
    });
    let server = TestServer::start(endpoint, 4).await;
    let login = |plain: &'static str, expected: &'static str| {
        let address = server.address;
        async move {
            let tcp = TcpStream::connect(address).await.unwrap();
            let mut client = Wire::new(tls_connect(tcp).await);
            client.expect("220 ").await;
            client.cmd("EHLO client.test", "250-").await;
            client.cmd(&format!("AUTH PLAIN {plain}"), expected).await;
        }
    };
    for plain in [PLAIN_WRONG, PLAIN_OK, PLAIN_WRONG] {
        login(plain, "454 4.7.0").await;
    }
    backend.store_down.store(false, Ordering::SeqCst);
    login(PLAIN_OK, "235").await;
    server.stop().await;
}
