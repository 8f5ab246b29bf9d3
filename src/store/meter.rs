//! What the store's commits cost, for monitoring: how long each durable commit took
//! (staging the bodies, then redb's commit and fsync) and how many writes it carried.
//! The store owns the instruments so that every commit path feeds them; the daemon's
//! metrics registry ([`crate::metrics`]) exposes them.

use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;

/// The commit latency and batch-size histograms (cheap to clone: shared instruments).
#[derive(Clone, Debug)]
pub struct CommitMeter {
    /// Seconds per commit.
    pub latency: Histogram,
    /// Writes per commit.
    pub batch: Histogram,
}

impl Default for CommitMeter {
    fn default() -> Self {
        CommitMeter {
            // 0.25 ms … about 4 s: an fsync on fast flash up to a stalled disk.
            latency: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            // 1 … 256 writes: the most one transaction takes.
            batch: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
        }
    }
}

impl CommitMeter {
    /// Records one durable commit.
    pub fn observe(&self, took: Duration, writes: usize) {
        self.latency.observe(took.as_secs_f64());
        self.batch.observe(writes as f64);
    }
}
