//! Counters: kept as atomics for [`RedisStats`] snapshots and recorded through the `metrics`
//! facade (names in `docs/metrics-contract.md`, label `stream`).

use necro_core::telemetry::redis as telemetry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one backend's counters since it was connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Entries added to the main stream (enqueue, commit, DLQ replay).
    pub enqueued: u64,
    /// Deliveries handed out by `pull` (fresh and reclaimed).
    pub pulled: u64,
    /// Entries acknowledged (as counted by Redis: an id acked twice counts once).
    pub acked: u64,
    /// Deliveries nacked and left for redelivery.
    pub nacked: u64,
    /// Entries written to the dead-letter stream, for any reason.
    pub dead_lettered: u64,
    /// Of those, entries that were not a valid event.
    pub malformed: u64,
    /// Header fields of read entries left out: past a bound of `Headers`, or not UTF-8.
    pub headers_ignored: u64,
    /// Connections re-established after a drop or a Redis restart (one per connection).
    pub reconnections: u64,
    /// Pending entries claimed from an idle consumer (or after a nack) and delivered again.
    pub recovered: u64,
    /// Entries this backend removed from the main stream by the retention policy.
    pub trimmed: u64,
    /// Dead letters this backend dropped by the dead-letter stream's retention bound.
    pub dlq_dropped: u64,
}

/// The metric names, from the contract in `necro_core::telemetry::redis`.
pub(crate) const ENQUEUED: &str = telemetry::ENQUEUED.name;
pub(crate) const PULLED: &str = telemetry::PULLED.name;
pub(crate) const ACKED: &str = telemetry::ACKED.name;
pub(crate) const DEAD_LETTERED: &str = telemetry::DEAD_LETTERED.name;
pub(crate) const MALFORMED: &str = telemetry::MALFORMED.name;
pub(crate) const HEADERS_IGNORED: &str = telemetry::HEADERS_IGNORED.name;
pub(crate) const RECONNECTIONS: &str = telemetry::RECONNECTIONS.name;
pub(crate) const RECOVERED: &str = telemetry::RECOVERED.name;
pub(crate) const PENDING: &str = telemetry::PENDING.name;
pub(crate) const STREAM_LENGTH: &str = telemetry::STREAM_LENGTH.name;
pub(crate) const TRIMMED: &str = telemetry::TRIMMED.name;
pub(crate) const TRIM_FLOOR_AGE: &str = telemetry::TRIM_FLOOR_AGE.name;
pub(crate) const GROUP_LAG: &str = telemetry::GROUP_LAG.name;
pub(crate) const DLQ_DROPPED: &str = telemetry::DLQ_DROPPED.name;

/// The live counters, shared with the reconnection listeners.
#[derive(Debug)]
pub(crate) struct Counters {
    stream: Arc<str>,
    enqueued: AtomicU64,
    pulled: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    dead_lettered: AtomicU64,
    malformed: AtomicU64,
    headers_ignored: AtomicU64,
    reconnections: AtomicU64,
    recovered: AtomicU64,
    trimmed: AtomicU64,
    dlq_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn new(stream: &str) -> Self {
        Self {
            stream: Arc::from(stream),
            enqueued: AtomicU64::new(0),
            pulled: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            nacked: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            headers_ignored: AtomicU64::new(0),
            reconnections: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            trimmed: AtomicU64::new(0),
            dlq_dropped: AtomicU64::new(0),
        }
    }

    fn bump(&self, cell: &AtomicU64, metric: Option<&'static str>, n: u64) {
        if n == 0 {
            return;
        }
        cell.fetch_add(n, Ordering::Relaxed);
        if let Some(name) = metric {
            metrics::counter!(name, "stream" => Arc::clone(&self.stream)).increment(n);
        }
    }

    pub(crate) fn enqueued(&self, n: u64) {
        self.bump(&self.enqueued, Some(ENQUEUED), n);
    }
    pub(crate) fn pulled(&self, n: u64) {
        self.bump(&self.pulled, Some(PULLED), n);
    }
    pub(crate) fn acked(&self, n: u64) {
        self.bump(&self.acked, Some(ACKED), n);
    }
    pub(crate) fn nacked(&self, n: u64) {
        self.bump(&self.nacked, None, n);
    }
    pub(crate) fn dead_lettered(&self, n: u64) {
        self.bump(&self.dead_lettered, Some(DEAD_LETTERED), n);
    }
    pub(crate) fn malformed(&self, n: u64) {
        self.bump(&self.malformed, Some(MALFORMED), n);
    }
    pub(crate) fn headers_ignored(&self, n: u64) {
        self.bump(&self.headers_ignored, Some(HEADERS_IGNORED), n);
    }
    pub(crate) fn reconnections(&self, n: u64) {
        self.bump(&self.reconnections, Some(RECONNECTIONS), n);
    }
    pub(crate) fn recovered(&self, n: u64) {
        self.bump(&self.recovered, Some(RECOVERED), n);
    }

    pub(crate) fn trimmed(&self, n: u64) {
        self.bump(&self.trimmed, Some(TRIMMED), n);
    }
    pub(crate) fn dlq_dropped(&self, n: u64) {
        self.bump(&self.dlq_dropped, Some(DLQ_DROPPED), n);
    }

    /// The age of the trim floor.
    pub(crate) fn floor_age(&self, age: std::time::Duration) {
        metrics::gauge!(TRIM_FLOOR_AGE, "stream" => Arc::clone(&self.stream))
            .set(age.as_secs_f64());
    }

    /// One group's lag.
    pub(crate) fn group_lag(&self, group: &str, lag: u64) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(GROUP_LAG, "stream" => Arc::clone(&self.stream), "group" => group.to_owned())
            .set(lag as f64);
    }

    pub(crate) fn gauges(&self, pending: Option<u64>, length: Option<u64>) {
        #[allow(clippy::cast_precision_loss)]
        {
            if let Some(p) = pending {
                metrics::gauge!(PENDING, "stream" => Arc::clone(&self.stream)).set(p as f64);
            }
            if let Some(l) = length {
                metrics::gauge!(STREAM_LENGTH, "stream" => Arc::clone(&self.stream)).set(l as f64);
            }
        }
    }

    pub(crate) fn snapshot(&self) -> RedisStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisStats {
            enqueued: get(&self.enqueued),
            pulled: get(&self.pulled),
            acked: get(&self.acked),
            nacked: get(&self.nacked),
            dead_lettered: get(&self.dead_lettered),
            malformed: get(&self.malformed),
            headers_ignored: get(&self.headers_ignored),
            reconnections: get(&self.reconnections),
            recovered: get(&self.recovered),
            trimmed: get(&self.trimmed),
            dlq_dropped: get(&self.dlq_dropped),
        }
    }
}
