//! A login that no longer stands ends the session before it reads the mailbox again:
//! the old holder after a subentro, anyone after a new password, a suspension or a
//! deletion. Each test opens a session, takes the login away behind it, and looks at
//! what the next command, poll or NOTIFY report gives away.

use super::Client;
use super::RFC_MESSAGE;
use super::USER;
use super::deliver;
use super::store;
use crate::store::Store;
use crate::store::mailbox::MailboxState;

/// A session logged in with a message in the selected INBOX.
fn selected(store: &Store) -> Client<'_> {
    deliver(store, RFC_MESSAGE, &[]);
    let mut client = Client::new(store);
    assert!(client.c("a1 LOGIN mrc@pec.test secret").contains("a1 OK"));
    assert!(client.c("a2 SELECT INBOX").contains("a2 OK"));
    client
}

/// The next command gets `* BYE` and nothing of the mailbox, and the session takes
/// no further command.
fn assert_ended(client: &mut Client<'_>) {
    let out = client.c("a3 FETCH 1 BODY[]");
    assert!(out.starts_with("* BYE "), "{out}");
    assert!(!out.contains("Minutes"), "{out}");
    assert!(!out.contains("a3 "), "{out}");
    assert!(client.exchange.session().ended());
}

#[test]
fn the_old_holder_is_logged_out_when_a_subentro_revokes_the_password() {
    let (_dir, store) = store();
    let mut client = selected(&store);
    store
        .write(|tx| tx.mailboxes().revoke_password(USER))
        .unwrap();
    assert_ended(&mut client);
}

#[test]
fn a_new_password_ends_the_sessions_opened_with_the_old_one() {
    let (_dir, store) = store();
    let mut client = selected(&store);
    store
        .write(|tx| tx.mailboxes().set_password(USER, "secret"))
        .unwrap();
    // Even the same password: the hash has a new salt, and a password set anew
    // ends every session, as the holder who set it expects.
    assert_ended(&mut client);
    let mut again = Client::new(&store);
    assert!(again.c("b1 LOGIN mrc@pec.test secret").contains("b1 OK"));
    assert!(again.c("b2 SELECT INBOX").contains("b2 OK"));
}

#[test]
fn suspension_and_deletion_end_open_sessions() {
    let (_dir, store) = store();
    let mut client = selected(&store);
    store
        .write(|tx| {
            tx.mailboxes()
                .update(USER, |m| m.state = MailboxState::Suspended)
                .map(|_| ())
        })
        .unwrap();
    assert_ended(&mut client);

    let (_dir, store) = super::store();
    let mut client = selected(&store);
    store.write(|tx| tx.mailboxes().delete(USER)).unwrap();
    assert_ended(&mut client);
}

/// IDLE and NOTIFY report between commands: after a revocation they report the end,
/// not the message the new holder just received.
#[test]
fn reports_between_commands_end_instead_of_showing_new_mail() {
    let (_dir, store) = store();
    let mut client = selected(&store);
    assert!(
        client
            .c("n1 NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge))")
            .contains("n1 OK")
    );
    store
        .write(|tx| tx.mailboxes().revoke_password(USER))
        .unwrap();
    deliver(
        &store,
        b"Subject: per il nuovo titolare\r\n\r\nriservato\r\n",
        &[],
    );
    let notified = client.notified();
    assert!(notified.starts_with("* BYE "), "{notified}");
    assert!(!notified.contains("nuovo titolare"), "{notified}");
    assert!(client.exchange.session().ended());

    let (_dir, store) = super::store();
    let mut idling = selected(&store);
    assert!(idling.c("i1 IDLE").starts_with("+ "));
    store
        .write(|tx| tx.mailboxes().set_password(USER, "nuova"))
        .unwrap();
    deliver(&store, b"Subject: ancora riservato\r\n\r\nx\r\n", &[]);
    let polled = idling.poll();
    assert!(polled.starts_with("* BYE "), "{polled}");
    assert!(!polled.contains("EXISTS"), "{polled}");
    let done = idling.c("DONE");
    assert!(!done.contains("i1 OK"), "{done}");
}
