//! The management plane's reads at a national provider's scale (a benchmark, not a
//! timed test): seeds 100,000 mailboxes of 20,000 holders in 50 entes, then measures
//! the summary the panel's home page shows and the mailbox search, p50 and p99, each
//! against a baseline measured in the same run on the same store: the summary against
//! counting the same numbers by reading every mailbox record, the search against
//! reading every record without filtering.
//!
//! Run with `cargo bench --bench manage` (`PECD_BENCH_MAILBOXES`, default 100000;
//! `PECD_BENCH_DIR` for the scratch folder, default the system temp dir).

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use jiff::Timestamp;
use pecd::manage::Actor;
use pecd::manage::mailboxes;
use pecd::manage::mailboxes::MailboxQuery;
use pecd::manage::reports;
use pecd::store::Store;
use pecd::store::mailbox::MailboxState;
use pecd::store::mailbox::MailboxType;
use pecd::store::mailbox::NewMailbox;
use pecd::store::mailbox::Profile;
use pecd::store::management::Holder;
use pecd::store::management::PostalAddress;

const ENTES: usize = 50;
const MAILBOXES_PER_HOLDER: usize = 5;
const DOMAIN: &str = "pec-bench.test";
const ROUNDS: usize = 101;

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("PECD_BENCH_MAILBOXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let base = std::env::var("PECD_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = base.join(format!("pecd-bench-manage-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, count);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn ente(n: usize) -> String {
    format!("Ente {:02}", n % ENTES)
}

/// A codice fiscale-shaped key; the bench stores records directly, past the checks.
fn codice_fiscale(n: usize) -> String {
    format!("BNCHLD{:08}X{:01}", n, n % 10)
}

fn seed(store: &Store, count: usize) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let holders = count / MAILBOXES_PER_HOLDER;
    let states = [
        MailboxState::Active,
        MailboxState::Active,
        MailboxState::Pending,
        MailboxState::Suspended,
        MailboxState::Deleted,
    ];
    for batch in (0..count).collect::<Vec<_>>().chunks(1_000) {
        store.write(|tx| {
            for &n in batch {
                let holder = n % holders;
                let ente = ente(holder);
                if n < holders {
                    tx.management().put_holder(&Holder {
                        codice_fiscale: codice_fiscale(holder),
                        nome: format!("Nome{holder}"),
                        cognome: format!("Cognome{holder}"),
                        ente: ente.clone(),
                        indirizzi: vec![PostalAddress {
                            email: format!("titolare{holder}@example.org"),
                            ..PostalAddress::default()
                        }],
                        attivita: Vec::new(),
                        created: now,
                    })?;
                }
                let settings = NewMailbox {
                    state: states[n % states.len()],
                    profile: Profile {
                        holder: Some(codice_fiscale(holder)),
                        ente,
                        kind: MailboxType::ALL[n % 3],
                        created_by: format!("operatore{}", n % 7),
                        ..Profile::default()
                    },
                    ..NewMailbox::default()
                };
                tx.mailboxes().create_without_password(
                    &format!("casella{n}@{DOMAIN}"),
                    &settings,
                    now,
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// p50 and p99 of `work` over [`ROUNDS`] runs.
fn percentiles(
    mut work: impl FnMut() -> anyhow::Result<usize>,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut size = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        size = work()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[ROUNDS / 2], times[ROUNDS * 99 / 100], size))
}

fn report(
    name: &str,
    measured: (Duration, Duration, usize),
    baseline: (Duration, Duration, usize),
) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "{name:<44} p50 {:>8.2} ms  p99 {:>8.2} ms  ({} results)  baseline p50 {:>8.2} ms  ratio {:.4}",
        ms(measured.0),
        ms(measured.1),
        measured.2,
        ms(baseline.0),
        measured.0.as_secs_f64() / baseline.0.as_secs_f64(),
    );
}

fn run(dir: &std::path::Path, count: usize) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let started = Instant::now();
    seed(&store, count)?;
    println!(
        "seeded {count} mailboxes of {} holders in {ENTES} entes in {:.1} s",
        count / MAILBOXES_PER_HOLDER,
        started.elapsed().as_secs_f64()
    );
    let gestore = Actor::gestore("bench");
    let lra = Actor {
        username: "lra".into(),
        role: pecd::manage::Role::Lra,
        ente: Some(ente(7)),
        domains: vec![DOMAIN.into()],
    };
    // The baseline: the same numbers by reading every mailbox record.
    let scan = percentiles(|| {
        let all = store.read(|tx| tx.mailboxes().list())?;
        let mut by_ente: BTreeMap<String, BTreeMap<&str, u64>> = BTreeMap::new();
        for m in &all {
            *by_ente
                .entry(m.profile.ente.clone())
                .or_default()
                .entry(m.state.as_str())
                .or_default() += 1;
        }
        Ok(by_ente.len())
    })?;
    let summary = percentiles(|| Ok(reports::summary(&store, &gestore, DOMAIN)?.entes.len()))?;
    report("summary, gestore (every ente)", summary, scan);
    let own = percentiles(|| Ok(reports::summary(&store, &lra, DOMAIN)?.entes.len()))?;
    report("summary, LRA (one ente)", own, scan);
    let query = MailboxQuery {
        cognome: "Cognome123".into(),
        ..MailboxQuery::default()
    };
    let everyone = percentiles(|| Ok(mailboxes::search(&store, &gestore, &query)?.len()))?;
    report("mailbox search by surname, gestore", everyone, scan);
    let ente_query = MailboxQuery {
        stato: "active".into(),
        ..MailboxQuery::default()
    };
    let one_ente = percentiles(|| Ok(mailboxes::search(&store, &lra, &ente_query)?.len()))?;
    report("mailbox search of one ente (active), LRA", one_ente, scan);
    Ok(())
}
