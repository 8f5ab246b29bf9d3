//! The conservation task `pecd serve` spawns: drains the ingest queue every `poll`,
//! and every `audit_interval` expires old revocation exports and audits every package.
//! Failures are logged and retried; delivery never waits on any of it. On a cluster
//! one node at a time does this work: the one whose turn it is ([`Turn`]).

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::conservation::worker::Gateway;
use crate::pec::index::ProvidersIndex;
use crate::store::Turn;

/// The turn, whatever a panicked holder left: it holds no half-done state.
fn lock(turn: &std::sync::Mutex<Turn>) -> std::sync::MutexGuard<'_, Turn> {
    turn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The task `pecd serve` runs: drains the queue every `poll`, audits every
/// `audit_interval`, until shutdown. Failures are logged and retried.
pub async fn run(
    gateway: std::sync::Arc<Gateway>,
    index: impl Fn() -> std::sync::Arc<ProvidersIndex> + Send + 'static,
    metrics: crate::metrics::Metrics,
    shutdown: CancellationToken,
) {
    let mut last_audit = tokio::time::Instant::now();
    let turn = std::sync::Arc::new(std::sync::Mutex::new(gateway.store().turn("conservation")));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(gateway.settings().poll) => {}
        }
        let current = index();
        let (worker, turn) = (
            std::sync::Arc::clone(&gateway),
            std::sync::Arc::clone(&turn),
        );
        let mine = tokio::task::spawn_blocking(move || lock(&turn).mine()).await;
        if !matches!(mine, Ok(true)) {
            continue;
        }
        let drained = tokio::task::spawn_blocking(move || {
            worker.drain(Some(&current), Timestamp::now(), false)
        })
        .await;
        if let Ok(Ok(d)) = &drained {
            metrics.conservation(d.packages.len(), d.bytes, d.refused, d.alerts);
        }
        match drained {
            Ok(Ok(drained)) if !drained.packages.is_empty() || drained.refused > 0 => {
                tracing::info!(packages = ?drained.packages, conserved = drained.conserved, refused = drained.refused, "conservation");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "conservation ingest failed; will retry"),
            Err(error) => tracing::warn!(%error, "conservation task failed"),
        }
        if last_audit.elapsed() >= gateway.settings().audit_interval {
            last_audit = tokio::time::Instant::now();
            let worker = std::sync::Arc::clone(&gateway);
            let audited = tokio::task::spawn_blocking(move || {
                let now = Timestamp::now();
                if let Err(error) = worker.expire_exports(now) {
                    tracing::warn!(%error, "cannot expire revocation exports");
                }
                worker.audit(now)
            });
            match audited.await {
                Ok(Ok(report)) if report.problems.is_empty() => {
                    tracing::info!(
                        packages = report.packages,
                        "conservation audit: all packages intact"
                    );
                }
                Ok(Ok(report)) => {
                    for (package, problem) in &report.problems {
                        tracing::error!(package, problem, "conservation audit");
                    }
                }
                Ok(Err(error)) => tracing::warn!(%error, "conservation audit failed"),
                Err(error) => tracing::warn!(%error, "conservation audit task failed"),
            }
        }
    }
}
