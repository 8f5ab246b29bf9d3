//! Transcripts of SORT, THREAD, ESORT and CONTEXT=SEARCH through the session, and the
//! header index filled on first use.

use std::sync::Arc;

use jiff::Timestamp;

use crate::imap::exchange::Exchange;
use crate::imap::exchange::StorePasswords;
use crate::imap::provider_hooks::ProviderHooks;
use crate::imap::session::Session;
use crate::imap::session::SessionConfig;
use crate::imap::session::Transport;
use crate::store::Store;
use crate::store::blobs::BlobId;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::NewMailbox;

const USER: &str = "sort@pec.test";

fn now() -> Timestamp {
    "2026-12-07T08:00:00Z".parse().unwrap()
}

/// A store with the mailbox and these messages delivered in order, each one
/// second after the previous, without a header index (as bodies stored before it).
fn store_with(messages: &[&str]) -> (tempfile::TempDir, Store, Vec<BlobId>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .create(USER, "secret", &NewMailbox::default(), now())
        })
        .unwrap();
    let mut blobs = Vec::new();
    for (n, header) in (0i64..).zip(messages) {
        let raw = format!("{header}\r\n\r\nbody {n}\r\n").into_bytes();
        let blob = store.blobs().put(&raw).unwrap();
        let at = now()
            .saturating_add(jiff::SignedDuration::from_secs(n))
            .unwrap();
        store
            .write(|tx| {
                tx.mailboxes()
                    .append(USER, INBOX, &blob, raw.len() as u64, &[], at, None)
            })
            .unwrap();
        blobs.push(blob);
    }
    (dir, store, blobs)
}

struct Client<'a> {
    store: &'a Store,
    exchange: Exchange,
}

impl<'a> Client<'a> {
    /// Logged in, INBOX selected.
    fn selected(store: &'a Store) -> Client<'a> {
        let config = SessionConfig {
            hostname: "pec.test".into(),
            starttls: false,
            max_append_bytes: 1 << 20,
        };
        let session = Session::new(config, Transport::Tls, Arc::new(ProviderHooks::default()));
        let mut client = Client {
            store,
            exchange: Exchange::new(session, 1 << 20),
        };
        assert!(client.c("l LOGIN sort@pec.test secret").contains("l OK"));
        assert!(client.c("s SELECT INBOX").contains("s OK"));
        client
    }

    fn c(&mut self, line: &str) -> String {
        let driven = self.exchange.drive(
            self.store,
            format!("{line}\r\n").as_bytes(),
            now(),
            &mut StorePasswords(self.store),
        );
        String::from_utf8_lossy(&driven.out).into_owned()
    }
}

const MESSAGES: &[&str] = &[
    "From: Zoe <zoe@pec-z.test>\r\nSubject: Re: deposito\r\nMessage-ID: <2@x>\r\nIn-Reply-To: <1@x>\r\nDate: Mon, 7 Dec 2026 09:00:00 +0100",
    "From: adele@pec-a.test\r\nSubject: Deposito\r\nMessage-ID: <1@x>\r\nDate: Mon, 7 Dec 2026 07:00:00 +0000",
    "From: =?utf-8?q?Bruno_B=C3=A8?= <bruno@pec-b.test>\r\nSubject: =?utf-8?q?Udienza_rinviata?=\r\nMessage-ID: <3@x>",
];

#[test]
fn sort_and_thread_answer_from_the_headers() {
    let (_dir, store, _) = store_with(MESSAGES);
    let mut client = Client::selected(&store);
    assert!(
        client
            .c("c CAPABILITY")
            .contains(" SORT SORT=DISPLAY THREAD=REFERENCES")
    );
    let cases = [
        ("a SORT (SUBJECT) UTF-8 ALL", "* SORT 1 2 3\r\n"),
        (
            "a SORT (REVERSE SUBJECT ARRIVAL) UTF-8 ALL",
            "* SORT 3 1 2\r\n",
        ),
        ("a SORT (FROM) UTF-8 ALL", "* SORT 2 3 1\r\n"),
        ("a SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 1\r\n"),
        // 1 is 08:00 UTC, 2 is 07:00, 3 has no Date: (its arrival, 08:00:02).
        ("a SORT (DATE) UTF-8 ALL", "* SORT 2 1 3\r\n"),
        ("a UID SORT (SIZE) US-ASCII SUBJECT deposito", "* SORT "),
        ("a THREAD REFERENCES UTF-8 ALL", "* THREAD (2 1)(3)\r\n"),
        ("a THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (2 1)(3)\r\n"),
        (
            "a UID THREAD REFERENCES UTF-8 NOT FROM zoe",
            "* THREAD (2)(3)\r\n",
        ),
        (
            "a SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL",
            "* ESEARCH (TAG \"a\") MIN 2 MAX 3 COUNT 3\r\n",
        ),
        (
            "a SORT RETURN (PARTIAL 2:9) (REVERSE DATE) UTF-8 ALL",
            "* ESEARCH (TAG \"a\") PARTIAL (2:9 1:2)\r\n",
        ),
        (
            "a SEARCH RETURN (PARTIAL 3:2) ALL",
            "* ESEARCH (TAG \"a\") PARTIAL (2:3 2:3)\r\n",
        ),
    ];
    for (command, expected) in cases {
        let answer = client.c(command);
        assert!(answer.starts_with(expected), "{command}: {answer}");
        assert!(
            answer.ends_with(" OK SORT completed\r\n") || answer.contains("a OK"),
            "{answer}"
        );
    }
    for refused in [
        "a SORT (SUBJECT) KOI8-R ALL",
        "a THREAD NOSUCH UTF-8 ALL",
        "a SORT RETURN (PARTIAL 1:*) (ARRIVAL) UTF-8 ALL",
        "a SEARCH RETURN (PARTIAL 0:1) ALL",
    ] {
        let answer = client.c(refused);
        assert!(
            answer.starts_with("a NO") || answer.starts_with("a BAD"),
            "{refused}: {answer}"
        );
    }
}

#[test]
fn header_searches_fill_the_index_and_agree_with_the_bodies() {
    let (_dir, store, blobs) = store_with(MESSAGES);
    let refs: Vec<&BlobId> = blobs.iter().collect();
    let indexed = |store: &Store| {
        let mut count = 0;
        store
            .read(|tx| tx.headers().each_indexed(&refs, |_, _| count += 1))
            .unwrap();
        count
    };
    assert_eq!(indexed(&store), 0);
    let mut client = Client::selected(&store);
    // Answered by reading the bodies (nothing indexed yet), then from the index.
    let cold = client.c("a SEARCH SUBJECT deposito");
    assert_eq!(indexed(&store), 3);
    let warm = client.c("a SEARCH SUBJECT deposito");
    assert_eq!(cold, warm);
    assert!(cold.starts_with("* SEARCH 1 2\r\n"), "{cold}");
    for (criteria, expected) in [
        ("CHARSET UTF-8 FROM {3+}\r\nbè", "* SEARCH 3\r\n"),
        ("HEADER MESSAGE-ID 2@X", "* SEARCH 1\r\n"),
        ("HEADER In-Reply-To \"\"", "* SEARCH 1\r\n"),
        ("OR FROM zoe SUBJECT udienza", "* SEARCH 1 3\r\n"),
        ("SENTON 7-Dec-2026 NOT FROM adele", "* SEARCH 1\r\n"),
        ("SUBJECT deposito BODY \"body 1\"", "* SEARCH 2\r\n"),
    ] {
        let answer = client.c(&format!("a SEARCH {criteria}"));
        assert!(answer.starts_with(expected), "{criteria}: {answer}");
    }
}

#[test]
fn context_updates_follow_the_folder_until_cancelled() {
    let (_dir, store, _) = store_with(MESSAGES);
    let mut client = Client::selected(&store);
    let started = client.c("u1 SEARCH RETURN (UPDATE) SEEN");
    assert!(
        started.starts_with("* ESEARCH (TAG \"u1\")\r\nu1 OK"),
        "{started}"
    );
    let added = client.c("a STORE 1,3 +FLAGS (\\Seen)");
    assert!(
        added.contains("* ESEARCH (TAG \"u1\") ADDTO (1 1,3)\r\n"),
        "{added}"
    );
    let removed = client.c("a STORE 1 -FLAGS (\\Seen)");
    assert!(
        removed.contains("* ESEARCH (TAG \"u1\") REMOVEFROM (1 1)\r\n"),
        "{removed}"
    );
    let uid = client.c("u2 UID SEARCH RETURN (UPDATE ALL) SUBJECT deposito");
    assert!(
        uid.starts_with("* ESEARCH (TAG \"u2\") UID ALL 1:2\r\n"),
        "{uid}"
    );
    let expunged = client.c("a STORE 2 +FLAGS (\\Deleted)");
    assert!(!expunged.contains("ESEARCH"), "{expunged}");
    let expunged = client.c("a EXPUNGE");
    assert!(
        expunged.contains("* ESEARCH (TAG \"u2\") UID REMOVEFROM (2 2)\r\n* 2 EXPUNGE"),
        "{expunged}"
    );
    assert!(client.c("c CANCELUPDATE \"u1\" \"u2\"").contains("c OK"));
    let quiet = client.c("a STORE 1 +FLAGS (\\Seen)");
    assert!(!quiet.contains("ESEARCH"), "{quiet}");
}

#[test]
fn sort_updates_place_each_addition() {
    let (_dir, store, _) = store_with(MESSAGES);
    let mut client = Client::selected(&store);
    let started = client.c("u SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) UTF-8 SEEN");
    assert!(
        started.starts_with("* ESEARCH (TAG \"u\")\r\nu OK"),
        "{started}"
    );
    let added = client.c("a STORE 1,3 +FLAGS.SILENT (\\Seen)");
    assert!(
        added.contains("* ESEARCH (TAG \"u\") ADDTO (1 3 2 1)\r\n"),
        "{added}"
    );
    let added = client.c("a STORE 2 +FLAGS.SILENT (\\Seen)");
    assert!(
        added.contains("* ESEARCH (TAG \"u\") ADDTO (2 2)\r\n"),
        "{added}"
    );
    let removed = client.c("a STORE 3 -FLAGS.SILENT (\\Seen)");
    assert!(
        removed.contains("* ESEARCH (TAG \"u\") REMOVEFROM (1 3)\r\n"),
        "{removed}"
    );
}

#[test]
fn a_session_keeps_few_updating_searches() {
    let (_dir, store, _) = store_with(MESSAGES);
    let mut client = Client::selected(&store);
    for n in 0..super::updates::MAX_UPDATES {
        assert!(
            client
                .c(&format!("u{n} SEARCH RETURN (UPDATE) ALL"))
                .contains(" OK")
        );
    }
    let refused = client.c("x SEARCH RETURN (UPDATE) ALL");
    assert_eq!(
        refused,
        "x NO [NOUPDATE \"x\"] too many updating searches\r\n"
    );
    // Leaving the folder ends them all.
    client.c("c CLOSE");
    client.c("s SELECT INBOX");
    assert!(client.c("y SEARCH RETURN (UPDATE) ALL").contains("y OK"));
}
