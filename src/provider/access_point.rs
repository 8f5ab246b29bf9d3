//! Punto di accesso (RFC 6109 §3.1): takes an authenticated user's message, runs the
//! formal checks, and either refuses it with a signed avviso di non accettazione or
//! certifies it: PEC msgid, ricevuta di accettazione to the sender, busta di trasporto
//! queued per destination provider, 12 h / 24 h timers per certified recipient — all
//! committed in one durable transaction before the SMTP reply.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::pec::access;
use crate::pec::access::Limits;
use crate::pec::access::Refusal;
use crate::pec::compose::Facts;
use crate::pec::compose::Unsigned;
use crate::pec::daticert::Recipient;
use crate::pec::envelope;
use crate::pec::envelope::Original;
use crate::pec::kind::ReceiptType;
use crate::pec::kind::RecipientType;
use crate::pec::receipt;
use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::Sealed;
use crate::provider::TimerDurations;
use crate::provider::deliver_notice;
use crate::provider::domain_of;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::log::Event;
use crate::store::log::EventKind;
use crate::store::mailbox::Mailbox;
use crate::store::mailbox::SendingLimits;
use crate::store::quarantine::Quarantined;
use crate::store::queue::Job;
use crate::store::queue::JobKind;
use crate::store::timers::Timer;

/// IMAP keyword set on every receipt and notice delivered to a user.
pub const RECEIPT_KEYWORD: &str = "$PecRicevuta";

/// The outcome of a submission: certified, or refused with a notice. Durable when it
/// is returned; the SMTP adapter ([`crate::provider::backend`]) words the reply.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Submission {
    /// Accepted: the PEC msgid of the transport envelope.
    Accepted(String),
    /// Refused; the avviso di non accettazione is in the sender's INBOX.
    Refused(Refusal),
    /// Refused for a virus (by signature name); the message is in quarantine and the
    /// avviso di non accettazione per virus in the sender's INBOX.
    Infected(String),
}

/// The refusal a mailbox's type gives a message to `recipients` recipients on `day`,
/// given what it sent already.
fn over_limit(
    mailbox: Option<&Mailbox>,
    recipients: usize,
    day: jiff::civil::Date,
    limits: SendingLimits,
) -> Option<Refusal> {
    if recipients > limits.max_recipients {
        return Some(Refusal::TooManyRecipients {
            count: recipients,
            limit: limits.max_recipients,
        });
    }
    let traffic = &mailbox?.traffic;
    let today = if traffic.day == Some(day) {
        traffic.sent_that_day
    } else {
        0
    };
    (today >= limits.max_per_day).then_some(Refusal::DailyLimit {
        limit: limits.max_per_day,
    })
}

impl Provider {
    /// What the mailbox's type lets it send (no limit of its own when the type has none
    /// configured: the access point's `[limits]` still hold).
    fn sending_limits(&self, mailbox: Option<&Mailbox>) -> SendingLimits {
        let settings = self.settings();
        mailbox
            .and_then(|m| settings.sending.get(&m.profile.kind))
            .copied()
            .unwrap_or(SendingLimits {
                max_recipients: usize::MAX,
                max_per_day: u64::MAX,
            })
    }

    /// Handles one submission (blocking: signs and commits).
    pub fn submit(
        &self,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        data: &[u8],
        now: Timestamp,
    ) -> Result<Submission, ProviderError> {
        let stamp = self.stamp(now);
        let id = stamp.message_id.clone();
        let limits = self.settings().limits;
        let (mut original, refusal) = match checked(data, mail_from, rcpt_to, user, limits) {
            Ok(checked) => checked,
            Err(refusal) => return self.refuse_unreadable(user, mail_from, rcpt_to, refusal, now),
        };
        let mailbox = self.store().read(|tx| tx.mailboxes().get(user))?;
        if let Some(default) = mailbox
            .as_ref()
            .and_then(|m| ReceiptType::parse(&m.receipt_type))
        {
            original.default_receipt_type(default);
        }
        let sending = self.sending_limits(mailbox.as_ref());
        let day = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let refusal = refusal.or_else(|| over_limit(mailbox.as_ref(), rcpt_to.len(), day, sending));
        let facts = original.facts(mail_from, &id, |address| self.classify(address));
        if let Some(refusal) = refusal {
            self.refuse(user, &facts, refusal.clone(), now)?;
            return Ok(Submission::Refused(refusal));
        }

        if let Some(virus) = self.scan(original.raw())? {
            self.refuse_virus(user, &facts, &virus, &original, now)?;
            return Ok(Submission::Infected(virus));
        }

        // Certify: the envelope carries the acceptance time, the receipt its own id.
        let transport = envelope::transport(self.issuer(), &facts, &original, &stamp);
        let (envelope_blob, _) = self.seal(&transport)?;
        let receipt_stamp = self.stamp(now);
        let acceptance = receipt::acceptance(self.issuer(), &facts, &receipt_stamp);
        let receipt = self.seal_notice(&acceptance)?;

        let id = facts.id.clone();
        let recipients = rcpt_to.len();
        let acceptance = Acceptance {
            user: user.to_string(),
            mail_from: mail_from.to_string(),
            by_domain: by_domain(rcpt_to),
            recipients,
            certified: certified_recipients(&facts),
            facts,
            receipt,
            receipt_id: receipt_stamp.message_id,
            envelope_blob,
            day,
            sending,
            timers: self.settings().timers,
            now,
        };
        self.store().write_owned(move |tx| acceptance.record(tx))?;
        self.wake_relay();
        self.metrics().accepted();
        tracing::info!(msgid = %id, mailbox = %user, recipients, "accettazione");
        Ok(Submission::Accepted(id))
    }

    /// Stores the signed avviso di non accettazione and logs the refusal.
    fn refuse(
        &self,
        user: &str,
        facts: &Facts,
        refusal: Refusal,
        now: Timestamp,
    ) -> Result<(), ProviderError> {
        self.metrics().refused(refusal.code());
        tracing::info!(msgid = %facts.id, mailbox = %user, reason = refusal.code(), "non accettazione");
        let stamp = self.stamp(now);
        let notice = receipt::non_acceptance(self.issuer(), facts, &refusal.reason(), &stamp);
        self.record_refusal(
            user,
            facts,
            EventKind::NonAccepted,
            &refusal.to_string(),
            &notice,
            &stamp.message_id,
            None,
            now,
        )
    }

    /// Quarantines an infected submission and tells the sender (RFC 6109 §3.1.3).
    fn refuse_virus(
        &self,
        user: &str,
        facts: &Facts,
        virus: &str,
        original: &Original,
        now: Timestamp,
    ) -> Result<(), ProviderError> {
        self.metrics().infected();
        tracing::warn!(msgid = %facts.id, mailbox = %user, %virus, "non accettazione per virus");
        let stamp = self.stamp(now);
        let notice = receipt::non_acceptance_virus(self.issuer(), facts, virus, &stamp);
        let quarantined = self.quarantined(original.raw(), virus, &facts.sender, now)?;
        self.record_refusal(
            user,
            facts,
            EventKind::VirusDetected,
            virus,
            &notice,
            &stamp.message_id,
            Some(quarantined),
            now,
        )
    }

    /// Signs the notice, then logs the refusal, keeps any quarantined message and
    /// delivers the notice in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn record_refusal(
        &self,
        user: &str,
        facts: &Facts,
        kind: EventKind,
        detail: &str,
        notice: &Unsigned,
        notice_id: &str,
        quarantined: Option<Quarantined>,
        now: Timestamp,
    ) -> Result<(), ProviderError> {
        let sealed = self.seal_notice(notice)?;
        self.store().write(|tx| {
            let mut logged = event(kind, facts, user, now, vec![notice_id.to_string()]);
            logged.detail = Some(detail.to_string());
            tx.events().log(logged)?;
            if let Some(quarantined) = &quarantined {
                tx.quarantine().keep(quarantined)?;
            }
            deliver_notice(tx, user, &sealed, notice_id, now)?;
            Ok(())
        })?;
        Ok(())
    }

    /// A message the access point cannot read (not RFC 5322 at all, or nested too
    /// deep): the notice names only the SMTP envelope.
    fn refuse_unreadable(
        &self,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        refusal: Refusal,
        now: Timestamp,
    ) -> Result<Submission, ProviderError> {
        let facts = Facts {
            sender: mail_from.to_string(),
            recipients: rcpt_to
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    kind: self.classify(a),
                })
                .collect(),
            reply_to: mail_from.to_string(),
            subject: None,
            id: self.new_id(&crate::pec::time::LocalTime::italian(now)),
            msgid: None,
        };
        self.refuse(user, &facts, refusal.clone(), now)?;
        Ok(Submission::Refused(refusal))
    }
}

/// The submitted message, parsed, with the refusal the formal checks give it if any;
/// `Err` the refusal of a message that does not parse.
fn checked(
    data: &[u8],
    mail_from: &str,
    rcpt_to: &[String],
    user: &str,
    limits: Limits,
) -> Result<(Original, Option<Refusal>), Refusal> {
    let original = Original::parse(data).map_err(|error| access::unreadable(&error))?;
    let refusal = access::check(&original, mail_from, rcpt_to, user, limits).err();
    Ok((original, refusal))
}

/// What accepting a message commits, signed beforehand: the committer may run it
/// again, and it spends no signature.
struct Acceptance {
    /// The authenticated user, who sent it.
    user: String,
    mail_from: String,
    facts: Facts,
    /// The SMTP recipients, by destination domain: one busta di trasporto job each.
    by_domain: BTreeMap<String, Vec<String>>,
    /// How many SMTP recipients, against the mailbox's sending limits.
    recipients: usize,
    /// The recipients the 12 h / 24 h timers watch.
    certified: Vec<Recipient>,
    /// The ricevuta di accettazione, and its Message-ID.
    receipt: Sealed,
    receipt_id: String,
    envelope_blob: BlobId,
    /// The day the mailbox's daily allowance counts it on.
    day: jiff::civil::Date,
    sending: SendingLimits,
    timers: TimerDurations,
    now: Timestamp,
}

impl Acceptance {
    fn record(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let (facts, user, now) = (&self.facts, &self.user, self.now);
        // The Reply-To travels in `detail`: the timers' notices restate it in daticert.
        let mut accepted = event(
            EventKind::Accepted,
            facts,
            user,
            now,
            vec![self.receipt_id.clone()],
        );
        accepted.detail = Some(facts.reply_to.clone());
        tx.events().log(accepted)?;
        if tx
            .mailboxes()
            .count_sent(user, self.recipients, self.day, self.sending)?
            .is_err()
        {
            // Another submission of the same mailbox used the last of the day's
            // allowance since the check above: this one is retried and refused then.
            return Err(StoreError::Conflict(format!(
                "{user} reached its sending limit"
            )));
        }
        for (destination, rcpts) in &self.by_domain {
            tx.queue().enqueue(Job::new(
                destination,
                &self.mail_from,
                rcpts.clone(),
                self.envelope_blob.clone(),
                now,
                JobKind::Transport,
            ))?;
        }
        deliver_notice(tx, user, &self.receipt, &self.receipt_id, now)?;
        for recipient in &self.certified {
            tx.timers().arm(Timer::new(
                &facts.id,
                &recipient.address,
                &self.mail_from,
                now,
                self.timers.warning,
                self.timers.last,
            ))?;
        }
        Ok(())
    }
}

/// The SMTP recipients grouped by their domain.
fn by_domain(rcpt_to: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rcpt in rcpt_to {
        by_domain
            .entry(domain_of(rcpt))
            .or_default()
            .push(rcpt.clone());
    }
    by_domain
}

/// The daticert's certified recipients (the ones the timers watch).
fn certified_recipients(facts: &Facts) -> Vec<Recipient> {
    facts
        .recipients
        .iter()
        .filter(|r| r.kind == RecipientType::Certified)
        .cloned()
        .collect()
}

/// A log record for a submission event.
pub fn event(
    kind: EventKind,
    facts: &Facts,
    mailbox: &str,
    now: Timestamp,
    related: Vec<String>,
) -> Event {
    Event {
        kind,
        time: now,
        pec_id: Some(facts.id.clone()),
        client_msgid: facts.msgid.clone(),
        sender: Some(facts.sender.clone()),
        recipients: facts.recipients.iter().map(|r| r.address.clone()).collect(),
        subject: facts.subject.clone(),
        mailbox: Some(mailbox.to_string()),
        related,
        provider: None,
        detail: None,
    }
}
