//! The management rules, each attack performed: another ente's operator reaching what
//! is not theirs, an LRA doing the gestore's work, refused input changing nothing.

use std::sync::Mutex;

use jiff::Timestamp;

use crate::config::MailboxTypeConfig;
use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::domains;
use crate::manage::domains::NewDomain;
use crate::manage::holders;
use crate::manage::holders::HolderForm;
use crate::manage::mailboxes;
use crate::manage::mailboxes::Activation;
use crate::manage::mailboxes::MailboxForm;
use crate::manage::mailboxes::MailboxQuery;
use crate::manage::mailboxes::Settings;
use crate::manage::operators;
use crate::manage::operators::NewOperator;
use crate::manage::reports;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::links::LinkDigest;
use crate::store::links::LinkPurpose;
use crate::store::links::Redemption;
use crate::store::mailbox::MailboxState;
use crate::store::management::PostalAddress;

const OWN: &str = "pec-a.test";
const ROMA: &str = "Comune di Roma";
const MILANO: &str = "Comune di Milano";

fn now() -> Timestamp {
    "2026-12-07T09:00:00Z".parse().unwrap()
}

fn settings() -> Settings {
    Settings {
        domain: OWN.into(),
        types: MailboxTypeConfig::defaults(),
    }
}

fn gestore() -> Actor {
    Actor::gestore("admin")
}

/// A store with two entes, each with its LRA on its own domain, and an aggregator.
fn provider() -> (tempfile::TempDir, Store, Actor, Actor, Actor) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (domain, ente) in [("roma.pec-a.test", ROMA), ("milano.pec-a.test", MILANO)] {
        let new = NewDomain {
            name: domain.into(),
            ente: Some(ente.into()),
        };
        domains::add(&store, &gestore(), OWN, &new, now()).unwrap();
    }
    let operator = |username: &str, role: &str, ente: &str, domain: &str| NewOperator {
        username: username.into(),
        role: role.into(),
        ente: Some(ente.into()),
        domains: vec![domain.into()],
        email: Some(format!("{username}@example.org")),
        password: "una-password-lunga".into(),
    };
    let lra_roma = operators::add(
        &store,
        &gestore(),
        OWN,
        &operator("roma", "lra", ROMA, "roma.pec-a.test"),
        now(),
    )
    .unwrap();
    let lra_milano = operators::add(
        &store,
        &gestore(),
        OWN,
        &operator("milano", "lra", MILANO, "milano.pec-a.test"),
        now(),
    )
    .unwrap();
    let region = operators::add(
        &store,
        &gestore(),
        OWN,
        &operator("regione", "aggregator", "Regione", "pec-a.test"),
        now(),
    )
    .unwrap();
    let actor = |name: &str| {
        operators::authenticate(&store, name, "una-password-lunga")
            .unwrap()
            .0
    };
    let (a, b, c) = (
        actor(&lra_roma.username),
        actor(&lra_milano.username),
        actor(&region.username),
    );
    (dir, store, a, b, c)
}

fn mailbox_form(address: &str, cf: &str) -> MailboxForm {
    MailboxForm {
        address: address.into(),
        codice_fiscale: cf.into(),
        nome: "Mario".into(),
        cognome: "Rossi".into(),
        email: "mario.rossi@example.org".into(),
        tipo: "STANDARD".into(),
        ..MailboxForm::default()
    }
}

const MARIO: &str = "RSSMRA85T10A562S";

/// Records what the activation hook was asked to mail.
struct Mailed(Mutex<Vec<Activation>>);

impl Mailed {
    fn hook(&self) -> impl Fn(&mut Tx<'_>, &Activation) -> Result<(), StoreError> + Sync + '_ {
        |_, activation| {
            self.0.lock().unwrap().push(activation.clone());
            Ok(())
        }
    }
}

#[test]
fn an_lra_creates_a_pending_mailbox_that_only_the_gestore_activates() {
    let (_dir, store, roma, _, _) = provider();
    let created = mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form("mario@roma.pec-a.test", MARIO),
        now(),
    )
    .unwrap();
    assert_eq!(created.state, MailboxState::Pending);
    assert_eq!(created.ente, ROMA);
    // Waiting for activation: no login, whatever the password.
    let login = store
        .read(|tx| tx.mailboxes().verify_password("mario@roma.pec-a.test", "x"))
        .unwrap();
    assert!(!login);
    let mailed = Mailed(Mutex::new(Vec::new()));
    let hook = mailed.hook();
    let refused = mailboxes::activate(&store, &roma, "mario@roma.pec-a.test", now(), &hook);
    assert!(
        matches!(refused, Err(ManageError::GestoreOnly)),
        "{refused:?}"
    );
    assert!(mailed.0.lock().unwrap().is_empty());
    let active =
        mailboxes::activate(&store, &gestore(), "mario@roma.pec-a.test", now(), &hook).unwrap();
    assert_eq!(active.state, MailboxState::Active);
    assert_eq!(
        (active.nome.as_str(), active.cognome.as_str()),
        ("Mario", "Rossi")
    );
    let sent = mailed.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].recipients,
        ["mario.rossi@example.org", "roma@example.org"]
    );
    let detail = mailboxes::get(&store, &roma, "mario@roma.pec-a.test").unwrap();
    let states: Vec<_> = detail
        .history
        .iter()
        .map(|c| (c.old.as_str(), c.new.as_str(), c.by.as_str()))
        .collect();
    assert_eq!(
        states,
        [("", "pending", "roma"), ("pending", "active", "admin")]
    );
}

#[test]
fn another_entes_operator_finds_nothing_of_it() {
    let (_dir, store, roma, milano, region) = provider();
    mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form("mario@roma.pec-a.test", MARIO),
        now(),
    )
    .unwrap();
    for outsider in [&milano, &region] {
        let seen = mailboxes::get(&store, outsider, "mario@roma.pec-a.test");
        assert!(matches!(seen, Err(ManageError::NotFound(_))), "{seen:?}");
        let holder = holders::get(&store, outsider, ROMA, MARIO);
        assert!(
            matches!(holder, Err(ManageError::NotFound(_))),
            "{holder:?}"
        );
        let suspended = mailboxes::suspend(&store, outsider, "mario@roma.pec-a.test", now());
        assert!(matches!(suspended, Err(ManageError::NotFound(_))));
        let found = mailboxes::search(
            &store,
            outsider,
            &MailboxQuery {
                ente: Some(ROMA.into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(found.is_empty(), "{found:?}");
        let holders_found = holders::search(&store, outsider, &Default::default()).unwrap();
        assert!(holders_found.is_empty());
    }
    // An LRA cannot create in another ente's domain either.
    let foreign = mailboxes::create(
        &store,
        &milano,
        &settings(),
        &mailbox_form("x@roma.pec-a.test", MARIO),
        now(),
    );
    assert!(
        matches!(foreign, Err(ManageError::Invalid { ref field, .. }) if field == "address"),
        "{foreign:?}"
    );
    // The same codice fiscale in another ente is another ente's holder: Milano does not
    // learn Roma's name for it.
    let mut form = mailbox_form("mario@milano.pec-a.test", MARIO);
    form.nome = "Marco".into();
    let theirs = mailboxes::create(&store, &milano, &settings(), &form, now()).unwrap();
    assert_eq!(theirs.nome, "Marco");
}

#[test]
fn a_known_codice_fiscale_fills_the_holder() {
    let (_dir, store, roma, _, _) = provider();
    mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form("mario@roma.pec-a.test", MARIO),
        now(),
    )
    .unwrap();
    let mut second = mailbox_form("mario.rossi@roma.pec-a.test", "rssmra85t10a562s");
    second.nome.clear();
    second.cognome.clear();
    let row = mailboxes::create(&store, &roma, &settings(), &second, now()).unwrap();
    assert_eq!(
        (row.nome.as_str(), row.cognome.as_str()),
        ("Mario", "Rossi")
    );
}

#[test]
fn a_refused_request_changes_nothing() {
    let (_dir, store, roma, _, _) = provider();
    let bad_cf = mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form("mario@roma.pec-a.test", "RSSMRA85T10A562X"),
        now(),
    );
    assert!(
        matches!(bad_cf, Err(ManageError::Invalid { ref field, .. }) if field == "codice_fiscale")
    );
    let mut bad_type = mailbox_form("mario@roma.pec-a.test", MARIO);
    bad_type.tipo = "ILLIMITATA".into();
    assert!(mailboxes::create(&store, &roma, &settings(), &bad_type, now()).is_err());
    let holder = HolderForm {
        codice_fiscale: MARIO.into(),
        nome: "Mario".into(),
        cognome: "Rossi".into(),
        indirizzi: vec![PostalAddress {
            cap: "001".into(),
            ..Default::default()
        }],
        ..HolderForm::default()
    };
    let refused = holders::create(&store, &roma, &holder, now());
    assert!(
        matches!(refused, Err(ManageError::Invalid { ref field, .. }) if field == "indirizzi[0].cap"),
        "{refused:?}"
    );
    assert!(store.read(|tx| tx.mailboxes().list()).unwrap().is_empty());
    assert!(
        store
            .read(|tx| tx.management().holders(None))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_closed_address_is_never_given_again_and_the_reports_keep_it() {
    let (_dir, store, roma, _, region) = provider();
    let address = "mario@roma.pec-a.test";
    mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form(address, MARIO),
        now(),
    )
    .unwrap();
    let hook = |_: &mut Tx<'_>, _: &Activation| Ok(());
    mailboxes::activate(&store, &gestore(), address, now(), &hook).unwrap();
    assert!(matches!(
        mailboxes::cease(&store, &roma, address, now()),
        Err(ManageError::GestoreOnly)
    ));
    let closed = mailboxes::cease(&store, &gestore(), address, now()).unwrap();
    assert_eq!(closed.state, MailboxState::Deleted);
    let again = mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form(address, MARIO),
        now(),
    );
    assert!(matches!(again, Err(ManageError::Exists(_))), "{again:?}");
    let summary = reports::summary(&store, &region, OWN).unwrap();
    let line = summary.entes.iter().find(|e| e.ente == ROMA).unwrap();
    assert_eq!(line.counts.in_state("deleted"), 1);
    assert_eq!(line.counts.mailboxes(), 1);
    assert_eq!(line.counts.by_operator.get("roma"), Some(&1));
    // The LRA's summary is its ente alone.
    let own = reports::summary(&store, &roma, OWN).unwrap();
    assert_eq!(own.entes.len(), 1);
    assert_eq!(own.entes[0].ente, ROMA);
}

#[test]
fn counters_follow_every_change_of_state_and_type() {
    let (_dir, store, roma, _, _) = provider();
    for (n, address) in [
        "a@roma.pec-a.test",
        "b@roma.pec-a.test",
        "c@roma.pec-a.test",
    ]
    .iter()
    .enumerate()
    {
        let mut form = mailbox_form(address, MARIO);
        if n == 2 {
            form.tipo = "MASSIVA-BASE".into();
        }
        mailboxes::create(&store, &roma, &settings(), &form, now()).unwrap();
    }
    let hook = |_: &mut Tx<'_>, _: &Activation| Ok(());
    mailboxes::activate(&store, &gestore(), "a@roma.pec-a.test", now(), &hook).unwrap();
    mailboxes::activate(&store, &gestore(), "b@roma.pec-a.test", now(), &hook).unwrap();
    mailboxes::suspend(&store, &roma, "b@roma.pec-a.test", now()).unwrap();
    let counts = &reports::summary(&store, &roma, OWN).unwrap().entes[0].counts;
    assert_eq!(
        (
            counts.in_state("active"),
            counts.in_state("suspended"),
            counts.in_state("pending")
        ),
        (1, 1, 1)
    );
    assert_eq!(counts.by_type.get("STANDARD"), Some(&2));
    assert_eq!(counts.by_type.get("MASSIVA-BASE"), Some(&1));
    // The counters agree with a count of the records.
    let rows = mailboxes::search(&store, &roma, &MailboxQuery::default()).unwrap();
    assert_eq!(rows.len() as u64, counts.mailboxes());
}

#[test]
fn subentro_keeps_the_mailbox_records_the_old_holder_and_revokes_his_credentials() {
    let (_dir, store, roma, _, _) = provider();
    let address = "ufficio@roma.pec-a.test";
    mailboxes::create(
        &store,
        &roma,
        &settings(),
        &mailbox_form(address, MARIO),
        now(),
    )
    .unwrap();
    let mut next = mailbox_form(address, "VRDGPP80A01H501U");
    next.nome = "Giuseppe".into();
    next.cognome = "Verdi".into();
    // Mario holds the mailbox, its password, and a link for a new one not yet used.
    store
        .write(|tx| {
            tx.mailboxes()
                .update(address, |m| m.state = MailboxState::Active)?;
            tx.mailboxes().set_password(address, "password di Mario")
        })
        .unwrap();
    let link = live_link(&store, address);
    let row = mailboxes::change_holder(&store, &roma, address, &next, now()).unwrap();
    assert_eq!(row.codice_fiscale, "VRDGPP80A01H501U");
    let history = mailboxes::get(&store, &roma, address).unwrap().history;
    let changes: Vec<_> = history
        .iter()
        .rev()
        .take(2)
        .map(|c| (c.field.as_str(), c.old.as_str(), c.new.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("credenziali", "", "revocate"),
            ("titolare", MARIO, "VRDGPP80A01H501U")
        ]
    );
    // Mario can neither log in nor use his link to read Giuseppe's certified mail.
    let (password, redemption) = store
        .read(|tx| {
            let password = tx
                .mailboxes()
                .verify_password(address, "password di Mario")?;
            Ok((password, tx.links().check(&link, now())?))
        })
        .unwrap();
    assert!(!password);
    assert_eq!(redemption, Redemption::Superseded);
}

/// Who changed a holder's name or contacts, when, and from what, is in the history of
/// each of the holder's mailboxes, and only theirs.
#[test]
fn a_holder_s_changes_are_in_the_history_of_the_holder_s_mailboxes() {
    let (_dir, store, roma, _, _) = provider();
    let (first, second, other) = (
        "ufficio@roma.pec-a.test",
        "protocollo@roma.pec-a.test",
        "verdi@roma.pec-a.test",
    );
    for (address, cf) in [(first, MARIO), (second, MARIO), (other, "VRDGPP80A01H501U")] {
        let form = mailbox_form(address, cf);
        mailboxes::create(&store, &roma, &settings(), &form, now()).unwrap();
    }
    let ente = roma.acting_ente(None);
    let mario = holders::get(&store, &roma, &ente, MARIO).unwrap();
    let mut form = HolderForm {
        codice_fiscale: mario.codice_fiscale,
        nome: mario.nome,
        cognome: mario.cognome,
        ente: Some(ente.clone()),
        indirizzi: mario.indirizzi,
        attivita: mario.attivita,
    };
    form.cognome = "Rossi Bianchi".into();
    form.indirizzi[0].email = "mario@example.net".into();
    holders::update(&store, &roma, &ente, MARIO, &form, now()).unwrap();
    for address in [first, second] {
        let history = mailboxes::get(&store, &roma, address).unwrap().history;
        let changes: Vec<_> = history
            .iter()
            .filter(|c| c.field.starts_with("titolare: "))
            .map(|c| {
                (
                    c.by.as_str(),
                    c.field.as_str(),
                    c.old.as_str(),
                    c.new.as_str(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            [
                (
                    roma.username.as_str(),
                    "titolare: cognome",
                    "Rossi",
                    "Rossi Bianchi"
                ),
                (
                    roma.username.as_str(),
                    "titolare: indirizzi",
                    "mario.rossi@example.org",
                    "mario@example.net"
                ),
            ],
            "{address}"
        );
    }
    let untouched = mailboxes::get(&store, &roma, other).unwrap().history;
    assert!(!untouched.iter().any(|c| c.field.starts_with("titolare: ")));
    // Saved again unchanged: nothing more is recorded.
    holders::update(&store, &roma, &ente, MARIO, &form, now()).unwrap();
    let again = mailboxes::get(&store, &roma, first).unwrap().history;
    assert_eq!(
        again
            .iter()
            .filter(|c| c.field.starts_with("titolare: "))
            .count(),
        2
    );
}

/// A one-time link of a live new-password request for `address`, as if mailed.
fn live_link(store: &Store, address: &str) -> LinkDigest {
    let link = LinkDigest::of(address.as_bytes());
    let day = std::time::Duration::from_secs(86_400);
    store
        .write(|tx| {
            let request = tx
                .links()
                .request(address, LinkPurpose::NewPassword, now(), day)?;
            tx.links()
                .issue(&link, address, request.id, now())
                .map(|_| ())
        })
        .unwrap();
    link
}

#[test]
fn a_disabled_operator_gets_no_links_and_a_suspension_voids_the_live_one() {
    let (_dir, store, roma, _, _) = provider();
    let address = "mario@roma.pec-a.test";
    let form = mailbox_form(address, MARIO);
    mailboxes::create(&store, &roma, &settings(), &form, now()).unwrap();
    operators::set_disabled(&store, &gestore(), "roma", true).unwrap();
    let mailed = Mailed(Mutex::new(Vec::new()));
    mailboxes::activate(&store, &gestore(), address, now(), &mailed.hook()).unwrap();
    let sent = mailed.0.lock().unwrap().clone();
    assert_eq!(sent[0].recipients, ["mario.rossi@example.org"]);
    // A mailbox suspended (say, as compromised) cannot be given a password meanwhile.
    let link = live_link(&store, address);
    mailboxes::suspend(&store, &gestore(), address, now()).unwrap();
    let redemption = store.read(|tx| tx.links().check(&link, now())).unwrap();
    assert_eq!(redemption, Redemption::Superseded);
}

#[test]
fn only_the_gestore_adds_domains_and_operators() {
    let (_dir, store, roma, _, region) = provider();
    for actor in [&roma, &region] {
        let domain = domains::add(
            &store,
            actor,
            OWN,
            &NewDomain {
                name: "x.test".into(),
                ente: None,
            },
            now(),
        );
        assert!(matches!(domain, Err(ManageError::GestoreOnly)));
        let new = NewOperator {
            username: "intruso".into(),
            role: "gestore".into(),
            ente: None,
            domains: Vec::new(),
            email: None,
            password: "una-password-lunga".into(),
        };
        assert!(matches!(
            operators::add(&store, actor, OWN, &new, now()),
            Err(ManageError::GestoreOnly)
        ));
    }
    let disabled = operators::set_disabled(&store, &gestore(), "roma", true).unwrap();
    assert!(disabled.disabled);
    assert!(operators::authenticate(&store, "roma", "una-password-lunga").is_none());
}

/// An operator named as the API, the CLI or the daemon would receive the credential
/// links of every mailbox they created.
#[test]
fn no_operator_takes_the_name_the_api_the_cli_or_the_daemon_acts_under() {
    let (_dir, store, _, _, _) = provider();
    for name in crate::manage::NOT_OPERATORS {
        let new = NewOperator {
            username: name.to_uppercase(),
            role: "lra".into(),
            ente: Some(ROMA.into()),
            domains: vec!["roma.pec-a.test".into()],
            email: Some("lra@example.org".into()),
            password: "una-password-lunga".into(),
        };
        let refused = operators::add(&store, &gestore(), OWN, &new, now());
        assert!(
            matches!(&refused, Err(ManageError::Invalid { field, .. }) if field == "username"),
            "{name}: {refused:?}"
        );
    }
}
