//! The relay: drains the durable outbound queue towards other providers' punto di
//! ricezione (`[routes]` first, then the domain's mail host), STARTTLS required between
//! providers, retrying with exponential backoff. Same-domain jobs go straight to our own
//! punto di ricezione, so they run the full flow (DM 2/11/2005 art. 6.5). A message
//! still undeliverable after `give_up` is dropped from the queue; the 24 h timer has
//! told, or will tell, the sender.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::provider::Provider;
use crate::provider::ProviderError;
use crate::provider::backend;
use crate::provider::mx::Directory;
use crate::smtp::client;
use crate::smtp::client::ClientOptions;
use crate::smtp::client::pool::Pool;
use crate::store::StoreError;
use crate::store::log::Event;
use crate::store::log::EventKind;
use crate::store::queue::Job;

/// Deliveries in flight at once (and sessions kept per peer). Each waits for the
/// peer's durable commit and the signing of its receipts, so fewer would keep the relay
/// below what the cores certify; more gain nothing (`tools/load.py`,
/// docs/performance.md).
const MAX_PARALLEL: usize = 64;
/// How long a session to another provider stays open with nothing to send.
const KEEP_IDLE: Duration = Duration::from_secs(30);

/// How the relay paces itself.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Pacing {
    /// The first retry delay; doubles per attempt, capped at 30 minutes.
    pub retry_base: Duration,
    /// After this long since the job was created, give up.
    pub give_up: Duration,
}

impl Pacing {
    /// The delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX);
        self.retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(30 * 60))
    }
}

/// Runs the relay until shutdown: a pipeline of at most [`MAX_PARALLEL`] deliveries,
/// refilled from the queue whenever one ends or new jobs are committed, over sessions
/// kept open per peer between deliveries ([`Pool`]).
///
/// A job leaves the queue only after its peer's `250`, so a crash or shutdown
/// mid-delivery resends it (the peer's reception is idempotent), never loses it. Those
/// removals are written by one [`Completions`] write at a time for every delivery that
/// ended meanwhile, without holding a delivery slot: a slot waiting for our own fsync
/// after the peer has already answered is a slot not sending.
pub async fn run(
    provider: Provider,
    directory: Directory,
    options: ClientOptions,
    pacing: Pacing,
    shutdown: CancellationToken,
) {
    let mut relay = Pipeline {
        provider,
        directory,
        options,
        pacing,
        pool: Arc::new(Pool::new(KEEP_IDLE, MAX_PARALLEL)),
        running: tokio::task::JoinSet::new(),
        in_flight: HashMap::new(),
        completions: Completions::default(),
    };
    loop {
        relay.pool.close_idle();
        if relay.running.len() < MAX_PARALLEL {
            relay.refill().await;
        }
        tokio::select! {
            Some(done) = relay.running.join_next_with_id(), if !relay.running.is_empty() => {
                relay.ended(done);
            }
            () = relay.completions.written(&relay.provider), if relay.completions.writing() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = relay.provider.relay_woken() => {}
            () = shutdown.cancelled() => break,
        }
    }
    relay.finish().await;
}

/// The relay's deliveries in flight and what they share.
struct Pipeline {
    provider: Provider,
    directory: Directory,
    options: ClientOptions,
    pacing: Pacing,
    /// Sessions kept open per peer.
    pool: Arc<Pool>,
    /// Each delivery's task: true when its peer acknowledged the job.
    running: tokio::task::JoinSet<bool>,
    /// Which job each task delivers.
    in_flight: HashMap<tokio::task::Id, u64>,
    completions: Completions,
}

impl Pipeline {
    /// Starts a delivery for each due job, up to [`MAX_PARALLEL`] in flight, skipping
    /// the jobs in flight or on their way out of the queue.
    async fn refill(&mut self) {
        let free = MAX_PARALLEL - self.running.len();
        let busy: HashSet<u64> = self
            .in_flight
            .values()
            .copied()
            .chain(self.completions.pending())
            .collect();
        let due = self
            .provider
            .blocking(move |p| {
                let now = Timestamp::now();
                let jobs = p
                    .store()
                    .take_due_jobs(now, free, |id| busy.contains(&id))?;
                // The bodies to send are read in the same trip to a blocking
                // thread: one trip per refill instead of one per job.
                Ok(jobs
                    .into_iter()
                    .map(|job| {
                        let data = p.store().blobs().get(&job.blob);
                        (job, data)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        match due {
            Ok(jobs) => {
                for (job, data) in jobs {
                    self.spawn(job, data);
                }
            }
            Err(error) => tracing::error!(%error, "relay queue"),
        }
    }

    /// Starts the delivery of one job.
    fn spawn(&mut self, job: Job, data: Result<Vec<u8>, StoreError>) {
        let job_id = job.id;
        let (provider, options, directory, pool) = (
            self.provider.clone(),
            self.options.clone(),
            self.directory.clone(),
            self.pool.clone(),
        );
        let pacing = self.pacing;
        let handle = self.running.spawn(async move {
            let route = Route {
                directory: &directory,
                pool: &pool,
                options: &options,
            };
            deliver(&provider, route, pacing, job, data)
                .await
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "relay");
                    false
                })
        });
        self.in_flight.insert(handle.id(), job_id);
    }

    /// A delivery ended: an acknowledged job goes to the next completion write.
    fn ended(&mut self, done: Result<(tokio::task::Id, bool), tokio::task::JoinError>) {
        let (id, delivered) = match done {
            Ok((id, delivered)) => (id, delivered),
            Err(error) => (error.id(), false),
        };
        if let Some(job) = self.in_flight.remove(&id)
            && delivered
        {
            self.completions.delivered(job, &self.provider);
        }
    }

    /// At shutdown: in-flight deliveries finish (or are cut by the runtime); either way
    /// the queue still holds every job not acknowledged.
    async fn finish(mut self) {
        while let Some(done) = self.running.join_next_with_id().await {
            if let Ok((id, true)) = done
                && let Some(job) = self.in_flight.remove(&id)
            {
                self.completions.delivered(job, &self.provider);
            }
        }
        while self.completions.writing() {
            self.completions.written(&self.provider).await;
        }
    }
}

/// Jobs their peer has acknowledged, on their way out of the queue: at most one write
/// in flight, carrying every job acknowledged before it started.
#[derive(Default)]
struct Completions {
    /// Acknowledged, waiting for the next write.
    waiting: Vec<u64>,
    /// In the write in flight.
    writing: Vec<u64>,
    write: Option<tokio::task::JoinHandle<Result<(), ProviderError>>>,
}

impl Completions {
    /// Jobs not to hand out again: acknowledged but maybe still in the queue.
    fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.waiting.iter().chain(&self.writing).copied()
    }

    fn writing(&self) -> bool {
        self.write.is_some()
    }

    /// Records an acknowledged job, starting a write if none is in flight.
    fn delivered(&mut self, job: u64, provider: &Provider) {
        self.waiting.push(job);
        if self.write.is_none() {
            self.start(provider);
        }
    }

    fn start(&mut self, provider: &Provider) {
        self.writing = std::mem::take(&mut self.waiting);
        let ids = self.writing.clone();
        let provider = provider.clone();
        self.write = Some(tokio::spawn(async move {
            provider
                .blocking(move |p| {
                    Ok(p.store().write_owned(move |tx| {
                        for id in &ids {
                            tx.queue().complete(*id)?;
                        }
                        Ok(())
                    })?)
                })
                .await
        }));
    }

    /// Waits for the write in flight, then starts the next one if jobs are waiting. A
    /// failed write leaves its jobs queued: they are sent again, and the peer, having
    /// them already, answers `250` without a second delivery.
    async fn written(&mut self, provider: &Provider) {
        let Some(write) = self.write.as_mut() else {
            return std::future::pending().await;
        };
        match write.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "relay: completing delivered jobs"),
            Err(error) => tracing::error!(%error, "relay: completing delivered jobs"),
        }
        self.write = None;
        self.writing.clear();
        if !self.waiting.is_empty() {
            self.start(provider);
        }
    }
}

/// How a job reaches another provider.
#[derive(Clone, Copy)]
struct Route<'a> {
    directory: &'a Directory,
    pool: &'a Pool,
    options: &'a ClientOptions,
}

/// One attempt at one job, whose body was read as `data`: true if the peer took it
/// (the caller removes it from the queue), false if it was rescheduled or given up.
async fn deliver(
    provider: &Provider,
    route: Route<'_>,
    pacing: Pacing,
    job: Job,
    data: Result<Vec<u8>, StoreError>,
) -> Result<bool, ProviderError> {
    let data = data?;
    let destination = job.destination.to_ascii_lowercase();
    let peer = metrics_peer(provider, &destination);
    provider.metrics().relay_attempt(peer);
    let attempt: Result<(), String> = if provider.is_local_domain(&destination) {
        let (from, rcpts, bytes) = (job.mail_from.clone(), job.rcpt_to.clone(), data);
        let reception = provider
            .blocking(move |p| p.receive(&from, &rcpts, &bytes, Timestamp::now()))
            .await?;
        if reception.is_taken() {
            Ok(())
        } else {
            // Worded as a peer's MX would have answered, like a remote refusal.
            let reply = backend::reception_reply(&reception);
            Err(format!("{} {}", reply.code(), reply.text()))
        }
    } else {
        let message = client::Message {
            mail_from: &job.mail_from,
            rcpt_to: &job.rcpt_to,
            data: &data,
        };
        send(route, &destination, &message).await
    };
    let Err(reason) = attempt else {
        tracing::info!(job = job.id, peer = %destination, "relay: delivered");
        return Ok(true);
    };
    provider.metrics().relay_failure(peer);
    let now = Timestamp::now();
    let id = job.id;
    let age = now.duration_since(job.created).unsigned_abs();
    let give_up = age >= pacing.give_up;
    let next = now + pacing.backoff(job.attempts);
    tracing::warn!(job = id, peer = %job.destination, %reason, give_up, "relay attempt failed");
    provider
        .blocking(move |p| {
            Ok(p.store().write(|tx| {
                if give_up {
                    let mut logged = Event::new(EventKind::RelayGaveUp, now);
                    logged.recipients = job.rcpt_to.clone();
                    logged.detail = Some(reason.clone());
                    tx.events().log(logged)?;
                    tx.queue().complete(id)
                } else {
                    tx.queue().reschedule(id, next, job.attempts + 1, &reason)
                }
            })?)
        })
        .await?;
    Ok(false)
}

/// The peer a delivery counts under: a PEC domain (ours, or one the index lists), or
/// `external` for any other, so that a user writing to made-up domains cannot grow
/// the metrics without bound.
fn metrics_peer<'a>(provider: &Provider, destination: &'a str) -> &'a str {
    let known = provider.is_local_domain(destination)
        || provider.settings().routes.contains_key(destination)
        || provider.index().by_domain(destination).is_some();
    if known { destination } else { "external" }
}

/// Tries each place the directory gives, best first, until one takes the message or
/// refuses it for good.
async fn send(
    route: Route<'_>,
    destination: &str,
    message: &client::Message<'_>,
) -> Result<(), String> {
    let mut last = String::from("no target");
    for target in route.directory.targets(destination).await? {
        let sent = route
            .pool
            .send(&target.address, &target.tls_name, route.options, message)
            .await;
        match sent {
            Ok(delivery)
                if delivery
                    .data_reply
                    .as_ref()
                    .is_some_and(|r| r.is_positive()) =>
            {
                return Ok(());
            }
            Ok(delivery) => {
                let refused: Vec<String> = delivery
                    .rejected()
                    .map(|r| r.reply.text().to_string())
                    .collect();
                return Err(format!("{} refused: {refused:?}", target.address));
            }
            Err(error) if error.is_permanent() => {
                return Err(format!("{}: {error}", target.address));
            }
            Err(error) => last = format!("{}: {error}", target.address),
        }
    }
    Err(last)
}
