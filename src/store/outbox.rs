//! The durable outbox of ordinary mail (not PEC) the provider sends to people through
//! its smarthost: one record per recipient, so that each one's acceptance is known,
//! retried by the mailer (`notify::mailer`) until the smarthost takes it. A record says
//! what to write, not the written mail: a one-time link's token is made when the mail
//! goes out and is never stored in clear ([`crate::store::links`]).

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::decode;
use crate::store::encode;
use crate::store::kv::Table;
use crate::store::links::LinkPurpose;

const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// What a queued mail says.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OutboxContent {
    /// A one-time link to choose a mailbox's password, of the mailbox's request
    /// `request`.
    PasswordLink {
        /// The mailbox.
        mailbox: String,
        /// Activation or new password.
        purpose: LinkPurpose,
        /// The link request it carries a link of.
        request: u64,
    },
}

/// One mail to one recipient.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct OutboxMail {
    /// Its id (set by [`Outbox::enqueue`]).
    pub id: u64,
    /// The recipient (an ordinary e-mail address).
    pub to: String,
    /// What it says.
    pub content: OutboxContent,
    /// Attempts so far.
    pub attempts: u32,
    /// When to try next.
    pub next_attempt: Timestamp,
    /// When it was queued.
    pub created: Timestamp,
    /// The last failure.
    pub last_error: Option<String>,
}

impl OutboxMail {
    /// A mail to `to`, due at `now`.
    pub fn new(to: &str, content: OutboxContent, now: Timestamp) -> OutboxMail {
        OutboxMail {
            id: 0,
            to: to.to_string(),
            content,
            attempts: 0,
            next_attempt: now,
            created: now,
            last_error: None,
        }
    }
}

/// The outbox: `Outbox<&mut Tx>` changes it, `Outbox<&ReadTx>` reads a snapshot.
pub struct Outbox<T>(pub(super) T);

impl Outbox<&mut Tx<'_>> {
    /// Queues a mail; returns its id.
    pub fn enqueue(&mut self, mut mail: OutboxMail) -> Result<u64, StoreError> {
        mail.id = self.0.next("outbox")?;
        let record = encode(&mail)?;
        self.table()?.insert(mail.id, record.as_slice())?;
        Ok(mail.id)
    }

    /// The smarthost took it, or it became moot: removes it.
    pub fn remove(&mut self, id: u64) -> Result<(), StoreError> {
        self.table()?.remove(id).map(drop)
    }

    /// Counts a failed attempt and sets when to try again; a mail no longer queued is
    /// left alone.
    pub fn reschedule(&mut self, id: u64, next: Timestamp, error: &str) -> Result<(), StoreError> {
        let mut table = self.table()?;
        let found = table.get(id)?.map(|b| decode::<OutboxMail>(b.value()));
        let Some(mut mail) = found.transpose()? else {
            return Ok(());
        };
        mail.next_attempt = next;
        mail.attempts = mail.attempts.saturating_add(1);
        mail.last_error = Some(error.to_string());
        table.insert(id, encode(&mail)?.as_slice())?;
        Ok(())
    }

    fn table(&mut self) -> Result<Table<'_, u64, &'static [u8]>, StoreError> {
        self.0.table(OUTBOX)
    }
}

impl Outbox<&ReadTx<'_>> {
    /// Mails due at `now`, oldest first, at most `limit`.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxMail>, StoreError> {
        let table = self.0.table(OUTBOX)?;
        table
            .iter()?
            .map(|entry| decode::<OutboxMail>(entry?.1.value()))
            .filter(|mail| mail.as_ref().map_or(true, |m| m.next_attempt <= now))
            .take(limit)
            .collect()
    }

    /// Every queued mail.
    pub fn all(&self) -> Result<Vec<OutboxMail>, StoreError> {
        self.0.values(OUTBOX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn link(mailbox: &str) -> OutboxContent {
        OutboxContent::PasswordLink {
            mailbox: mailbox.into(),
            purpose: LinkPurpose::Activation,
            request: 1,
        }
    }

    #[test]
    fn a_mail_stays_until_removed_and_waits_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let later = Timestamp::from_second(1_800_000_300).unwrap();
        let id = store
            .write(|tx| {
                tx.outbox().enqueue(OutboxMail::new(
                    "anna@example.test",
                    link("m@pec-a.test"),
                    now,
                ))
            })
            .unwrap();
        let due = store.read(|tx| tx.outbox().due(now, 10)).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, id);
        store
            .write(|tx| tx.outbox().reschedule(id, later, "421 busy"))
            .unwrap();
        assert!(
            store
                .read(|tx| tx.outbox().due(now, 10))
                .unwrap()
                .is_empty()
        );
        let due = store.read(|tx| tx.outbox().due(later, 10)).unwrap();
        assert_eq!(due[0].attempts, 1);
        assert_eq!(due[0].last_error.as_deref(), Some("421 busy"));
        store.write(|tx| tx.outbox().remove(id)).unwrap();
        assert!(store.read(|tx| tx.outbox().all()).unwrap().is_empty());
    }
}
