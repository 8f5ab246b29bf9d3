//! Transcript tests: `C:` lines are what the client sends, `S:` lines what the session
//! answers, `--` lines what the test driver did (TLS, close). Consecutive `C:` lines
//! reach the session in one read, as a pipelining client sends them.

use super::*;
use crate::smtp::data::DataDecoder;
use crate::store::mailbox::Credential;

mod auth;

const PEER: IpAddr = IpAddr::V4(core::net::Ipv4Addr::LOCALHOST);
/// base64("\0alice@pec-a.test\0secret")
const PLAIN_OK: &str = "AGFsaWNlQHBlYy1hLnRlc3QAc2VjcmV0";
/// base64("\0alice@pec-a.test\0wrong")
const PLAIN_WRONG: &str = "AGFsaWNlQHBlYy1hLnRlc3QAd3Jvbmc=";

fn config(mode: Mode) -> SessionConfig {
    SessionConfig {
        mode,
        hostname: "pec-a.test".into(),
        max_message_bytes: 200,
        max_recipients: 3,
        max_auth_failures: 3,
        tls_available: true,
        implicit_tls: false,
    }
}

/// A synchronous stand-in for the async driver and the backend.
struct Harness {
    session: Session,
    actual: Vec<String>,
    submitted: Vec<Envelope>,
    reading: Option<DataDecoder>,
    closed: bool,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        let session = Session::new(config, PEER);
        let mut harness = Harness {
            actual: Vec::new(),
            submitted: Vec::new(),
            reading: None,
            closed: false,
            session,
        };
        let greeting = harness.session.greeting();
        harness.emit(&greeting);
        harness
    }

    fn emit(&mut self, reply: &Reply) {
        let wire = String::from_utf8(reply.to_bytes()).unwrap();
        for line in wire.split_terminator("\r\n") {
            self.actual.push(format!("S: {line}").trim_end().to_owned());
        }
    }

    /// Feeds one read's worth of bytes, like the driver does.
    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() && !self.closed {
            if let Some(decoder) = &mut self.reading {
                let (used, body) = decoder.feed(input);
                input = &input[used..];
                if let Some(body) = body {
                    self.reading = None;
                    let step = self.session.on_data(body);
                    self.step(step, &mut input);
                }
                continue;
            }
            let end = memchr::memchr(b'\n', input).map_or(input.len(), |i| i + 1);
            let (line, rest) = input.split_at(end);
            input = rest;
            let step = if line.len() > MAX_LINE {
                self.session.on_line_too_long()
            } else {
                self.session.on_line(line)
            };
            self.step(step, &mut input);
        }
    }

    fn step(&mut self, step: Step, input: &mut &[u8]) {
        let next = match step {
            Step::Reply(reply) => {
                self.emit(&reply);
                return;
            }
            Step::StartTls(reply) => {
                self.emit(&reply);
                // What the driver must do: forget plaintext buffered after STARTTLS.
                *input = &[];
                self.actual.push("-- TLS --".into());
                self.session.on_tls_established();
                return;
            }
            Step::ReadData { reply, max_bytes } => {
                self.emit(&reply);
                self.reading = Some(DataDecoder::new(max_bytes));
                return;
            }
            Step::Close(reply) => {
                self.emit(&reply);
                self.actual.push("-- closed --".into());
                self.closed = true;
                return;
            }
            Step::Authenticate { user, password } => {
                let right = user == "alice@pec-a.test" && password.expose() == "secret";
                let outcome = if right {
                    AuthOutcome::Accepted(Credential::of("alice"))
                } else {
                    AuthOutcome::Rejected
                };
                self.session.on_auth_result(outcome)
            }
            Step::CheckRecipient { rcpt, .. } => {
                let verdict = if rcpt.starts_with("unknown@") {
                    Err(Reply::new(550, (5, 1, 1), "No such user"))
                } else {
                    Ok(())
                };
                self.session.on_recipient_checked(verdict)
            }
            Step::Submit(envelope) => {
                // A backend that finds the login gone answers 421.
                let reply = if envelope.data.starts_with(b"Subject: after the revocation") {
                    Reply::new(421, (4, 7, 0), "Credentials changed or revoked")
                } else {
                    Reply::new(250, (2, 0, 0), "Queued")
                };
                self.submitted.push(envelope);
                self.session.on_submitted(reply)
            }
        };
        self.step(next, input);
    }
}

/// Runs `script` and compares the whole dialogue.
fn transcript(config: SessionConfig, script: &str) -> Harness {
    let mut harness = Harness::new(config);
    let mut expected = Vec::new();
    let mut pending = Vec::<u8>::new();
    let lines: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for (index, line) in lines.iter().enumerate() {
        expected.push(line.to_string());
        if let Some(sent) = line.strip_prefix("C:") {
            let sent = sent.strip_prefix(' ').unwrap_or(sent);
            harness
                .actual
                .push(format!("C: {sent}").trim_end().to_owned());
            pending.extend_from_slice(sent.as_bytes());
            pending.extend_from_slice(b"\r\n");
            let next_is_client = lines.get(index + 1).is_some_and(|l| l.starts_with("C:"));
            if !next_is_client {
                harness.feed(&std::mem::take(&mut pending));
            }
        }
    }
    assert_eq!(harness.actual.join("\n"), expected.join("\n"));
    harness
}

const EHLO_PLAIN: &str = "
    S: 250-pec-a.test
    S: 250-PIPELINING
    S: 250-SIZE 200
    S: 250-8BITMIME
    S: 250-ENHANCEDSTATUSCODES
    S: 250 STARTTLS";

const EHLO_TLS_SUBMISSION: &str = "
    S: 250-pec-a.test
    S: 250-PIPELINING
    S: 250-SIZE 200
    S: 250-8BITMIME
    S: 250-ENHANCEDSTATUSCODES
    S: 250 AUTH PLAIN LOGIN";

/// Greeting, EHLO, STARTTLS, EHLO again: a submission client ready to AUTH.
fn tls_prelude() -> String {
    format!(
        "S: 220 pec-a.test ESMTP ready
         C: EHLO client.test
         {EHLO_PLAIN}
         C: STARTTLS
         S: 220 2.0.0 Ready to start TLS
         -- TLS --
         C: EHLO client.test
         {EHLO_TLS_SUBMISSION}"
    )
}

/// The backend's 421 (the login no longer stands) ends the connection: nothing more
/// is taken on it.
#[test]
fn a_421_from_the_backend_closes_the_connection() {
    transcript(
        config(Mode::Submission),
        &format!(
            "{}
            C: AUTH PLAIN {PLAIN_OK}
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<alice@pec-a.test>
            S: 250 2.1.0 Sender OK
            C: RCPT TO:<bob@pec-b.test>
            S: 250 2.1.5 Recipient OK
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: Subject: after the revocation
            C:
            C: x
            C: .
            S: 421 4.7.0 Credentials changed or revoked
            -- closed --",
            tls_prelude()
        ),
    );
}

#[test]
fn full_submission() {
    let harness = transcript(
        config(Mode::Submission),
        &format!(
            "{}
            C: AUTH PLAIN {PLAIN_OK}
            S: 235 2.7.0 Authentication successful
            C: MAIL FROM:<alice@pec-a.test> SIZE=100
            S: 250 2.1.0 Sender OK
            C: RCPT TO:<bob@pec-b.test>
            S: 250 2.1.5 Recipient OK
            C: RCPT TO:<unknown@pec-b.test>
            S: 550 5.1.1 No such user
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: Subject: test
            C:
            C: ..a stuffed line
            C: .
            S: 250 2.0.0 Queued
            C: QUIT
            S: 221 2.0.0 Bye
            -- closed --",
            tls_prelude()
        ),
    );
    let [envelope] = harness.submitted.as_slice() else {
        panic!("{:?}", harness.submitted);
    };
    assert_eq!(envelope.mail_from, "alice@pec-a.test");
    assert_eq!(envelope.rcpt_to, ["bob@pec-b.test"]);
    assert_eq!(envelope.data, b"Subject: test\r\n\r\n.a stuffed line\r\n");
    assert_eq!(envelope.user(), Some("alice@pec-a.test"));
    assert_eq!(envelope.helo, "client.test");
    assert!(envelope.tls);
    assert_eq!(envelope.peer, PEER);
}

#[test]
fn starttls_forgets_everything_said_before_and_buffered_after() {
    transcript(
        config(Mode::Submission),
        &format!(
            "S: 220 pec-a.test ESMTP ready
            C: EHLO client.test
            {EHLO_PLAIN}
            C: STARTTLS
            C: MAIL FROM:<injected@evil.test>
            S: 220 2.0.0 Ready to start TLS
            -- TLS --
            C: MAIL FROM:<alice@pec-a.test>
            S: 503 5.5.1 Bad sequence of commands
            C: STARTTLS
            S: 503 5.5.1 Bad sequence of commands
            C: EHLO client.test
            {EHLO_TLS_SUBMISSION}"
        ),
    );
}

#[test]
fn commands_out_of_sequence() {
    transcript(
        config(Mode::Mx),
        "S: 220 pec-a.test ESMTP ready
        C: MAIL FROM:<a@pec-b.test>
        S: 503 5.5.1 Bad sequence of commands
        C: HELO relay.pec-b.test
        S: 250 pec-a.test
        C: RCPT TO:<bob@pec-a.test>
        S: 503 5.5.1 Bad sequence of commands
        C: DATA
        S: 503 5.5.1 Bad sequence of commands
        C: MAIL FROM:<a@pec-b.test>
        S: 250 2.1.0 Sender OK
        C: MAIL FROM:<a@pec-b.test>
        S: 503 5.5.1 Bad sequence of commands
        C: DATA
        S: 554 5.5.1 No valid recipients
        C: RSET
        S: 250 2.0.0 OK
        C: RCPT TO:<bob@pec-a.test>
        S: 503 5.5.1 Bad sequence of commands",
    );
}

#[test]
fn the_driver_calling_back_unasked_is_refused() {
    let mut session = Session::new(config(Mode::Mx), PEER);
    assert_eq!(
        session.on_data(Body::Complete(b"x\r\n".to_vec())),
        Step::Reply(Reply::BAD_SEQUENCE)
    );
    assert_eq!(
        session.on_submitted(Reply::OK),
        Step::Reply(Reply::BAD_SEQUENCE)
    );
    assert_eq!(
        session.on_auth_result(AuthOutcome::Accepted(Credential::of("alice"))),
        Step::Reply(Reply::BAD_SEQUENCE)
    );
    assert_eq!(
        session.on_recipient_checked(Ok(())),
        Step::Reply(Reply::BAD_SEQUENCE)
    );
    // The session is still usable.
    assert!(matches!(session.on_line(b"EHLO x.test\r\n"), Step::Reply(r) if r.code() == 250));
}

#[test]
fn limits_on_recipients_and_size() {
    let harness = transcript(
        config(Mode::Mx),
        &format!(
            "S: 220 pec-a.test ESMTP ready
            C: EHLO relay.pec-b.test
            {EHLO_PLAIN}
            C: MAIL FROM:<a@pec-b.test> SIZE=201
            S: 552 5.3.4 Message size exceeds fixed maximum message size
            C: MAIL FROM:<a@pec-b.test> SIZE=200
            S: 250 2.1.0 Sender OK
            C: RCPT TO:<r1@pec-a.test>
            S: 250 2.1.5 Recipient OK
            C: RCPT TO:<r1@pec-a.test>
            S: 250 2.1.5 Recipient OK
            C: RCPT TO:<r2@pec-a.test>
            S: 250 2.1.5 Recipient OK
            C: RCPT TO:<r3@pec-a.test>
            S: 250 2.1.5 Recipient OK
            C: RCPT TO:<r4@pec-a.test>
            S: 452 4.5.3 Too many recipients
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: {long}
            C: {long}
            C: .
            S: 552 5.3.4 Message size exceeds fixed maximum message size
            C: DATA
            S: 503 5.5.1 Bad sequence of commands
            C: MAIL FROM:<a@pec-b.test>
            S: 250 2.1.0 Sender OK
            C: RCPT TO:<r1@pec-a.test>
            S: 250 2.1.5 Recipient OK
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: {long}
            C: .
            S: 250 2.0.0 Queued",
            long = "x".repeat(150)
        ),
    );
    assert_eq!(harness.submitted.len(), 1);
    assert_eq!(harness.submitted[0].rcpt_to, ["r1@pec-a.test"]);
    assert_eq!(harness.submitted[0].authenticated, None);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let harness = transcript(
        config(Mode::Mx),
        "S: 220 pec-a.test ESMTP ready
        C: EHLO relay.pec-b.test
        C: MAIL FROM:<a@pec-b.test>
        C: RCPT TO:<r1@pec-a.test>
        C: RCPT TO:<unknown@pec-a.test>
        C: RCPT TO:<r2@pec-a.test>
        C: DATA
        C: Subject: pipelined
        C:
        C: body
        C: .
        C: NOOP
        C: QUIT
        S: 250-pec-a.test
        S: 250-PIPELINING
        S: 250-SIZE 200
        S: 250-8BITMIME
        S: 250-ENHANCEDSTATUSCODES
        S: 250 STARTTLS
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 550 5.1.1 No such user
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        S: 250 2.0.0 Queued
        S: 250 2.0.0 OK
        S: 221 2.0.0 Bye
        -- closed --",
    );
    assert_eq!(
        harness.submitted[0].rcpt_to,
        ["r1@pec-a.test", "r2@pec-a.test"]
    );
    assert_eq!(
        harness.submitted[0].data,
        b"Subject: pipelined\r\n\r\nbody\r\n"
    );
    assert!(!harness.submitted[0].tls);
}

#[test]
fn garbage_overlong_lines_and_odd_commands() {
    transcript(
        config(Mode::Mx),
        &format!(
            "S: 220 pec-a.test ESMTP ready
            C: \0\0\0
            S: 500 5.5.2 Invalid characters in command
            C: GET / HTTP/1.1
            S: 500 5.5.1 Command unrecognized
            C: NOOP {long}
            S: 500 5.5.2 Line too long
            C: NOOP {exact}
            S: 250 2.0.0 OK
            C: EHLO client.test
            S: 250-pec-a.test
            S: 250-PIPELINING
            S: 250-SIZE 200
            S: 250-8BITMIME
            S: 250-ENHANCEDSTATUSCODES
            S: 250 STARTTLS
            C: VRFY bob
            S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
            C: EXPN staff
            S: 502 5.5.1 Command not implemented
            C: HELP
            S: 214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP
            C: MAIL FROM:<a@pec-b.test> RET=HDRS
            S: 555 5.5.4 Parameter not recognized or not implemented
            C: NOOP
            S: 250 2.0.0 OK",
            // 995 + "NOOP " = 1000 octets: one too many with CRLF.
            long = "a".repeat(995),
            exact = "a".repeat(993),
        ),
    );
}

#[test]
fn lines_beyond_the_driver_buffer_and_in_auth() {
    let mut session = Session::new(
        SessionConfig {
            implicit_tls: true,
            ..config(Mode::Submission)
        },
        PEER,
    );
    assert_eq!(
        session.on_line_too_long(),
        Step::Reply(Reply::LINE_TOO_LONG)
    );
    session.on_line(b"EHLO client.test\r\n");
    assert_eq!(
        session.on_line(b"AUTH PLAIN\r\n"),
        Step::Reply(Reply::plain(334, ""))
    );
    // A long SASL response is fine up to 12288 octets, then abandons the exchange.
    let mut long = vec![b'A'; MAX_AUTH_LINE + 1];
    long.extend_from_slice(b"\r\n");
    assert_eq!(session.on_line(&long), Step::Reply(Reply::LINE_TOO_LONG));
    assert_eq!(session.on_line(b"NOOP\r\n"), Step::Reply(Reply::OK));
}

#[test]
fn endless_garbage_ends_the_session() {
    let mut harness = Harness::new(config(Mode::Mx));
    harness.feed(&b"nonsense\r\n".repeat(MAX_BAD_COMMANDS as usize + 5));
    assert!(harness.closed);
    let last = &harness.actual[harness.actual.len() - 2..];
    assert_eq!(
        last,
        [
            "S: 421 4.7.0 Too many errors, closing connection",
            "-- closed --"
        ]
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let step = Step::Authenticate {
        user: "alice".into(),
        password: Secret::new("hunter2".into()),
    };
    let printed = format!("{step:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("alice"));
}
