//! NOTIFY transcripts (RFC 5465): two sessions over one store, what the watching one
//! is told between commands, and what it must never be told about another holder.

use crate::imap::session::tests::Client;
use crate::imap::session::tests::deliver;
use crate::imap::session::tests::now;
use crate::imap::session::tests::store;
use crate::store::Store;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::NewMailbox;

const OTHER: &str = "other@pec.test";

fn logged_in<'s>(store: &'s Store, user: &str, password: &str) -> Client<'s> {
    let mut client = Client::new(store);
    let answer = client.c(&format!("a login {user} {password}"));
    assert!(answer.contains("a OK"), "{answer}");
    client
}

fn add_other(store: &Store) {
    store
        .write(|tx| {
            tx.mailboxes()
                .create(OTHER, "altra", &NewMailbox::default(), now())
        })
        .unwrap();
}

fn deliver_to(store: &Store, user: &str, folder: &str, raw: &[u8]) {
    let blob = store.blobs().put(raw).unwrap();
    store
        .write(|tx| {
            tx.mailboxes()
                .append(user, folder, &blob, raw.len() as u64, &[], now(), None)
        })
        .unwrap();
}

#[test]
fn set_status_reports_the_watched_folders_first() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    one.c("b create Box2");
    one.c("c append Box2 {5+}\r\nHi!\r\n");
    let answer = one.c("d notify set status (mailboxes Box2 (MessageExpunge))");
    assert!(
        answer.starts_with("* STATUS Box2 (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "),
        "{answer}"
    );
    assert!(
        answer.ends_with(" UNSEEN 1)\r\nd OK NOTIFY completed\r\n"),
        "{answer}"
    );
    let answer = one.c("e notify set status (mailboxes Box2 (FlagChange))");
    assert!(answer.contains(" HIGHESTMODSEQ "), "{answer}");
    let answer = one.c("f notify set (mailboxes Box2 (MessageNew MessageExpunge))");
    assert_eq!(answer, "f OK NOTIFY completed\r\n");
    assert!(one.c("g capability").contains(" NOTIFY"));
}

#[test]
fn another_session_s_changes_arrive_between_commands() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let mut two = logged_in(&store, "mrc@pec.test", "secret");
    let events = "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)";
    let answer = one.c(&format!("b notify set (personal {events})"));
    assert_eq!(answer, "b OK NOTIFY completed\r\n");
    assert_eq!(one.notified(), "");
    deliver(&store, b"Subject: one\r\n\r\nx\r\n", &[]);
    let told = one.notified();
    assert!(
        told.starts_with("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 "),
        "{told}"
    );
    assert_eq!(one.notified(), "", "told once");
    two.c("c create Pratiche");
    assert_eq!(one.notified(), "* LIST () \"/\" Pratiche\r\n");
    two.c("d subscribe Pratiche");
    assert_eq!(one.notified(), "* LIST (\\Subscribed) \"/\" Pratiche\r\n");
    two.c("e rename Pratiche Archiviate");
    assert_eq!(
        one.notified(),
        "* LIST () \"/\" Archiviate (\"OLDNAME\" (\"Pratiche\"))\r\n"
    );
    two.c("f delete Archiviate");
    assert_eq!(
        one.notified(),
        "* LIST (\\NonExistent) \"/\" Archiviate\r\n"
    );
    two.c("g select INBOX");
    two.c("h store 1 +flags (\\Seen)");
    let told = one.notified();
    assert!(told.contains(" UNSEEN 0 HIGHESTMODSEQ "), "{told}");
    two.c("i store 1 +flags (\\Deleted)");
    one.notified();
    two.c("j expunge");
    let told = one.notified();
    assert!(told.starts_with("* STATUS INBOX (MESSAGES 0 "), "{told}");
    assert_eq!(one.c("k notify none"), "k OK NOTIFY completed\r\n");
    deliver(&store, b"Subject: two\r\n\r\nx\r\n", &[]);
    assert_eq!(one.notified(), "");
}

#[test]
fn the_selected_folder_gets_exists_and_the_asked_attributes() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    one.c("b select INBOX");
    let answer = one.c(
        "c notify set (selected (MessageNew (uid body.peek[header.fields (subject)]) \
         MessageExpunge)) (personal (MessageNew MessageExpunge))",
    );
    assert_eq!(answer, "c OK NOTIFY completed\r\n");
    deliver(&store, b"Subject: arrivo\r\nFrom: a@b\r\n\r\nx\r\n", &[]);
    let told = one.notified();
    assert!(told.starts_with("* 1 EXISTS\r\n"), "{told}");
    assert!(
        told.contains(
            "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (subject)] {19}\r\nSubject: arrivo\r\n\r\n)"
        ),
        "{told}"
    );
    assert!(
        !told.contains("STATUS INBOX"),
        "no STATUS for the selected folder: {told}"
    );
}

#[test]
fn selected_delayed_holds_expunges_back() {
    let (_dir, store) = store();
    deliver(&store, b"Subject: one\r\n\r\nx\r\n", &[]);
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let mut two = logged_in(&store, "mrc@pec.test", "secret");
    one.c("b select INBOX");
    one.c("c notify set (selected-delayed (MessageNew MessageExpunge))");
    two.c("d select INBOX");
    two.c("e store 1 +flags (\\Deleted)");
    two.c("f expunge");
    assert!(!one.notified().contains("EXPUNGE"));
    assert!(one.c("g noop").starts_with("* 1 EXPUNGE\r\n"));
}

/// The attack: a holder names another holder's folders every way it can, and watches
/// everything of its own, while the other holder's mail moves. It learns nothing.
#[test]
fn another_holder_s_mailbox_is_never_reported() {
    let (_dir, store) = store();
    add_other(&store);
    let mut other = logged_in(&store, OTHER, "altra");
    other.c("b create Segreti");
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let events = "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)";
    let answer = one.c(&format!(
        "c notify set status (mailboxes (Segreti \"other@pec.test/INBOX\" \"../other@pec.test\" \
         \"*\" %) {events}) (subtree \"\" {events}) (subscribed {events}) (inboxes {events}) \
         (personal {events})"
    ));
    assert!(
        !answer.contains("Segreti") && !answer.contains(OTHER),
        "{answer}"
    );
    deliver_to(&store, OTHER, INBOX, b"Subject: riservato\r\n\r\nx\r\n");
    deliver_to(&store, OTHER, "Segreti", b"Subject: riservato\r\n\r\nx\r\n");
    other.c("d create Nuova");
    other.c("e subscribe Segreti");
    other.c("f rename Segreti Altrove");
    other.c("g select INBOX");
    other.c("h store 1 +flags (\\Seen)");
    assert_eq!(one.notified(), "");
    assert_eq!(one.c("i noop"), "i OK NOOP completed\r\n");
}

#[test]
fn refusals_and_the_state_it_needs() {
    let (_dir, store) = store();
    let mut anonymous = Client::new(&store);
    assert_eq!(
        anonymous.c("a notify set (personal (MessageNew))"),
        "a BAD log in first\r\n"
    );
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let answer = one.c("b notify set (personal (AnnotationChange))");
    assert!(answer.starts_with("b NO [BADEVENT ("), "{answer}");
    let answer = one.c("c notify set (selected (MessageNew (uid nonsense) MessageExpunge))");
    assert!(answer.starts_with("c BAD "), "{answer}");
    assert!(one.c("d notify sometimes").starts_with("d BAD "));
    assert!(one.c("e uid notify none").starts_with("e BAD "));
}

/// A NOTIFY mailbox name may be a literal as large as an APPEND: one longer than any
/// folder's is refused, not kept in the watch for the session's life.
#[test]
fn a_notify_name_no_folder_can_have_is_not_kept() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let name = "x".repeat(1_000_000);
    let answer = one.c(&format!(
        "b notify set (mailboxes {{{}+}}\r\n{name} (MessageNew))",
        name.len()
    ));
    assert!(answer.starts_with("b BAD "), "accepted: {answer}");
}

/// MessageNew may ask for BODY[] (not PEEK): the notification reads the message as
/// BODY.PEEK[] would, so a message the holder has not opened is not marked \Seen by
/// the notification that announced it (nor a commit made on the connection's task for
/// it, beyond the \Recent claim every session's sync makes).
#[test]
fn a_notification_marks_nothing_seen() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    one.c("b select INBOX");
    let answer = one.c("c notify set (selected (MessageNew (uid body[]) MessageExpunge))");
    assert!(answer.contains("c OK"), "{answer}");
    deliver(&store, b"Subject: one\r\n\r\nx\r\n", &[]);
    let told = one.notified();
    assert!(told.contains("BODY[] {"), "{told}");
    assert!(!told.contains("\\Seen"), "{told}");
    let flags = one.c("d fetch 1 (flags)");
    assert!(flags.contains("FLAGS (\\Recent)"), "{flags}");
}

/// A folder renamed and its old name created again between two
/// wakes is reported creation first, rename second, so a client applying them in
/// order ends up without the new `A` (RENAME INBOX does this in one command: INBOX
/// gets a fresh UIDVALIDITY, its old one goes with the new name).
#[test]
fn a_rename_is_reported_before_its_old_name_is_created_again() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    let mut two = logged_in(&store, "mrc@pec.test", "secret");
    two.c("b create A");
    let answer = one.c("c notify set (personal (MailboxName))");
    assert!(answer.contains("c OK"), "{answer}");
    one.notified();
    two.c("d rename A B");
    two.c("e create A");
    let told = one.notified();
    let renamed = told.find("OLDNAME").expect(&told);
    let created = told.find("* LIST () \"/\" A\r\n").expect(&told);
    assert!(renamed < created, "{told}");
}

/// MessageNew's FETCH holds what it sends in memory on the connection's task: past a
/// mebibyte of bodies the client hears EXISTS alone and fetches at its own pace.
#[test]
fn messages_too_large_to_push_are_announced_not_sent() {
    let (_dir, store) = store();
    let mut one = logged_in(&store, "mrc@pec.test", "secret");
    one.c("b select INBOX");
    let answer = one.c("c notify set (selected (MessageNew (uid body.peek[]) MessageExpunge))");
    assert!(answer.contains("c OK"), "{answer}");
    let large = [&b"Subject: large\r\n\r\n"[..], &vec![b'x'; 1 << 20]].concat();
    deliver(&store, &large, &[]);
    let told = one.notified();
    assert!(told.contains("* 1 EXISTS"), "{told}");
    assert!(!told.contains("FETCH"), "{}", &told[..told.len().min(300)]);
    deliver(&store, b"Subject: small\r\n\r\nx\r\n", &[]);
    let told = one.notified();
    assert!(
        told.contains("* 2 EXISTS") && told.contains("* 2 FETCH (UID 2 BODY[] {"),
        "{told}"
    );
}
