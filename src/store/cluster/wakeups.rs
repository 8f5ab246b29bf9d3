//! Wake-ups between the nodes of a cluster. IMAP IDLE and NOTIFY on one node must wake
//! when another node delivers: each commit that changed mailboxes announces them with
//! PostgreSQL's `NOTIFY` (sent only if the commit succeeds, and in commit order), and
//! every node `LISTEN`s on a connection of its own and wakes its sessions of those
//! mailboxes, as its own commits do ([`Signals`]).

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use postgres::NoTls;
use postgres::fallible_iterator::FallibleIterator;

use crate::store::StoreError;
use crate::store::kv::pg;
use crate::store::signal::Signals;
use crate::store::signal::Touched;

/// The channel the nodes announce their commits on.
const CHANNEL: &str = "pecd_touched";

/// What a payload holds when the addresses would not fit PostgreSQL's 8000 bytes.
const EVERYONE: &str = "*";

/// The longest payload sent; past it, every session wakes.
const MAX_PAYLOAD: usize = 7000;

/// How often the listener looks whether its store is still there.
const LOOK: Duration = Duration::from_secs(1);

type Commits = tokio::sync::watch::Sender<u64>;

/// Announces, inside `txn`, the mailboxes its commit changes.
pub(super) fn announce(txn: &pg::Txn, touched: &Touched) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    let mut payload = touched
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    if payload.len() > MAX_PAYLOAD {
        payload = EVERYONE.to_string();
    }
    txn.notify(CHANNEL, &payload)
}

/// Listens for the nodes' commits, on a thread of its own, for as long as `signals`
/// lives.
pub(super) fn listen(url: &str, signals: &Arc<Signals>, commits: &Arc<Commits>) {
    let url = url.to_string();
    let (signals, commits) = (Arc::downgrade(signals), Arc::downgrade(commits));
    let spawned = std::thread::Builder::new()
        .name("pecd-listen".into())
        .spawn(move || {
            // Said once per outage: the attempts go on every second.
            let mut failing = false;
            while signals.strong_count() > 0 {
                match listen_once(&url, &signals, &commits, &mut failing) {
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(error = %pg::describe(&error), "listening for the nodes' commits; connecting again");
                        std::thread::sleep(LOOK);
                    }
                    Err(_) => std::thread::sleep(LOOK),
                    Ok(()) => {}
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the listener of the nodes' commits");
    }
}

/// One connection's worth of listening; returns when it fails or the store is gone.
fn listen_once(
    url: &str,
    signals: &Weak<Signals>,
    commits: &Weak<Commits>,
    failing: &mut bool,
) -> Result<(), postgres::Error> {
    let mut client = pg::config(url)?.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    if std::mem::take(failing) {
        tracing::info!("listening for the nodes' commits again");
    }
    // Commits made while no connection listened went unheard: every session looks.
    if let Some(signals) = signals.upgrade() {
        signals.all();
    }
    loop {
        let mut notifications = client.notifications();
        let mut heard = notifications.timeout_iter(LOOK);
        while let Some(notification) = heard.next()? {
            let (Some(signals), Some(commits)) = (signals.upgrade(), commits.upgrade()) else {
                return Ok(());
            };
            commits.send_modify(|n| *n = n.wrapping_add(1));
            match notification.payload() {
                EVERYONE => signals.all(),
                payload => signals.committed(&payload.lines().map(str::to_string).collect()),
            }
        }
        drop(heard);
        drop(notifications);
        if signals.strong_count() == 0 {
            return Ok(());
        }
        // A quiet second, or a lost connection: this finds out which.
        client.simple_query("")?;
    }
}
