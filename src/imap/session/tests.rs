//! Transcript tests of the session machine: client lines in, server lines out, against
//! a real store in a temporary folder. The first is RFC 3501 §8's sample session.

use std::sync::Arc;

use jiff::Timestamp;

use crate::imap::exchange::Exchange;
use crate::imap::exchange::StorePasswords;
use crate::imap::provider_hooks::ProviderHooks;
use crate::imap::session::Session;
use crate::imap::session::SessionConfig;
use crate::imap::session::Transport;
use crate::store::Store;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::NewMailbox;

mod revoked;

const USER: &str = "mrc@pec.test";

pub(super) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .create(USER, "secret", &NewMailbox::default(), now())
        })
        .unwrap();
    (dir, store)
}

pub(super) fn now() -> Timestamp {
    "1996-07-17T09:44:25Z".parse().unwrap()
}

/// Delivers a message as the provider does (outside any session).
pub(super) fn deliver(store: &Store, raw: &[u8], flags: &[&str]) -> u32 {
    let blob = store.blobs().put(raw).unwrap();
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    let appended = store
        .write(|tx| {
            tx.mailboxes()
                .append(USER, INBOX, &blob, raw.len() as u64, &flags, now(), None)
        })
        .unwrap();
    match appended {
        crate::store::mailbox::Appended::Stored { uid } => uid,
        other => panic!("{other:?}"),
    }
}

pub(super) struct Client<'a> {
    store: &'a Store,
    exchange: Exchange,
}

impl<'a> Client<'a> {
    pub(super) fn new(store: &'a Store) -> Client<'a> {
        let config = SessionConfig {
            hostname: "pec.test".into(),
            starttls: false,
            max_append_bytes: 1 << 20,
        };
        let session = Session::new(config, Transport::Tls, Arc::new(ProviderHooks::default()));
        Client {
            store,
            exchange: Exchange::new(session, 1 << 20),
        }
    }

    /// One client line (CRLF added); everything the server answers.
    pub(super) fn c(&mut self, line: &str) -> String {
        let driven = self.exchange.drive(
            self.store,
            format!("{line}\r\n").as_bytes(),
            now(),
            &mut StorePasswords(self.store),
        );
        String::from_utf8_lossy(&driven.out).into_owned()
    }

    /// What the session reports between commands (NOTIFY), as the shell sends it.
    pub(super) fn notified(&mut self) -> String {
        let out = self
            .exchange
            .session()
            .notifications(self.store, now())
            .unwrap();
        out.iter()
            .flat_map(|o| o.encode())
            .map(char::from)
            .collect()
    }

    fn poll(&mut self) -> String {
        let out = self
            .exchange
            .session()
            .poll(self.store, Timestamp::now())
            .unwrap();
        out.iter()
            .flat_map(|o| o.encode())
            .map(char::from)
            .collect()
    }
}

const RFC_MESSAGE: &[u8] = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Minutes of the meeting.\r\n";

#[test]
fn rfc3501_section_8_sample_session() {
    let (_dir, store) = store();
    for n in 1..=18u32 {
        let raw = if n == 12 {
            RFC_MESSAGE.to_vec()
        } else {
            format!("Subject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
        };
        let seen: &[&str] = if n < 17 { &["\\Seen"] } else { &[] };
        deliver(&store, &raw, seen);
        if n == 16 {
            // A session saw 1–16 before: 17 and 18 are the recent ones.
            store
                .write(|tx| tx.folders().claim_recent(USER, INBOX, None))
                .unwrap();
        }
    }
    let mut client = Client::new(&store);
    assert!(
        client
            .c("a001 login mrc@pec.test secret")
            .contains("a001 OK")
    );
    let select = client.c("a002 select inbox");
    for expected in [
        "* 18 EXISTS\r\n",
        // The system flags, then the PEC keywords every folder announces.
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $PecAccettato ",
        "* 2 RECENT\r\n",
        "* OK [UNSEEN 17]",
        "* OK [UIDVALIDITY ",
        "a002 OK [READ-WRITE] SELECT completed\r\n",
    ] {
        assert!(select.contains(expected), "{expected:?} not in {select}");
    }
    let full = client.c("a003 fetch 12 full");
    assert!(
        full.starts_with("* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE 367 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\"))"),
        "{full}"
    );
    assert!(
        full.contains("((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\")"),
        "{full}"
    );
    // Media type and parameter names come out lower-cased (mail-parser folds them);
    // IMAP compares them case-insensitively.
    assert!(
        full.to_ascii_uppercase().contains("BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 25 1))\r\nA003 OK FETCH COMPLETED\r\n"),
        "{full}"
    );
    assert_eq!(RFC_MESSAGE.len(), 367);
    let header = client.c("a004 fetch 12 body[header]");
    let expected_header = &RFC_MESSAGE[..RFC_MESSAGE.len() - "Minutes of the meeting.\r\n".len()];
    assert!(
        header.starts_with(&format!(
            "* 12 FETCH (BODY[HEADER] {{{}}}\r\n",
            expected_header.len()
        )),
        "{header}"
    );
    assert!(
        header.ends_with(")\r\na004 OK FETCH completed\r\n"),
        "{header}"
    );
    assert_eq!(
        client.c("a005 store 12 +flags \\deleted"),
        "* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\na005 OK STORE completed\r\n"
    );
    let logout = client.c("a006 logout");
    assert!(logout.starts_with("* BYE ") && logout.ends_with("a006 OK LOGOUT completed\r\n"));
}

#[test]
fn two_sessions_see_each_others_changes() {
    let (_dir, store) = store();
    for n in 1..=3u32 {
        deliver(&store, format!("Subject: {n}\r\n\r\nx\r\n").as_bytes(), &[]);
    }
    let mut one = Client::new(&store);
    let mut two = Client::new(&store);
    for client in [&mut one, &mut two] {
        assert!(client.c("a login mrc@pec.test secret").contains("a OK"));
        assert!(client.c("b select INBOX").contains("* 3 EXISTS"));
    }
    // Flags set by one are pushed to the other, not echoed back to the first. The
    // first session to select saw the messages as \Recent; the second does not.
    assert_eq!(
        one.c("c store 2 +flags (\\Flagged)"),
        "* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\nc OK STORE completed\r\n"
    );
    assert_eq!(one.c("d noop"), "d OK NOOP completed\r\n");
    assert_eq!(two.poll(), "* 2 FETCH (FLAGS (\\Flagged) UID 2)\r\n");
    // An expunge and a delivery: EXPUNGE, then EXISTS.
    one.c("e store 1 +flags (\\Deleted)");
    assert!(one.c("f expunge").starts_with("* 1 EXPUNGE\r\n"));
    deliver(&store, b"Subject: 4\r\n\r\nx\r\n", &[]);
    let seen = two.c("g noop");
    assert!(
        seen.starts_with("* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 1 RECENT\r\n"),
        "{seen}"
    );
    // No EXPUNGE during a plain FETCH (RFC 3501 §7.4.1), but with UID FETCH.
    one.c("h store 1 +flags (\\Deleted)");
    one.c("i expunge");
    let fetch = two.c("j fetch 1 (flags)");
    assert!(!fetch.contains("EXPUNGE"), "{fetch}");
    assert!(two.c("k uid fetch 1:* (flags)").contains("* 1 EXPUNGE"));
}

#[test]
fn bad_commands_get_bad_and_the_session_goes_on() {
    let (_dir, store) = store();
    let mut client = Client::new(&store);
    assert!(client.c("a1 frobnicate").starts_with("a1 BAD"));
    assert!(client.c("\u{1}\u{2}").starts_with("* BAD"));
    assert!(client.c("a2 select INBOX").starts_with("a2 BAD"));
    assert!(
        client
            .c("a3 login mrc@pec.test wrong")
            .contains("a3 NO [AUTHENTICATIONFAILED]")
    );
    assert!(client.c("a4 login mrc@pec.test secret").contains("a4 OK"));
    assert!(client.c("a5 fetch 1 (flags)").starts_with("a5 BAD"));
    assert!(
        client
            .c(&format!("a6 noop {}", "x".repeat(70_000)))
            .starts_with("a6 BAD")
    );
    assert!(
        client
            .c("a7 append INBOX {99999999}")
            .starts_with("a7 NO [TOOBIG]")
    );
    assert_eq!(client.c("a8 noop"), "a8 OK NOOP completed\r\n");
}

#[test]
fn header_fields_read_the_same_from_the_body_and_from_the_header_cache() {
    let (_dir, store) = store();
    let first = b"From: a@pec-a.test\r\nSubject: uno\r\nX-Nul: a\0b\r\n\r\ncorpo\r\n";
    deliver(&store, first, &[]);
    deliver(
        &store,
        b"Subject: due\r\nFrom: b@pec-a.test\r\n\r\naltro\r\n",
        &[],
    );
    // The same body twice in the folder (one header cache entry for both).
    deliver(&store, first, &[]);
    let mut client = Client::new(&store);
    client.c("a login mrc@pec.test secret");
    client.c("b select INBOX");
    let fetch = "fetch 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM X-NUL)] RFC822.SIZE)";
    let cold = client.c(&format!("c {fetch}"));
    let warm = client.c(&format!("c {fetch}"));
    assert_eq!(cold, warm);
    assert_eq!(
        warm,
        "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (FROM X-NUL)] {34}\r\n\
         From: a@pec-a.test\r\nX-Nul: a b\r\n\r\n RFC822.SIZE 55)\r\n\
         * 2 FETCH (UID 2 BODY[HEADER.FIELDS (FROM X-NUL)] {22}\r\n\
         From: b@pec-a.test\r\n\r\n RFC822.SIZE 43)\r\n\
         * 3 FETCH (UID 3 BODY[HEADER.FIELDS (FROM X-NUL)] {34}\r\n\
         From: a@pec-a.test\r\nX-Nul: a b\r\n\r\n RFC822.SIZE 55)\r\n\
         c OK FETCH completed\r\n"
    );
    let whole = client.c("d fetch 2 (BODY.PEEK[] UID)");
    assert_eq!(
        whole,
        "* 2 FETCH (BODY[] {43}\r\nSubject: due\r\nFrom: b@pec-a.test\r\n\r\naltro\r\n \
         UID 2)\r\nd OK FETCH completed\r\n"
    );
}

/// Not a test of behaviour: a harness for profiling FETCH of header fields over a
/// 10,000-message folder (`cargo test --release --lib fetch_headers_profile --
/// --ignored --nocapture`, under `perf record` if wanted). Prints the time per pass.
#[test]
#[ignore]
fn fetch_headers_profile() {
    let (_dir, store) = store();
    store
        .write(|tx| {
            for n in 0..10_000u32 {
                let raw = format!(
                    "From: a{n}@pec-a.test\r\nTo: b@pec-b.test\r\nSubject: Pratica {n}\r\n\
                     Date: Tue, 01 Dec 2026 10:00:00 +0100\r\nMessage-ID: <m{n}@x>\r\n\
                     X-Trasporto: posta-certificata\r\nMIME-Version: 1.0\r\n\r\n{}\r\n",
                    "corpo ".repeat(2000)
                );
                let blob = store.blobs().put(raw.as_bytes())?;
                tx.mailboxes()
                    .append(USER, INBOX, &blob, raw.len() as u64, &[], now(), None)?;
            }
            Ok(())
        })
        .unwrap();
    let started = std::time::Instant::now();
    let metas = store
        .read(|tx| tx.mailboxes().messages(USER, INBOX))
        .unwrap();
    println!("messages(): {:?} for {}", started.elapsed(), metas.len());
    let started = std::time::Instant::now();
    let blobs: Vec<&crate::store::blobs::BlobId> = metas.iter().map(|m| &m.blob).collect();
    let cached = store.read(|tx| tx.headers().cached(&blobs)).unwrap();
    println!(
        "headers().cached(): {:?} ({} cached)",
        started.elapsed(),
        cached.iter().flatten().count()
    );
    let mut client = Client::new(&store);
    client.c("a login mrc@pec.test secret");
    client.c("b select INBOX");
    let passes: u32 = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5);
    for pass in 0..passes {
        let started = std::time::Instant::now();
        let out = client.c(&format!(
            "f{pass} fetch 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"
        ));
        println!("pass {pass}: {:?}, {} bytes", started.elapsed(), out.len());
    }
    let started = std::time::Instant::now();
    let cached = store.read(|tx| tx.headers().cached(&blobs)).unwrap();
    println!(
        "headers().cached() warm: {:?} ({} cached)",
        started.elapsed(),
        cached.iter().flatten().count()
    );
    let started = std::time::Instant::now();
    let metas = store
        .read(|tx| tx.mailboxes().messages(USER, INBOX))
        .unwrap();
    println!(
        "messages() warm: {:?} for {}",
        started.elapsed(),
        metas.len()
    );
}

#[test]
fn folder_names_and_counts_are_bounded() {
    let (_dir, store) = store();
    let mut client = Client::new(&store);
    assert!(client.c("a1 login mrc@pec.test secret").contains("a1 OK"));
    let long = "x".repeat(256);
    let refused = client.c(&format!("a2 create {long}"));
    assert!(refused.contains("a2 NO [LIMIT]"), "{refused}");
    assert!(
        client
            .c(&format!("a3 create {}", &long[1..]))
            .contains("a3 OK")
    );
    let held = store.read(|tx| tx.folders().list(USER)).unwrap().len();
    for n in held..super::folder_limits::MAX_FOLDERS {
        let reply = client.c(&format!("b{n} create f{n}"));
        assert!(reply.contains(&format!("b{n} OK")), "{reply}");
    }
    let refused = client.c("c1 create one-too-many");
    assert!(
        refused.contains("c1 NO [LIMIT] too many folders"),
        "{refused}"
    );
    let refused = client.c(&format!("c2 rename f{held} {long}"));
    assert!(refused.contains("c2 NO [LIMIT]"), "{refused}");
}

#[test]
fn a_form_feed_in_an_address_cannot_stall_the_session() {
    // A message from anyone, delivered: a form feed in From, at the top and in an
    // attached message, once kept the address reader looping for ever on FETCH
    // ENVELOPE / BODYSTRUCTURE and SEARCH FROM, holding a core per command.
    let (dir, store) = store();
    let raw = b"From: a@example.c\r0\x0c\r\nTo: b@pec.test\r\nSubject: ff\r\n\
Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: message/rfc822\r\n\r\nFrom: Name\x0c <c@x\x0c.test>\r\nSubject: in\r\n\r\nbody\r\n\
--B--\r\n";
    deliver(&store, raw, &[]);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut client = Client::new(&store);
        client.c("a1 login mrc@pec.test secret");
        client.c("a2 select inbox");
        let fetched = client.c("a3 fetch 1 (envelope bodystructure)");
        let searched = client.c("a4 search from example");
        let _ = done.send((fetched, searched));
        drop(dir);
    });
    let (fetched, searched) = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the session answered");
    assert!(fetched.contains("a3 OK"), "{fetched}");
    assert!(fetched.contains("\"example.c0\x0c\""), "{fetched}");
    assert!(searched.contains("* SEARCH 1\r\n"), "{searched}");
}
