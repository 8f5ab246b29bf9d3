//! The 12 h / 24 h timers with controlled time: the provider is driven through its
//! library API with explicit instants, so the real durations (not seconds) are tested.

use std::time::Duration;

use jiff::SignedDuration;
use jiff::Timestamp;
use pecd::crypto::identity::Signer;
use pecd::pec::access::Limits;
use pecd::pec::compose::Issuer;
use pecd::pec::kind::Kind;
use pecd::pec::kind::ReceiptKind;
use pecd::pec::reader;
use pecd::provider::Provider;
use pecd::provider::Settings;
use pecd::provider::TimerDurations;
use pecd::store::Store;
use pecd::store::mailbox::INBOX;
use pecd::store::mailbox::NewMailbox;

use crate::support;

pub fn provider(dir: &std::path::Path) -> Provider {
    provider_sending(dir, Default::default())
}

/// [`provider`] with per-type sending limits.
pub fn provider_sending(
    dir: &std::path::Path,
    sending: std::collections::BTreeMap<
        pecd::store::mailbox::MailboxType,
        pecd::store::mailbox::SendingLimits,
    >,
) -> Provider {
    let store = Store::open(dir).unwrap();
    let t0 = start();
    store
        .write(|tx| {
            tx.mailboxes()
                .create(
                    "alice@pec-a.test",
                    "Segreta-123",
                    &NewMailbox::default(),
                    t0,
                )
                .map(|_| ())
        })
        .unwrap();
    let certs = support::root().join("certs/pec-a.test");
    let signer = Signer::load(&certs.join("signing.pem"), &certs.join("signing.key")).unwrap();
    let settings = Settings {
        issuer: Issuer {
            domain: "pec-a.test".into(),
            name: "Gestore A S.p.A.".into(),
        },
        limits: Limits::REGULATORY_MINIMUM,
        timers: TimerDurations {
            warning: Duration::from_secs(12 * 3600),
            last: Duration::from_secs(24 * 3600),
        },
        accept_ordinary_mail: true,
        sending,
        routes: Default::default(),
        clamd: None,
    };
    Provider::new(settings, store, signer, support::index(), None)
}

pub fn start() -> Timestamp {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

fn kinds(provider: &Provider) -> Vec<(Kind, Option<String>)> {
    let store = provider.store();
    store
        .read(|tx| tx.mailboxes().messages("alice@pec-a.test", INBOX))
        .unwrap()
        .iter()
        .map(|m| reader::read(&store.blobs().get(&m.blob).unwrap()).unwrap())
        .map(|r| (r.kind, r.daticert.and_then(|d| d.data.extended_error)))
        .collect()
}

fn submit(provider: &Provider) -> String {
    let message = b"From: alice@pec-a.test\r\nTo: bob@pec-b.test\r\nSubject: tempi\r\nMessage-ID: <t@client.test>\r\n\r\nx\r\n";
    match provider
        .submit(
            "alice@pec-a.test",
            "alice@pec-a.test",
            &["bob@pec-b.test".into()],
            message,
            start(),
        )
        .unwrap()
    {
        pecd::provider::access_point::Submission::Accepted(id) => id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn neither_receipt_gives_both_notices_at_12_and_24_hours() {
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(dir.path());
    submit(&provider);
    let at = |hours: i64, minutes: i64| {
        start() + SignedDuration::from_hours(hours) + SignedDuration::from_mins(minutes)
    };
    assert_eq!(provider.fire_due_timers(at(11, 59)).unwrap(), 0);
    assert_eq!(provider.fire_due_timers(at(12, 0)).unwrap(), 1);
    assert_eq!(
        provider.fire_due_timers(at(23, 0)).unwrap(),
        0,
        "not before 22 h, and only once"
    );
    assert_eq!(provider.fire_due_timers(at(24, 0)).unwrap(), 1);
    assert_eq!(
        provider.fire_due_timers(at(48, 0)).unwrap(),
        0,
        "the provider stops tracking"
    );
    let notices: Vec<_> = kinds(&provider)
        .into_iter()
        .filter(|(k, _)| *k == Kind::Receipt(ReceiptKind::DeliveryWarning))
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices[0].1.as_deref().unwrap().starts_with("4.4.7"));
    assert!(
        notices[1]
            .1
            .as_deref()
            .unwrap()
            .starts_with("5.4.1 - Gestore A S.p.A.")
    );
}

#[test]
fn a_presa_in_carico_leaves_only_the_24_hour_notice_and_a_consegna_none() {
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(dir.path());
    let id = submit(&provider);
    provider
        .store()
        .write(|tx| tx.timers().taken_in_charge(&id, "bob@pec-b.test"))
        .unwrap();
    let at = |hours: i64| start() + SignedDuration::from_hours(hours);
    assert_eq!(provider.fire_due_timers(at(13)).unwrap(), 0);
    assert_eq!(provider.fire_due_timers(at(24)).unwrap(), 1);

    let dir = tempfile::tempdir().unwrap();
    let provider = self::provider(dir.path());
    let id = submit(&provider);
    provider
        .store()
        .write(|tx| tx.timers().delivered(&id, "bob@pec-b.test"))
        .unwrap();
    assert_eq!(provider.fire_due_timers(at(30)).unwrap(), 0);
}

/// Two nodes of a cluster read the same due timer and both fire it: the holder gets
/// one notice, and the second firing changes nothing.
#[test]
fn a_timer_two_nodes_found_due_gives_one_notice() {
    let dir = tempfile::tempdir().unwrap();
    let provider = provider(dir.path());
    submit(&provider);
    let at = start() + SignedDuration::from_hours(12);
    let due = provider.store().read(|tx| tx.timers().due(at)).unwrap();
    assert_eq!(due.len(), 1);
    let (timer, which) = &due[0];
    assert!(provider.fire(timer, *which, at).unwrap());
    assert!(!provider.fire(timer, *which, at).unwrap(), "fired twice");
    let warnings = kinds(&provider)
        .into_iter()
        .filter(|(k, _)| *k == Kind::Receipt(ReceiptKind::DeliveryWarning))
        .count();
    assert_eq!(warnings, 1);
}
