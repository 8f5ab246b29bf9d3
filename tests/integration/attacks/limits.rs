//! Attacks on the daemon's resources by peers that never authenticate, and by a
//! logged-in user's LIST pattern: each is performed against a live `pecd serve` and
//! must fail. Memory is read as the daemon's resident set (VmRSS, VmHWM in /proc),
//! never inferred from durations.

use std::io::BufRead;
use std::io::BufReader;
use std::io::Read;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::daemon;
use crate::daemon::Daemon;
use crate::support;

/// MiB, in KiB as /proc reports memory.
const MIB: u64 = 1024;

/// Provider A of a fresh pair, with `tweak` in its configuration and one mailbox.
fn provider(tmp: &Path, tweak: &str) -> Daemon {
    let (a, _b, base_a, _base_b) = daemon::pair(tmp, tweak);
    daemon::add_mailbox(&a, "alice@pec-a.test");
    daemon::start(&a, base_a)
}

/// A field of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The resident set now, after resetting the peak (VmHWM) to it where the kernel
/// lets us; the peak read later is then the peak since this call.
fn rss_mark(pid: u32) -> u64 {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    status_kib(pid, "VmRSS:")
}

/// How far the resident set rose above `mark`, at its peak: an upper bound on the
/// growth (the peak may predate the mark when the reset was not allowed).
fn peak_growth(pid: u32, mark: u64) -> u64 {
    status_kib(pid, "VmHWM:").saturating_sub(mark)
}

/// A plaintext line-oriented client.
struct Wire {
    reader: BufReader<TcpStream>,
}

impl Wire {
    fn connect(port: u16) -> Wire {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Wire {
            reader: BufReader::new(stream),
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).unwrap();
    }

    /// Sends `line`, then reads a whole SMTP reply (multi-line ones included).
    fn smtp(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.smtp_reply()
    }

    fn smtp_reply(&mut self) -> String {
        loop {
            let line = self.line();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    /// Writes `total` bytes of `x` in chunks; how many went out before the server
    /// closed the connection.
    fn stream_junk(&mut self, total: usize) -> usize {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            match self.reader.get_mut().write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        sent
    }

    /// Whether the server has closed the connection (EOF or reset), reading what is
    /// left.
    fn closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn big_literals_before_login_are_refused_and_never_buffered() {
    const ATTACK: usize = 20 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(tmp.path(), "");
    let imap = a.port_base + 3;
    let mark = rss_mark(a.pid());

    // A synchronizing literal: refused without the go-ahead, and what is streamed
    // anyway is dropped with the connection.
    let mut client = Wire::connect(imap);
    assert!(client.line().starts_with("* OK"));
    client.send("a LOGIN {104857600}\r\n");
    let answer = client.line();
    assert!(answer.starts_with("a NO [TOOBIG]"), "{answer}");
    let sent = client.stream_junk(ATTACK);
    assert!(sent < ATTACK, "the server read all {sent} bytes");
    assert!(client.closed_by_server());

    // A non-synchronizing literal (LITERAL+): the client sends it unasked, so the
    // server hangs up at once.
    let mut client = Wire::connect(imap);
    client.line();
    client.send("b LOGIN {104857600+}\r\n");
    let answer = client.line();
    assert!(answer.starts_with("* BYE"), "{answer}");
    assert!(client.stream_junk(ATTACK) < ATTACK);

    // Whatever the command, and with no literal at all: a line that never ends.
    let mut client = Wire::connect(imap);
    client.line();
    client.send("c AUTHENTICATE PLAIN {104857600}\r\n");
    let answer = client.line();
    assert!(answer.starts_with("c NO [TOOBIG]"), "{answer}");
    client.send("d LOGIN alice@pec-a.test ");
    assert!(client.stream_junk(ATTACK) < ATTACK);
    assert!(client.closed_by_server());

    let growth = peak_growth(a.pid(), mark);
    println!("RSS peak growth during three 20 MiB pre-login attacks: {growth} KiB");
    assert!(growth < 8 * MIB, "the daemon grew by {growth} KiB");
}

/// An MX session up to the 354 of DATA, from an ordinary (non-PEC) sender.
fn mx_data(port: u16) -> Wire {
    let mut client = Wire::connect(port);
    assert!(client.line().starts_with("220"));
    assert!(client.smtp("EHLO attacker.test").starts_with("250"));
    assert!(
        client
            .smtp("MAIL FROM:<x@attacker.test>")
            .starts_with("250")
    );
    assert!(client.smtp("RCPT TO:<alice@pec-a.test>").starts_with("250"));
    assert!(client.smtp("DATA").starts_with("354"));
    client
}

#[test]
fn parallel_mx_bodies_stay_within_the_in_flight_budget() {
    const SESSIONS: usize = 8;
    const BODY: usize = 6 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(tmp.path(), "[limits]\nmx_in_flight_bytes = 4194304\n");
    let mx = a.port_base + 2;
    let mark = rss_mark(a.pid());

    // 48 MiB at once against a 4 MiB budget: no body fits, every one is refused.
    let senders: Vec<_> = (0..SESSIONS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = mx_data(mx);
                let line = format!("{}\r\n", "y".repeat(1022));
                let body = line.repeat(BODY / line.len());
                client.send(&format!("Subject: flood\r\n\r\n{body}.\r\n"));
                client.smtp_reply()
            })
        })
        .collect();
    let replies: Vec<String> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    let growth = peak_growth(a.pid(), mark);
    println!("RSS peak growth under {SESSIONS} x 6 MiB MX bodies, 4 MiB budget: {growth} KiB");
    for reply in &replies {
        assert!(reply.starts_with("452 4.3.1"), "{reply}");
    }
    assert!(growth < 20 * MIB, "the daemon grew by {growth} KiB");

    // The refused bodies gave their room back: a small message goes through.
    let mut client = mx_data(mx);
    client.send("Subject: small\r\n\r\nhello\r\n.\r\n");
    let reply = client.smtp_reply();
    assert!(reply.starts_with("250"), "{reply}");
}

#[test]
fn trickled_data_and_noop_loops_are_cut_by_their_deadlines() {
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(
        tmp.path(),
        "[limits]\ndata_timeout_secs = 2\nunauthenticated_timeout_secs = 2\nmx_transaction_timeout_secs = 2\n",
    );

    // One byte of body every 200 ms: each read is quick, the whole DATA is not.
    let mut client = mx_data(a.port_base + 2);
    client
        .reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut answer = String::new();
    for sent in 0.. {
        assert!(sent < 100, "still reading after {sent} trickled bytes");
        if client.reader.get_mut().write_all(b"z").is_err() {
            break;
        }
        match client.reader.read_line(&mut answer) {
            Ok(_) => break,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
            Err(error) => panic!("{error}"),
        }
    }
    assert!(answer.starts_with("421 4.4.2"), "{answer:?}");

    // NOOP every 100 ms keeps no anonymous session alive: submission, MX, IMAP.
    for port in [a.port_base, a.port_base + 2] {
        let mut client = Wire::connect(port);
        assert!(client.line().starts_with("220"));
        client.smtp("EHLO client.test");
        let mut noops = 0;
        let last = loop {
            let reply = client.smtp("NOOP");
            if !reply.starts_with("250") {
                break reply;
            }
            noops += 1;
            assert!(noops < 300, "port {port} still open after {noops} NOOPs");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(last.starts_with("421 4.4.2"), "port {port}: {last}");
        assert!(client.closed_by_server());
    }
    let mut client = Wire::connect(a.port_base + 3);
    assert!(client.line().starts_with("* OK"));
    let mut noops = 0;
    let last = loop {
        client.send(&format!("n{noops} NOOP\r\n"));
        let reply = client.line();
        if !reply.starts_with(&format!("n{noops} OK")) {
            break reply;
        }
        noops += 1;
        assert!(noops < 300, "IMAP still open after {noops} NOOPs");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(last.starts_with("* BYE"), "{last}");
    assert!(client.closed_by_server());
}

#[test]
fn one_address_cannot_take_more_than_its_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(tmp.path(), "[limits]\nconnections_per_ip = 3\n");
    for (port, greeting, refusal) in [
        (a.port_base + 3, "* OK", "* BYE too many connections"),
        (a.port_base + 2, "220", "421 4.7.0 Too many connections"),
        (a.port_base, "220", "421 4.7.0 Too many connections"),
    ] {
        let mut held: Vec<Wire> = (0..3)
            .map(|_| {
                let mut client = Wire::connect(port);
                let line = client.line();
                assert!(line.starts_with(greeting), "port {port}: {line}");
                client
            })
            .collect();
        let mut extra = Wire::connect(port);
        let line = extra.line();
        assert!(line.starts_with(refusal), "port {port}: {line}");
        assert!(extra.closed_by_server());
        // Closing one frees its slot (once the server has seen the close).
        drop(held.pop());
        let mut admitted = false;
        for _ in 0..100 {
            let mut again = Wire::connect(port);
            if again.line().starts_with(greeting) {
                admitted = true;
                held.push(again);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(admitted, "port {port}: no slot came free");
    }
}

/// One HTTP request on a fresh connection to the admin API: its status line, or
/// `None` when the server closed the connection without answering.
fn admin_answer(port: u16) -> (Option<String>, std::net::TcpStream) {
    use std::io::Read;
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = "GET /v1/health HTTP/1.1\r\nHost: admin\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return (None, stream);
    }
    let mut answer = [0u8; 64];
    match stream.read(&mut answer) {
        Ok(read) if read > 0 => {
            let text = String::from_utf8_lossy(&answer[..read]).into_owned();
            (text.lines().next().map(str::to_string), stream)
        }
        _ => (None, stream),
    }
}

#[test]
fn one_address_cannot_take_every_admin_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(tmp.path(), "[limits]\nconnections_per_ip = 3\n");
    let admin = a.port_base + 5;
    let mut held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| {
            let (status, stream) = admin_answer(admin);
            assert_eq!(status.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
            stream
        })
        .collect();
    assert_eq!(
        admin_answer(admin).0,
        None,
        "a fourth connection is not served"
    );
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        if let (Some(_), stream) = admin_answer(admin) {
            served = true;
            held.push(stream);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served, "no admin slot came free");
}

#[test]
fn adversarial_list_patterns_answer_correctly() {
    let tmp = tempfile::tempdir().unwrap();
    let a = provider(tmp.path(), "");
    let script = r#"
import imaplib, ssl, sys
port, cafile, user, password = sys.argv[1:5]
context = ssl.create_default_context(cafile=cafile)
with imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=context, timeout=120) as imap:
    imap.login(user, password)
    long = "a" * 200
    for name in [long, long[:-1] + "b", "x/" + long[:-1] + "b"]:
        assert imap.create(name)[0] == "OK", name
    for pattern in ["*a" * 30 + "*b", "%a" * 30 + "%b", "*a" * 30 + "*c"]:
        status, lines = imap.list('""', pattern)
        assert status == "OK", (pattern, status)
        names = sorted(line.decode().rsplit(" ", 1)[1].strip('"')[-4:] for line in lines if line)
        print(pattern[:2], len(names), names)
"#;
    let out = support::run(
        "python3",
        &[
            "-c",
            script,
            &(a.port_base + 4).to_string(),
            &a.ca().to_string_lossy(),
            "alice@pec-a.test",
            daemon::PASSWORD,
        ],
        "python3",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `*` crosses the hierarchy delimiter, `%` does not, and nothing ends in `c`.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["*a 2 ['aaab', 'aaab']", "%a 1 ['aaab']", "*a 0 []",]
    );
}
