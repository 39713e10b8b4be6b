//! HELP texts (`describe_*`) for the metrics the spine and the backends record.
//!
//! necro-observe records no metric of its own. Until each recording crate describes its own
//! metrics (`necro_spine::telemetry::describe` and the backends' equivalents), the HELP
//! lines on `/metrics` come from here; every entry below moves to the crate that records it.

use metrics::Unit;

/// Describes the metrics NecroStack's crates record, so `/metrics` carries `# HELP` lines.
pub(crate) fn describe_all() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_events_processed_total",
        Unit::Count,
        "Events pulled and dispatched, per event type."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_events_emitted_total",
        Unit::Count,
        "Events emitted by organs and enqueued, per emitted event type."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_events_unrouted_total",
        Unit::Count,
        "Events no organ listens to (acked), per event type."
    );
    // moves to necro_spine::telemetry::describe
    describe_histogram!(
        "necro_handler_duration_seconds",
        Unit::Seconds,
        "Time spent in one organ call, per organ: a summary: quantiles over the last 40 to 60 s, _sum and _count since start."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_handler_errors_total",
        Unit::Count,
        "Organ failures after retries, per organ and kind (error, permanent, timeout, panic, circuit_open)."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_handler_retries_total",
        Unit::Count,
        "Organ call retries, per organ."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_enqueue_failures_total",
        Unit::Count,
        "Emitted events that could not be enqueued, per event type."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_enqueue_retries_total",
        Unit::Count,
        "Enqueue retries (enqueue failure mode RETRY)."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_dead_letters_total",
        Unit::Count,
        "Events dead-lettered by the spine, per kind (handler_failed, max_deliveries, enqueue_failed) and event type."
    );
    // moves to necro_spine::telemetry::describe
    describe_counter!(
        "necro_backend_errors_total",
        Unit::Count,
        "Failed backend calls, per operation."
    );
    // moves to necro_spine::telemetry::describe
    describe_gauge!(
        "necro_circuit_state",
        "Organ circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    // moves to necro_spine::telemetry::describe
    describe_gauge!(
        "necro_backend_circuit_state",
        "Backend circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    // moves to necro_spine::telemetry::describe
    describe_gauge!(
        "necro_events_in_flight",
        Unit::Count,
        "Events being handled now."
    );
    // moves to necro_backend_memory::telemetry::describe
    describe_gauge!(
        "necro_queue_depth",
        Unit::Count,
        "Events waiting in the in-memory queue."
    );
    // moves to necro_backend_memory::telemetry::describe
    describe_gauge!(
        "necro_memory_dead_letters",
        Unit::Count,
        "Dead letters held by the in-memory store."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_enqueued_total",
        Unit::Count,
        "Entries added to the stream."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_pulled_total",
        Unit::Count,
        "Entries read from the stream."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_acked_total",
        Unit::Count,
        "Entries acknowledged."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_dead_lettered_total",
        Unit::Count,
        "Entries moved to the dead-letter stream."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_reconnections_total",
        Unit::Count,
        "Reconnections to Redis."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_counter!(
        "necro_redis_recovered_total",
        Unit::Count,
        "Pending entries claimed from other consumers."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_gauge!(
        "necro_redis_pending",
        Unit::Count,
        "Entries delivered but not yet acknowledged."
    );
    // moves to necro_backend_redis::telemetry::describe
    describe_gauge!(
        "necro_redis_stream_length",
        Unit::Count,
        "Entries in the stream."
    );
}
