//! Transcript tests of AUTH: mechanisms, continuations, failures and locks.

use super::*;

#[test]
fn auth_plain_with_continuation_and_a_wrong_password_first() {
    transcript(
        config(Mode::Submission),
        &format!(
            "{}
            C: AUTH PLAIN
            S: 334
            C: {PLAIN_WRONG}
            S: 535 5.7.8 Authentication credentials invalid
            C: MAIL FROM:<alice@pec-a.test>
            S: 530 5.7.0 Authentication required
            C: AUTH PLAIN
            S: 334
            C: {PLAIN_OK}
            S: 235 2.7.0 Authentication successful
            C: AUTH PLAIN {PLAIN_OK}
            S: 503 5.5.1 Bad sequence of commands",
            tls_prelude()
        ),
    );
}

#[test]
fn auth_login_and_cancel() {
    transcript(
        config(Mode::Submission),
        &format!(
            "{}
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: *
            S: 501 5.7.0 Authentication cancelled
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: not base64!
            S: 501 5.5.2 Invalid authentication response
            C: AUTH LOGIN YWxpY2VAcGVjLWEudGVzdA==
            S: 334 UGFzc3dvcmQ6
            C: d3Jvbmc=
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: YWxpY2VAcGVjLWEudGVzdA==
            S: 334 UGFzc3dvcmQ6
            C: c2VjcmV0
            S: 235 2.7.0 Authentication successful",
            tls_prelude()
        ),
    );
}

#[test]
fn auth_is_refused_before_tls_after_helo_and_on_mx() {
    transcript(
        config(Mode::Submission),
        &format!(
            "S: 220 pec-a.test ESMTP ready
            C: AUTH PLAIN {PLAIN_OK}
            S: 503 5.5.1 Bad sequence of commands
            C: EHLO client.test
            {EHLO_PLAIN}
            C: AUTH PLAIN {PLAIN_OK}
            S: 538 5.7.11 Encryption required for requested authentication mechanism
            C: AUTH CRAM-MD5
            S: 504 5.5.4 Unrecognized authentication type
            C: MAIL FROM:<alice@pec-a.test>
            S: 530 5.7.0 Authentication required
            C: STARTTLS
            S: 220 2.0.0 Ready to start TLS
            -- TLS --
            C: HELO client.test
            S: 250 pec-a.test
            C: AUTH PLAIN {PLAIN_OK}
            S: 503 5.5.1 Bad sequence of commands"
        ),
    );
    transcript(
        config(Mode::Mx),
        &format!(
            "S: 220 pec-a.test ESMTP ready
            C: EHLO relay.pec-b.test
            {EHLO_PLAIN}
            C: AUTH PLAIN {PLAIN_OK}
            S: 502 5.5.1 Command not implemented"
        ),
    );
}

#[test]
fn too_many_auth_failures_close_the_session() {
    let harness = transcript(
        config(Mode::Submission),
        &format!(
            "{}
            C: AUTH PLAIN {PLAIN_WRONG}
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH PLAIN Ym9iQHBlYy1hLnRlc3QAYWxpY2VAcGVjLWEudGVzdABzZWNyZXQ=
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH PLAIN {PLAIN_WRONG}
            S: 421 4.7.0 Too many authentication failures, try again later
            -- closed --",
            tls_prelude()
        ),
    );
    assert!(harness.session.is_closed());
}

#[test]
fn a_locked_address_is_closed_at_once() {
    let mut session = Session::new(
        SessionConfig {
            implicit_tls: true,
            ..config(Mode::Submission)
        },
        PEER,
    );
    session.on_line(b"EHLO client.test\r\n");
    let step = session.on_line(format!("AUTH PLAIN {PLAIN_OK}\r\n").as_bytes());
    assert!(matches!(step, Step::Authenticate { .. }), "{step:?}");
    assert_eq!(
        session.on_auth_result(AuthOutcome::Locked),
        Step::Close(Reply::TOO_MANY_AUTH_FAILURES)
    );
    assert!(session.is_closed());
}

#[test]
fn an_unchecked_attempt_gets_454_and_does_not_count() {
    let mut session = Session::new(
        SessionConfig {
            implicit_tls: true,
            max_auth_failures: 1,
            ..config(Mode::Submission)
        },
        PEER,
    );
    session.on_line(b"EHLO client.test\r\n");
    let step = session.on_line(format!("AUTH PLAIN {PLAIN_OK}\r\n").as_bytes());
    assert!(matches!(step, Step::Authenticate { .. }), "{step:?}");
    let step = session.on_auth_result(AuthOutcome::Unavailable);
    assert!(
        matches!(&step, Step::Reply(reply) if reply.code() == 454),
        "{step:?}"
    );
    // With one failure allowed, a counted failure would have closed the session.
    let step = session.on_line(format!("AUTH PLAIN {PLAIN_OK}\r\n").as_bytes());
    assert!(matches!(step, Step::Authenticate { .. }), "{step:?}");
    assert_eq!(
        session.on_auth_result(AuthOutcome::Accepted(Credential::of("alice"))),
        Step::Reply(Reply::AUTH_SUCCEEDED)
    );
}
