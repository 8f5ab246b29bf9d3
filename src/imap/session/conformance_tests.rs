//! Transcript tests of what Dovecot's imaptest checks and pecd once got wrong: each
//! names the imaptest group it stands for. imaptest itself runs against a live daemon
//! in `tests/imaptest/conformance.py`.

use super::tests::Client;
use super::tests::deliver;
use super::tests::store;
use crate::store::Store;

fn logged_in(store: &crate::store::Store) -> Client<'_> {
    let mut client = Client::new(store);
    assert!(client.c("a login mrc@pec.test secret").contains("a OK"));
    client
}

/// The number in the `* STATUS` answer's item `name`.
fn status_item(answer: &str, name: &str) -> u32 {
    let after = answer
        .split(&format!("{name} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {answer}"));
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// append, select: a message is `\Recent` to one session only, and EXAMINE shows
/// the recent messages without taking them from the next SELECT.
#[test]
fn recent_goes_to_one_session_and_examine_only_looks() {
    let (_dir, store) = store();
    let mut one = logged_in(&store);
    let mut two = logged_in(&store);
    assert!(one.c("b select INBOX").contains("* 0 RECENT"));
    assert!(two.c("b select INBOX").contains("* 0 RECENT"));
    deliver(&store, b"Subject: one\r\n\r\nbody\r\n", &[]);
    let first = one.c("c noop");
    let second = two.c("c noop");
    assert!(first.contains("* 1 EXISTS") && second.contains("* 1 EXISTS"));
    assert!(first.contains("* 1 RECENT"), "{first}");
    assert!(second.contains("* 0 RECENT"), "{second}");
    assert!(one.c("d fetch 1 flags").contains("\\Recent"));
    assert!(!two.c("d fetch 1 flags").contains("\\Recent"));
    let mut third = logged_in(&store);
    let status = third.c("e status INBOX (recent)");
    assert_eq!(status_item(&status, "RECENT"), 0, "{status}");

    deliver(&store, b"Subject: two\r\n\r\nbody\r\n", &[]);
    deliver(&store, b"Subject: three\r\n\r\nbody\r\n", &[]);
    let examined = third.c("f examine INBOX");
    assert!(examined.contains("* 2 RECENT"), "{examined}");
    third.c("g close");
    let selected = third.c("h select INBOX");
    assert!(selected.contains("* 2 RECENT"), "{selected}");
    third.c("i close");
    assert_eq!(
        status_item(&third.c("j status INBOX (recent)"), "RECENT"),
        0
    );
}

/// uidvalidity: a folder deleted and created again within the same second gets a new
/// UIDVALIDITY, as its UIDs start again.
#[test]
fn a_folder_created_again_at_once_has_a_new_uidvalidity() {
    let (_dir, store) = store();
    let mut client = logged_in(&store);
    assert!(client.c("b create Pratiche").contains("b OK"));
    let before = status_item(&client.c("c status Pratiche (uidvalidity)"), "UIDVALIDITY");
    assert!(client.c("d delete Pratiche").contains("d OK"));
    assert!(client.c("e create Pratiche").contains("e OK"));
    let after = status_item(&client.c("f status Pratiche (uidvalidity)"), "UIDVALIDITY");
    assert!(after > before, "{before} then {after}");
}

/// subscribe: LSUB `%` names an unsubscribed parent of a subscribed folder with
/// `\Noselect`; CREATE does not subscribe; DELETE keeps the subscription, which
/// LIST-EXTENDED then reports as `\NonExistent`.
#[test]
fn subscriptions_are_the_clients_and_outlive_their_folders() {
    let (_dir, store) = store();
    let mut client = logged_in(&store);
    for name in ["box/test", "box/test2/test", "box/old"] {
        assert!(client.c(&format!("b create {name}")).contains("b OK"));
    }
    let none = client.c("c lsub \"\" box/*");
    assert!(!none.contains("* LSUB"), "{none}");
    for name in ["box/test", "box/test2/test", "box/old"] {
        assert!(client.c(&format!("d subscribe {name}")).contains("d OK"));
    }
    let lsub = client.c("e lsub \"\" box/%");
    assert!(
        lsub.contains("* LSUB (\\HasNoChildren) \"/\" box/test\r\n"),
        "{lsub}"
    );
    assert!(
        lsub.contains("* LSUB (\\Noselect \\HasChildren) \"/\" box/test2\r\n"),
        "{lsub}"
    );
    assert!(!lsub.contains("box/test2/test"), "{lsub}");
    assert!(client.c("f delete box/old").contains("f OK"));
    let list = client.c("g list (subscribed) \"\" box/*");
    assert!(
        list.contains("* LIST (\\NonExistent \\Subscribed) \"/\" box/old\r\n"),
        "{list}"
    );
    assert!(client.c("h unsubscribe box/old").contains("h OK"));
    assert!(!client.c("i lsub \"\" *").contains("box/old\r\n"));
    // The default folders stay subscribed.
    assert!(client.c("j lsub \"\" INBOX").contains("* LSUB"));
}

/// listext: several patterns, options nobody defined, and RECURSIVEMATCH's CHILDINFO
/// for a parent whose subscribed child no pattern matches.
#[test]
fn list_extended_patterns_options_and_child_info() {
    let (_dir, store) = store();
    let mut client = logged_in(&store);
    for name in [
        "box/test1",
        "box/test2/test1",
        "box/test3",
        "box/test8/test9",
    ] {
        client.c(&format!("b create {name}"));
    }
    client.c("c subscribe box/test2/test1");
    client.c("c subscribe box/test8/test9");
    let several = client.c("d list \"\" (box/*2 box/test3)");
    assert!(several.contains("box/test2\r\n") && several.contains("box/test3\r\n"));
    assert!(
        !several.contains("box/test1") && several.contains("d OK"),
        "{several}"
    );
    for refused in [
        "list (imaptest) \"\" \"\"",
        "list (recursivematch) \"\" \"\"",
        "list (recursivematch remote) \"\" \"\"",
        "list \"\" \"\" return (imaptest)",
    ] {
        assert!(
            client.c(&format!("e {refused}")).starts_with("e BAD"),
            "{refused}"
        );
    }
    assert!(client.c("f list (remote) \"\" %").contains("f OK"));
    let recursive = client.c("g list (subscribed recursivematch) \"\" box/% return (children)");
    assert!(
        recursive.contains(
            "* LIST (\\HasChildren) \"/\" box/test2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        ),
        "{recursive}"
    );
    assert!(!recursive.contains("box/test1"), "{recursive}");
    let matched = client.c("h list (subscribed recursivematch) \"\" (box/test2 box/test2/test1)");
    assert!(!matched.contains("CHILDINFO"), "{matched}");
    assert!(
        matched.contains("\\Subscribed) \"/\" box/test2/test1"),
        "{matched}"
    );
}

const FOUR: [&[u8]; 4] = [
    b"Subject: 1\r\n\r\n1\r\n",
    b"Subject: 2\r\n\r\n2\r\n",
    b"Subject: 3\r\n\r\n3\r\n",
    b"Subject: 4\r\n\r\n4\r\n",
];

/// The MODSEQ in a `* n FETCH (… MODSEQ (m))` answer.
fn modseq(answer: &str) -> u64 {
    u64::from(status_item(
        &answer.replace("MODSEQ (", "MODSEQ "),
        "MODSEQ",
    ))
}

/// esearch-condstore: FETCH MODSEQ enables CONDSTORE and says HIGHESTMODSEQ; STORE
/// then reports MODSEQ; ESEARCH MIN / MAX carry the MODSEQ of the messages they name.
#[test]
fn condstore_enabled_by_fetch_modseq_and_esearch_modseqs() {
    let (_dir, store) = store();
    for raw in FOUR {
        deliver(&store, raw, &[]);
    }
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    let enabled = client.c("c fetch 1 modseq");
    assert!(enabled.contains("* OK [HIGHESTMODSEQ "), "{enabled}");
    let mut modseqs = [0u64; 5];
    for n in [1, 3, 2, 4] {
        let stored = client.c(&format!("d store {n} +flags \\seen"));
        assert!(stored.contains("MODSEQ ("), "{stored}");
        modseqs[n] = modseq(&stored);
    }
    let min = client.c("e search return (min) 1:3 modseq 1");
    assert!(
        min.contains(&format!("MIN 1 MODSEQ {}", modseqs[1])),
        "{min}"
    );
    let max = client.c("f search return (max) 1:3 modseq 1");
    assert!(
        max.contains(&format!("MAX 3 MODSEQ {}", modseqs[3])),
        "{max}"
    );
    let all = client.c("g search return (all) 2:3 modseq 1");
    assert!(
        all.contains(&format!("ALL 2:3 MODSEQ {}", modseqs[2])),
        "{all}"
    );
    let none = client.c(&format!("h search return (all) 2:3 modseq {}", modseqs[4]));
    assert!(none.contains("* ESEARCH (TAG \"h\")\r\n"), "{none}");
}

/// fetch-binary-mime-base64: a partial BINARY names its origin.
#[test]
fn partial_binary_names_its_origin() {
    let (_dir, store) = store();
    deliver(
        &store,
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n",
        &[],
    );
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    let partial = client.c("c fetch 1 (binary.peek[1]<6.5>)");
    assert!(partial.contains("BINARY[1]<6> ~{5}\r\nworld)"), "{partial}");
    let whole = client.c("d fetch 1 (binary.peek[1])");
    assert!(whole.contains("BINARY[1] ~{11}\r\nhello world)"), "{whole}");
}

/// search-addresses: FROM matches an address written with comments inside it.
#[test]
fn search_from_sees_through_comments() {
    let (_dir, store) = store();
    deliver(
        &store,
        b"From: <user-from (comment)@ (comment) domain.org>\r\n\r\nx\r\n",
        &[],
    );
    deliver(
        &store,
        b"From: RealFrom <other@domain.org>\r\n\r\nx\r\n",
        &[],
    );
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    assert!(
        client
            .c("c search from user-from@domain.org")
            .contains("* SEARCH 1\r\n")
    );
    assert!(
        client
            .c("d search from realfrom")
            .contains("* SEARCH 2\r\n")
    );
}

/// multiappend, catenate: several messages in one APPEND, messages made of text and
/// parts of stored ones, all or nothing when a URL names nothing.
#[test]
fn multiappend_and_catenate_store_all_or_nothing() {
    let (_dir, store) = store();
    let mut client = logged_in(&store);
    let two = client.c(
        "b APPEND INBOX (\\Seen) {21+}\r\nSubject: one\r\n\r\nbody1 {21+}\r\nSubject: two\r\n\r\nbody2",
    );
    assert!(two.contains("b OK [APPENDUID "), "{two}");
    assert!(two.contains(" 1:2] "), "{two}");
    client.c("c select INBOX");
    let joined = client.c(
        "d APPEND INBOX CATENATE (URL \"/INBOX/;UID=2/;SECTION=HEADER\" TEXT {8+}\r\njoined\r\n)",
    );
    assert!(joined.contains("d OK [APPENDUID "), "{joined}");
    let body = client.c("e fetch 3 body.peek[]");
    assert!(body.contains("Subject: two\r\n\r\njoined\r\n"), "{body}");
    let bad = client.c(
        "f APPEND INBOX {5+}\r\nfirst CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\" TEXT {1+}\r\nx)",
    );
    assert!(
        bad.contains("f NO [BADURL \"/INBOX;UIDVALIDITY=1/;UID=1\"]"),
        "{bad}"
    );
    let status = client.c("g status INBOX (messages)");
    assert!(status.contains("(MESSAGES 3)"), "{status}");
    let nowhere = client.c("h APPEND Nowhere CATENATE (TEXT {1+}\r\nx)");
    assert!(nowhere.contains("h NO [TRYCREATE]"), "{nowhere}");
}

/// An APPEND of several messages before login is refused like any other command.
#[test]
fn multiappend_needs_a_login() {
    let (_dir, store) = store();
    let mut client = Client::new(&store);
    let refused = client.c("a APPEND INBOX {1+}\r\nx {1+}\r\ny");
    assert!(
        refused.starts_with("a BAD") || refused.starts_with("a NO"),
        "{refused}"
    );
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    assert!(client.c("c fetch 1:* flags").contains("c OK"));
    assert!(!client.c("d fetch 1:* flags").contains("FETCH ("));
}

/// QRESYNC: expunges as VANISHED once enabled, and a client resynchronizing in
/// SELECT and UID FETCH learns the UIDs gone and the messages changed.
#[test]
fn qresync_reports_vanished_uids_and_changes() {
    let (_dir, store) = store();
    for raw in FOUR {
        deliver(&store, raw, &[]);
    }
    let mut client = logged_in(&store);
    assert!(
        client
            .c("b select INBOX (QRESYNC (1 1))")
            .starts_with("b BAD")
    );
    assert!(client.c("c enable qresync").contains("* ENABLED QRESYNC"));
    let selected = client.c("d select INBOX");
    let uidvalidity = status_item(
        &selected.replace("[UIDVALIDITY", "UIDVALIDITY"),
        "UIDVALIDITY",
    );
    let before = status_item(&client.c("e status INBOX (highestmodseq)"), "HIGHESTMODSEQ");
    client.c("f store 1 +flags (\\Deleted)");
    let expunged = client.c("g expunge");
    assert!(expunged.contains("* VANISHED 1\r\n"), "{expunged}");
    assert!(!expunged.contains("EXPUNGE\r\n"), "{expunged}");
    client.c("h store 2 +flags (\\Flagged)");

    let mut other = logged_in(&store);
    other.c("b enable qresync");
    let resync = other.c(&format!(
        "c select INBOX (QRESYNC ({uidvalidity} {before} 1:4))"
    ));
    assert!(resync.contains("* VANISHED (EARLIER) 1\r\n"), "{resync}");
    assert!(
        resync.contains("(FLAGS (\\Flagged) UID 3 MODSEQ ("),
        "{resync}"
    );
    let fetched = other.c(&format!(
        "d uid fetch 1:* (flags) (changedsince {before} vanished)"
    ));
    assert!(fetched.contains("* VANISHED (EARLIER) 1\r\n"), "{fetched}");
    assert!(
        other
            .c("e fetch 1:* (flags) (changedsince 1 vanished)")
            .starts_with("e BAD")
    );
}

/// COPY beyond the quota copies nothing (RFC 3501 §6.4.7: the target is left as it
/// was), not the messages that still fitted.
#[test]
fn a_copy_beyond_the_quota_copies_nothing() {
    let (_dir, store) = store();
    deliver(&store, b"Subject: a\r\n\r\n0123456789\r\n", &[]);
    deliver(&store, b"Subject: b\r\n\r\n0123456789\r\n", &[]);
    store
        .write(|tx| {
            tx.mailboxes()
                .update("mrc@pec.test", |m| m.quota_bytes = m.used_bytes + 40)
                .map(|_| ())
        })
        .unwrap();
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    let refused = client.c("c copy 1:2 Sent");
    assert!(refused.contains("c NO [OVERQUOTA]"), "{refused}");
    let status = client.c("d status Sent (messages)");
    assert!(status.contains("(MESSAGES 0)"), "{status}");
    assert!(client.c("e copy 1 Sent").contains("e OK"));
}

/// CATENATE is a way to read a message by naming it: a URL can only name the logged-in
/// user's own messages, whatever form it takes, so another holder's mail never ends up
/// in a message the attacker can then fetch.
#[test]
fn catenate_urls_never_reach_another_holders_messages() {
    let (_dir, store) = store();
    deliver(&store, b"Subject: riservato\r\n\r\nsegreto di mrc\r\n", &[]);
    store
        .write(|tx| {
            tx.mailboxes().create(
                "eve@pec.test",
                "evepass",
                &crate::store::mailbox::NewMailbox::default(),
                super::tests::now(),
            )
        })
        .unwrap();
    let mut eve = Client::new(&store);
    assert!(eve.c("a login eve@pec.test evepass").contains("a OK"));
    let urls = [
        "/INBOX/;UID=1",
        "/INBOX;UIDVALIDITY=1/;UID=1",
        "imap://mrc@pec.test@pec.test/INBOX/;UID=1",
        "//pec.test/INBOX/;UID=1",
        "/mrc@pec.test/INBOX/;UID=1",
        "/..%2Fmrc@pec.test%00INBOX/;UID=1",
        "/Other Users/mrc@pec.test/INBOX/;UID=1",
    ];
    for (n, url) in urls.iter().enumerate() {
        let answer = eve.c(&format!(
            "c{n} APPEND INBOX CATENATE (URL \"{url}\" TEXT {{1+}}\r\nx)"
        ));
        assert!(
            answer.contains(&format!("c{n} NO [BADURL")),
            "{url}: {answer}"
        );
        assert!(!answer.contains("segreto"), "{url}: {answer}");
    }
    let status = eve.c("d status INBOX (messages)");
    assert!(status.contains("(MESSAGES 0)"), "{status}");
}

/// MOVE needs no room beyond what its messages use: at a full quota it moves them.
/// Over a quota lowered under the usage it moves nothing, and never leaves a message
/// in both folders.
#[test]
fn a_move_is_whole_or_nothing_whatever_the_quota() {
    let (_dir, store) = store();
    deliver(&store, b"Subject: a\r\n\r\n0123456789\r\n", &[]);
    deliver(&store, b"Subject: b\r\n\r\n0123456789\r\n", &[]);
    deliver(&store, b"Subject: c\r\n\r\n0123456789\r\n", &[]);
    let quota = |store: &Store, extra: i64| {
        store
            .write(|tx| {
                tx.mailboxes()
                    .update("mrc@pec.test", |m| {
                        m.quota_bytes = m.used_bytes.saturating_add_signed(extra)
                    })
                    .map(|_| ())
            })
            .unwrap();
    };
    quota(&store, 0);
    let mut client = logged_in(&store);
    client.c("b select INBOX");
    let moved = client.c("c move 1:2 Sent");
    assert!(moved.contains("c OK"), "{moved}");
    assert!(
        client
            .c("d status Sent (messages)")
            .contains("(MESSAGES 2)")
    );
    quota(&store, -1);
    let refused = client.c("e move 1 Sent");
    assert!(refused.contains("e NO [OVERQUOTA]"), "{refused}");
    assert!(
        client
            .c("f status Sent (messages)")
            .contains("(MESSAGES 2)")
    );
    let inbox = client.c("g search all");
    assert!(inbox.contains("* SEARCH 1\r\n"), "{inbox}");
}
