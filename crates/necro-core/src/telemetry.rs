//! The telemetry contract: every metric NecroStack records, declared once ([`MetricDef`]).
//!
//! Every metric NecroStack records is declared here once, as a [`MetricDef`] constant, grouped
//! by the crate that records it ([`spine`], [`memory`], [`redis`]; [`METRICS`] lists them
//! all). The recording sites use these constants' names, `necro-observe` describes every one
//! of them (so `/metrics` carries its HELP text) and reads them for the live page, and
//! `docs/metrics-contract.md` is checked against [`METRICS`] by a test. The names live in
//! `necro-core` because both the crates that record them and the one that shows them depend
//! on it; a new backend adds its module here.
//!
//! ```
//! use necro_core::telemetry::{MetricDef, MetricKind};
//!
//! const PROCESSED: MetricDef = MetricDef::counter(
//!     "necro_events_processed_total",
//!     &["event_type"],
//!     "Events the spine handled, by event type.",
//! );
//! assert_eq!(PROCESSED.kind, MetricKind::Counter);
//! assert_eq!(PROCESSED.name, "necro_events_processed_total");
//! ```

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic count (`metrics::counter!`).
    Counter,
    /// A value that goes up and down (`metrics::gauge!`).
    Gauge,
    /// A distribution of observations (`metrics::histogram!`), e.g. durations in seconds.
    Histogram,
}

impl MetricKind {
    /// The kind's name as the contract writes it: `counter`, `gauge` or `histogram`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The unit a metric is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricUnit {
    /// A plain number with no unit (a state code, say).
    None,
    /// A count of things.
    Count,
    /// Seconds.
    Seconds,
}

/// One metric a crate records: its name, kind, unit, label names and HELP text.
///
/// Built with [`MetricDef::counter`], [`MetricDef::gauge`] or [`MetricDef::histogram`] in a
/// `const`, and used by name at the recording site (`metrics::counter!(DEF.name, ...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MetricDef {
    /// The metric's name, e.g. `necro_events_processed_total`.
    pub name: &'static str,
    /// Its kind.
    pub kind: MetricKind,
    /// Its unit.
    pub unit: MetricUnit,
    /// The names of the labels it is recorded with, in the order the contract lists them.
    pub labels: &'static [&'static str],
    /// The HELP text an exporter shows.
    pub help: &'static str,
}

impl MetricDef {
    /// A counter of [`MetricUnit::Count`].
    #[must_use]
    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::new(name, MetricKind::Counter, MetricUnit::Count, labels, help)
    }

    /// A gauge of [`MetricUnit::Count`] (see [`MetricDef::unitless`]).
    #[must_use]
    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::new(name, MetricKind::Gauge, MetricUnit::Count, labels, help)
    }

    /// A histogram of [`MetricUnit::Seconds`].
    #[must_use]
    pub const fn histogram(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::new(
            name,
            MetricKind::Histogram,
            MetricUnit::Seconds,
            labels,
            help,
        )
    }

    const fn new(
        name: &'static str,
        kind: MetricKind,
        unit: MetricUnit,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            unit,
            labels,
            help,
        }
    }

    /// The same metric in [`MetricUnit::Seconds`] (a gauge of an age, say).
    #[must_use]
    pub const fn in_seconds(mut self) -> Self {
        self.unit = MetricUnit::Seconds;
        self
    }

    /// The same metric with no unit (a state code, say).
    #[must_use]
    pub const fn unitless(mut self) -> Self {
        self.unit = MetricUnit::None;
        self
    }
}

/// What the spine (`necro-spine`) records.
pub mod spine {
    use super::MetricDef;

    /// Events pulled and dispatched.
    pub const EVENTS_PROCESSED: MetricDef = MetricDef::counter(
        "necro_events_processed_total",
        &["event_type"],
        "Events pulled and dispatched, per event type.",
    );
    /// Events emitted by organs and enqueued.
    pub const EVENTS_EMITTED: MetricDef = MetricDef::counter(
        "necro_events_emitted_total",
        &["event_type"],
        "Events emitted by organs and enqueued, per emitted event type.",
    );
    /// Events no organ listens to.
    pub const EVENTS_UNROUTED: MetricDef = MetricDef::counter(
        "necro_events_unrouted_total",
        &["event_type"],
        "Events no organ listens to (acked), per event type.",
    );
    /// Time spent in one organ call.
    pub const HANDLER_DURATION: MetricDef = MetricDef::histogram(
        "necro_handler_duration_seconds",
        &["organ"],
        "Time spent in one organ call, per organ: a histogram (_bucket, _sum and _count since start).",
    );
    /// Time spent in one batch commit.
    pub const COMMIT_DURATION: MetricDef = MetricDef::histogram(
        "necro_commit_duration_seconds",
        &[],
        "Time spent in one batch commit of acks and emitted events (whatever its outcome): a histogram (_bucket, _sum and _count since start).",
    );
    /// Organ failures after retries.
    pub const HANDLER_ERRORS: MetricDef = MetricDef::counter(
        "necro_handler_errors_total",
        &["organ", "kind"],
        "Organ failures after retries, per organ and kind (error, permanent, timeout, panic, circuit_open).",
    );
    /// Organ call retries.
    pub const HANDLER_RETRIES: MetricDef = MetricDef::counter(
        "necro_handler_retries_total",
        &["organ"],
        "Organ call retries, per organ.",
    );
    /// Emitted events that could not be enqueued.
    pub const ENQUEUE_FAILURES: MetricDef = MetricDef::counter(
        "necro_enqueue_failures_total",
        &["event_type"],
        "Emitted events that could not be enqueued, per event type.",
    );
    /// Enqueue retries.
    pub const ENQUEUE_RETRIES: MetricDef = MetricDef::counter(
        "necro_enqueue_retries_total",
        &[],
        "Enqueue retries (enqueue failure mode RETRY).",
    );
    /// Events dead-lettered by the spine.
    pub const DEAD_LETTERS: MetricDef = MetricDef::counter(
        "necro_dead_letters_total",
        &["kind", "event_type"],
        "Events dead-lettered by the spine, per kind (handler_failed, max_deliveries, enqueue_failed) and event type.",
    );
    /// Failed backend calls.
    pub const BACKEND_ERRORS: MetricDef = MetricDef::counter(
        "necro_backend_errors_total",
        &["op"],
        "Failed backend calls, per operation (pull, commit, ack, nack, release, dead_letter).",
    );
    /// An organ's circuit breaker state.
    pub const CIRCUIT_STATE: MetricDef = MetricDef::gauge(
        "necro_circuit_state",
        &["organ"],
        "Organ circuit breaker: 0 closed, 1 open, 2 half-open.",
    )
    .unitless();
    /// The backend circuit breaker state.
    pub const BACKEND_CIRCUIT_STATE: MetricDef = MetricDef::gauge(
        "necro_backend_circuit_state",
        &[],
        "Backend circuit breaker: 0 closed, 1 open, 2 half-open.",
    )
    .unitless();
    /// Events being handled now.
    pub const EVENTS_IN_FLIGHT: MetricDef =
        MetricDef::gauge("necro_events_in_flight", &[], "Events being handled now.");

    /// Every metric the spine records.
    pub const METRICS: &[MetricDef] = &[
        EVENTS_PROCESSED,
        EVENTS_EMITTED,
        EVENTS_UNROUTED,
        HANDLER_DURATION,
        COMMIT_DURATION,
        HANDLER_ERRORS,
        HANDLER_RETRIES,
        ENQUEUE_FAILURES,
        ENQUEUE_RETRIES,
        DEAD_LETTERS,
        BACKEND_ERRORS,
        CIRCUIT_STATE,
        BACKEND_CIRCUIT_STATE,
        EVENTS_IN_FLIGHT,
    ];
}

/// What the in-memory backend (`necro-backend-memory`) records.
pub mod memory {
    use super::MetricDef;

    /// Events waiting in the queue.
    pub const QUEUE_DEPTH: MetricDef = MetricDef::gauge(
        "necro_queue_depth",
        &["backend"],
        "Events waiting in the in-memory queue.",
    );
    /// Dead letters held by the in-memory store.
    pub const DEAD_LETTERS_HELD: MetricDef = MetricDef::gauge(
        "necro_memory_dead_letters",
        &[],
        "Dead letters held by the in-memory store.",
    );

    /// Every metric the in-memory backend records.
    pub const METRICS: &[MetricDef] = &[QUEUE_DEPTH, DEAD_LETTERS_HELD];
}

/// What the Redis backend (`necro-backend-redis`) records, each per `stream`.
pub mod redis {
    use super::MetricDef;

    /// Entries added to the stream.
    pub const ENQUEUED: MetricDef = MetricDef::counter(
        "necro_redis_enqueued_total",
        &["stream"],
        "Entries added to the stream.",
    );
    /// Entries read from the stream.
    pub const PULLED: MetricDef = MetricDef::counter(
        "necro_redis_pulled_total",
        &["stream"],
        "Entries read from the stream.",
    );
    /// Entries acknowledged.
    pub const ACKED: MetricDef = MetricDef::counter(
        "necro_redis_acked_total",
        &["stream"],
        "Entries acknowledged.",
    );
    /// Entries moved to the dead-letter stream.
    pub const DEAD_LETTERED: MetricDef = MetricDef::counter(
        "necro_redis_dead_lettered_total",
        &["stream"],
        "Entries moved to the dead-letter stream.",
    );
    /// Entries read from the stream that were not a valid event, dead-lettered as malformed
    /// (also counted in [`DEAD_LETTERED`]).
    pub const MALFORMED: MetricDef = MetricDef::counter(
        "necro_redis_malformed_total",
        &["stream"],
        "Entries read from the stream that were not a valid event (dead-lettered as malformed).",
    );
    /// Header fields of read entries left out (past a bound of `Headers`, not UTF-8, or a bad
    /// name or value); the event itself is still delivered.
    pub const HEADERS_IGNORED: MetricDef = MetricDef::counter(
        "necro_redis_header_fields_ignored_total",
        &["stream"],
        "Header fields of read entries left out: past a bound, not UTF-8, or a bad name or value.",
    );
    /// Reconnections to Redis.
    pub const RECONNECTIONS: MetricDef = MetricDef::counter(
        "necro_redis_reconnections_total",
        &["stream"],
        "Reconnections to Redis.",
    );
    /// Pending entries claimed from other consumers.
    pub const RECOVERED: MetricDef = MetricDef::counter(
        "necro_redis_recovered_total",
        &["stream"],
        "Pending entries claimed from other consumers.",
    );
    /// Entries delivered but not yet acknowledged.
    pub const PENDING: MetricDef = MetricDef::gauge(
        "necro_redis_pending",
        &["stream"],
        "Entries delivered but not yet acknowledged.",
    );
    /// Entries in the stream.
    pub const STREAM_LENGTH: MetricDef = MetricDef::gauge(
        "necro_redis_stream_length",
        &["stream"],
        "Entries in the stream.",
    );

    /// Entries removed from the stream by the retention policy.
    pub const TRIMMED: MetricDef = MetricDef::counter(
        "necro_redis_trimmed_total",
        &["stream"],
        "Entries removed from the stream by the retention policy (never one a group still needs).",
    );
    /// How old the safe floor is: the oldest entry some consumer group still needs.
    pub const TRIM_FLOOR_AGE: MetricDef = MetricDef::gauge(
        "necro_redis_trim_floor_age_seconds",
        &["stream"],
        "Age of the oldest entry some consumer group still needs (the trim floor); it grows while a group stops consuming.",
    )
    .in_seconds();
    /// Entries not yet delivered to a consumer group.
    pub const GROUP_LAG: MetricDef = MetricDef::gauge(
        "necro_redis_group_lag",
        &["stream", "group"],
        "Entries of the stream not yet delivered to the consumer group (XINFO GROUPS lag), per group.",
    );
    /// Dead letters dropped by the dead-letter stream's retention bound.
    pub const DLQ_DROPPED: MetricDef = MetricDef::counter(
        "necro_redis_dlq_dropped_total",
        &["stream"],
        "Dead letters dropped, oldest first, because the dead-letter stream was over its retention bound.",
    );

    /// Every metric the Redis backend records.
    pub const METRICS: &[MetricDef] = &[
        ENQUEUED,
        PULLED,
        ACKED,
        DEAD_LETTERED,
        MALFORMED,
        HEADERS_IGNORED,
        RECONNECTIONS,
        RECOVERED,
        PENDING,
        STREAM_LENGTH,
        TRIMMED,
        TRIM_FLOOR_AGE,
        GROUP_LAG,
        DLQ_DROPPED,
    ];
}

/// Every metric NecroStack records, by crate: the spine's, then each backend's.
pub const METRICS: &[&[MetricDef]] = &[spine::METRICS, memory::METRICS, redis::METRICS];

/// Every metric NecroStack records, one after the other.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    METRICS.iter().flat_map(|m| m.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_declared_once() {
        let mut names: Vec<_> = all().map(|m| m.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a metric name is declared twice");
    }

    #[test]
    fn names_follow_the_prometheus_conventions() {
        for m in all() {
            assert!(m.name.starts_with("necro_"), "{}", m.name);
            match m.kind {
                MetricKind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
                MetricKind::Histogram => assert!(m.name.ends_with("_seconds"), "{}", m.name),
                MetricKind::Gauge => assert!(!m.name.ends_with("_total"), "{}", m.name),
            }
            assert!(!m.help.is_empty(), "{} has no HELP text", m.name);
        }
    }
}
