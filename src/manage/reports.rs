//! Reports: how many mailboxes each ente has, in which state, of which type, created by
//! whom, and what they sent, received and keep. The summary reads the counters kept
//! with the data ([`crate::store::management::Counts`]), never every mailbox, so it
//! answers at once however many there are. An LRA sees its ente; the gestore and the
//! aggregators see every ente.

use serde::Serialize;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::store::Store;
use crate::store::management::Counts;

/// One ente's line of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct EnteReport {
    /// The ente (`""`: the provider's own mailboxes).
    pub ente: String,
    /// Its operators.
    pub operators: Vec<String>,
    /// Its operators' e-mail addresses.
    pub contacts: Vec<String>,
    /// The domains dedicated to it, and those its operators may use.
    pub domains: Vec<String>,
    /// Its counters.
    pub counts: Counts,
}

/// The summary an actor may read.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Managed domains (the gestore's and aggregators' view; an LRA's own otherwise).
    pub domains: Vec<String>,
    /// One line per ente within reach.
    pub entes: Vec<EnteReport>,
    /// The sum of the lines.
    pub totals: Counts,
}

fn add(total: &mut Counts, one: &Counts) {
    let merge = |into: &mut std::collections::BTreeMap<String, u64>,
                 from: &std::collections::BTreeMap<String, u64>| {
        for (key, value) in from {
            *into.entry(key.clone()).or_default() += value;
        }
    };
    merge(&mut total.by_state, &one.by_state);
    merge(&mut total.by_type, &one.by_type);
    merge(&mut total.by_operator, &one.by_operator);
    total.bytes += one.bytes;
    total.received += one.received;
    total.sent += one.sent;
    total.archive += one.archive;
}

/// The summary: one line per ente the actor may see, and the totals.
pub fn summary(store: &Store, actor: &Actor, own_domain: &str) -> Result<Summary, ManageError> {
    let scope = if actor.sees_every_ente() {
        None
    } else {
        Some(actor.ente.clone().unwrap_or_default())
    };
    let (counts, operators, domains) = store.read(|tx| {
        let management = tx.management();
        Ok((
            management.counts(scope.as_deref())?,
            management.operators()?,
            management.domains()?,
        ))
    })?;
    let mut totals = Counts::default();
    let mut entes = Vec::new();
    for (ente, counts) in counts {
        add(&mut totals, &counts);
        let staff: Vec<_> = operators
            .iter()
            .filter(|o| o.ente.as_deref().unwrap_or_default() == ente)
            .collect();
        let mut ente_domains: Vec<String> = domains
            .iter()
            .filter(|d| d.ente.as_deref().unwrap_or_default() == ente && !ente.is_empty())
            .map(|d| d.name.clone())
            .collect();
        for o in &staff {
            for d in &o.domains {
                if !ente_domains.contains(d) {
                    ente_domains.push(d.clone());
                }
            }
        }
        entes.push(EnteReport {
            ente,
            operators: staff.iter().map(|o| o.username.clone()).collect(),
            contacts: staff.iter().filter_map(|o| o.email.clone()).collect(),
            domains: ente_domains,
            counts,
        });
    }
    let visible_domains = if actor.sees_every_ente() {
        std::iter::once(own_domain.to_string())
            .chain(domains.into_iter().map(|d| d.name))
            .collect()
    } else {
        actor.domains.clone()
    };
    Ok(Summary {
        domains: visible_domains,
        entes,
        totals,
    })
}

/// One mailbox's usage.
#[derive(Clone, Debug, Serialize)]
pub struct UsageRow {
    /// The mailbox.
    pub address: String,
    /// Its ente.
    pub ente: String,
    /// Its state.
    pub state: String,
    /// Its type.
    pub kind: String,
    /// Messages received.
    pub received: u64,
    /// Messages sent.
    pub sent: u64,
    /// Bytes in INBOX and folders.
    pub bytes: u64,
    /// Bytes in the conservation archive.
    pub archive: u64,
}

/// Usage per mailbox of the entes the actor may see (the aggregator: every ente), or of
/// one ente.
pub fn usage(
    store: &Store,
    actor: &Actor,
    ente: Option<&str>,
) -> Result<Vec<UsageRow>, ManageError> {
    let reach = actor.reach(ente, actor.sees_every_ente());
    store
        .read(|tx| {
            let mailboxes = reach.mailboxes(tx)?;
            mailboxes
                .into_iter()
                .map(|m| {
                    let archive = tx.conservation().account(&m.address)?.used_bytes;
                    Ok(UsageRow {
                        ente: m.profile.ente.clone(),
                        state: m.state.as_str().to_string(),
                        kind: m.profile.kind.as_str().to_string(),
                        received: m.traffic.received,
                        sent: m.traffic.sent,
                        bytes: m.used_bytes,
                        archive,
                        address: m.address,
                    })
                })
                .collect()
        })
        .map_err(ManageError::from)
}
