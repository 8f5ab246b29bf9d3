//! The durable outbound queue: one job per destination provider carrying all its
//! recipients, retried by the relay until delivered or given up.

use jiff::Timestamp;
use redb::TableDefinition;
use serde::Deserialize;
use serde::Serialize;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::decode;
use crate::store::encode;
use crate::store::kv::Table;
use crate::store::nodes::Liveness;
use crate::store::nodes::NODES;

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");

/// One message to relay.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Job {
    /// Its id (set by [`Queue::enqueue`]).
    pub id: u64,
    /// The destination domain.
    pub destination: String,
    /// The SMTP reverse-path.
    pub mail_from: String,
    /// The forward-paths.
    pub rcpt_to: Vec<String>,
    /// The message.
    pub blob: BlobId,
    /// Attempts so far.
    pub attempts: u32,
    /// When to try next.
    pub next_attempt: Timestamp,
    /// When it was queued.
    pub created: Timestamp,
    /// What it carries, for logs.
    pub kind: JobKind,
    /// The last failure.
    pub last_error: Option<String>,
    /// The node of a cluster delivering it now, and until when that claim holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// A node's claim on a job: no other node delivers it until the node records the
/// outcome, stops beating (it died mid-delivery: [`crate::store::nodes`]) or the
/// claim expires.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Lease {
    /// The node.
    pub node: String,
    /// When another node may take the job, even from a node still beating.
    pub until: Timestamp,
}

impl Job {
    /// Whether `node` may deliver the job at `now`: it is due, and no other node's
    /// claim on it holds. A claim holds while its node's heartbeat is fresh, and never
    /// past the lease's end: a node whose heartbeat goes on while its relay is stuck
    /// still lets its jobs go after the lease, which outlasts any delivery attempt.
    fn open_to(
        &self,
        node: &str,
        now: Timestamp,
        nodes: &mut Liveness<'_>,
    ) -> Result<bool, StoreError> {
        if self.next_attempt > now {
            return Ok(false);
        }
        Ok(match &self.lease {
            None => true,
            Some(lease) if lease.node == node || lease.until <= now => true,
            Some(lease) => !nodes.alive(&lease.node)?,
        })
    }
}

/// What a job carries. Stored in the job record by its name in the rules' vocabulary,
/// the same string a job record has always held.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum JobKind {
    /// `busta-di-trasporto`: a user's message, certified, to the recipient's provider.
    #[serde(rename = "busta-di-trasporto")]
    Transport,
    /// `presa-in-carico`: the ricevuta di presa in carico to the sender's provider.
    #[serde(rename = "presa-in-carico")]
    TakenInCharge,
    /// `ricevuta`: a delivery receipt or notice of non-delivery, to the sender.
    #[serde(rename = "ricevuta")]
    Receipt,
    /// `rilevazione-virus`: the avviso di rilevazione virus to the sender's provider.
    #[serde(rename = "rilevazione-virus")]
    VirusDetected,
}

impl Job {
    /// A job due now.
    pub fn new(
        destination: &str,
        mail_from: &str,
        rcpt_to: Vec<String>,
        blob: BlobId,
        now: Timestamp,
        kind: JobKind,
    ) -> Job {
        Job {
            id: 0,
            destination: destination.to_ascii_lowercase(),
            mail_from: mail_from.to_string(),
            rcpt_to,
            blob,
            attempts: 0,
            next_attempt: now,
            created: now,
            kind,
            last_error: None,
            lease: None,
        }
    }
}

/// The job queue: `Queue<&mut Tx>` changes it, `Queue<&ReadTx>` reads a snapshot.
pub struct Queue<T>(pub(super) T);

impl Queue<&mut Tx<'_>> {
    /// Queues a job; returns its id.
    pub fn enqueue(&mut self, mut job: Job) -> Result<u64, StoreError> {
        job.id = self.0.next("job")?;
        self.0
            .table(JOBS)?
            .insert(job.id, encode(&job)?.as_slice())?;
        Ok(job.id)
    }

    /// Delivered (or given up): removes the job.
    pub fn complete(&mut self, id: u64) -> Result<(), StoreError> {
        self.0.table(JOBS)?.remove(id)?;
        Ok(())
    }

    /// Schedules the next attempt.
    pub fn reschedule(
        &mut self,
        id: u64,
        next_attempt: Timestamp,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut table = self.0.table(JOBS)?;
        let mut job: Job = match table.get(id)? {
            Some(bytes) => decode(bytes.value())?,
            None => return Ok(()),
        };
        job.next_attempt = next_attempt;
        job.attempts = attempts;
        job.last_error = Some(error.to_string());
        job.lease = None;
        table.insert(id, encode(&job)?.as_slice())?;
        Ok(())
    }

    /// Claims for `node` until `until` the jobs [`Queue::due`] finds for it: other
    /// nodes leave them alone while the claim holds (while `node` beats, and before
    /// `until`).
    pub fn claim(
        &mut self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
        skip: impl Fn(u64) -> bool,
    ) -> Result<Vec<Job>, StoreError> {
        let mut nodes = Liveness::new(self.0.table(NODES)?, now);
        let mut jobs = due_in(&self.0.table(JOBS)?, &mut nodes, node, now, limit, skip)?;
        let mut table = self.0.table(JOBS)?;
        for job in &mut jobs {
            job.lease = Some(Lease {
                node: node.to_string(),
                until,
            });
            table.insert(job.id, encode(job)?.as_slice())?;
        }
        Ok(jobs)
    }
}

impl Queue<&ReadTx<'_>> {
    /// Jobs due at `now` that no live node but `node` has claimed, oldest first, at
    /// most `limit`, leaving out those `skip` names (the relay's deliveries in flight).
    pub fn due(
        &self,
        node: &str,
        now: Timestamp,
        limit: usize,
        skip: impl Fn(u64) -> bool,
    ) -> Result<Vec<Job>, StoreError> {
        let mut nodes = Liveness::new(self.0.table(NODES)?, now);
        due_in(&self.0.table(JOBS)?, &mut nodes, node, now, limit, skip)
    }

    /// Every queued job.
    pub fn all(&self) -> Result<Vec<Job>, StoreError> {
        self.0.values(JOBS)
    }
}

/// [`Queue::due`] over either kind of transaction's table.
fn due_in(
    table: &Table<'_, u64, &'static [u8]>,
    nodes: &mut Liveness<'_>,
    node: &str,
    now: Timestamp,
    limit: usize,
    skip: impl Fn(u64) -> bool,
) -> Result<Vec<Job>, StoreError> {
    // Decoded one by one, only until `limit` and never when skipped: the relay asks
    // after every delivery, and a backlog must not be decoded whole each time.
    let mut due = Vec::new();
    for entry in table.iter()? {
        let (id, job) = entry?;
        if skip(id.value()) {
            continue;
        }
        let job: Job = decode(job.value())?;
        if job.open_to(node, now, nodes)? {
            due.push(job);
            if due.len() >= limit {
                break;
            }
        }
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_kind_is_stored_by_its_name() {
        let names = [
            (JobKind::Transport, "busta-di-trasporto"),
            (JobKind::TakenInCharge, "presa-in-carico"),
            (JobKind::Receipt, "ricevuta"),
            (JobKind::VirusDetected, "rilevazione-virus"),
        ];
        for (kind, name) in names {
            let stored = encode(&kind).unwrap();
            assert_eq!(stored, format!("\"{name}\"").into_bytes());
            assert_eq!(decode::<JobKind>(&stored).unwrap(), kind);
        }
    }
}
