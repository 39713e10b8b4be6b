//! A recorder wrapper that bounds the `event_type` label.
//!
//! Organ names, streams and failure kinds are fixed by the application's code, but event
//! types arrive from the wire: on Redis, a producer that invents event types would create a
//! new series per type. Past `max` distinct values, further event types are recorded as
//! [`OVERFLOW`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};

/// The `event_type` label value used once the cap is reached.
pub(crate) const OVERFLOW: &str = "_other";

const LABEL: &str = "event_type";

pub(crate) struct Capped<R> {
    inner: R,
    max: usize,
    seen: RwLock<HashSet<String>>,
}

impl<R> Capped<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            seen: RwLock::new(HashSet::new()),
        }
    }

    fn key<'k>(&self, key: &'k Key) -> Cow<'k, Key> {
        let Some(value) = key.labels().find(|l| l.key() == LABEL).map(Label::value) else {
            return Cow::Borrowed(key);
        };
        if self
            .seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(value)
        {
            return Cow::Borrowed(key);
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return Cow::Borrowed(key);
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return Cow::Borrowed(key);
        }
        let labels: Vec<Label> = key
            .labels()
            .map(|l| {
                if l.key() == LABEL {
                    Label::new(LABEL, OVERFLOW)
                } else {
                    l.clone()
                }
            })
            .collect();
        Cow::Owned(Key::from_parts(key.name_shared(), labels))
    }
}

impl<R: Recorder> Recorder for Capped<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(&self.key(key), metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(&self.key(key), metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(&self.key(key), metadata)
    }
}

/// Describes every metric NecroStack records, so `/metrics` carries `# HELP` lines.
pub(crate) fn describe_all() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "necro_events_processed_total",
        Unit::Count,
        "Events pulled and dispatched, per event type."
    );
    describe_counter!(
        "necro_events_emitted_total",
        Unit::Count,
        "Events emitted by organs and enqueued, per emitted event type."
    );
    describe_counter!(
        "necro_events_unrouted_total",
        Unit::Count,
        "Events no organ listens to (acked), per event type."
    );
    describe_histogram!(
        "necro_handler_duration_seconds",
        Unit::Seconds,
        "Time spent in one organ call, per organ: a summary: quantiles over the last 40 to 60 s, _sum and _count since start."
    );
    describe_counter!(
        "necro_handler_errors_total",
        Unit::Count,
        "Organ failures after retries, per organ and kind (error, permanent, timeout, panic, circuit_open)."
    );
    describe_counter!(
        "necro_handler_retries_total",
        Unit::Count,
        "Organ call retries, per organ."
    );
    describe_counter!(
        "necro_enqueue_failures_total",
        Unit::Count,
        "Emitted events that could not be enqueued, per event type."
    );
    describe_counter!(
        "necro_enqueue_retries_total",
        Unit::Count,
        "Enqueue retries (enqueue failure mode RETRY)."
    );
    describe_counter!(
        "necro_dead_letters_total",
        Unit::Count,
        "Events dead-lettered by the spine, per kind (handler_failed, max_deliveries, enqueue_failed) and event type."
    );
    describe_counter!(
        "necro_backend_errors_total",
        Unit::Count,
        "Failed backend calls, per operation."
    );
    describe_gauge!(
        "necro_circuit_state",
        "Organ circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    describe_gauge!(
        "necro_backend_circuit_state",
        "Backend circuit breaker: 0 closed, 1 open, 2 half-open."
    );
    describe_gauge!(
        "necro_events_in_flight",
        Unit::Count,
        "Events being handled now."
    );
    describe_gauge!(
        "necro_queue_depth",
        Unit::Count,
        "Events waiting in the in-memory queue."
    );
    describe_gauge!(
        "necro_memory_dead_letters",
        Unit::Count,
        "Dead letters held by the in-memory store."
    );
    describe_counter!(
        "necro_redis_enqueued_total",
        Unit::Count,
        "Entries added to the stream."
    );
    describe_counter!(
        "necro_redis_pulled_total",
        Unit::Count,
        "Entries read from the stream."
    );
    describe_counter!(
        "necro_redis_acked_total",
        Unit::Count,
        "Entries acknowledged."
    );
    describe_counter!(
        "necro_redis_dead_lettered_total",
        Unit::Count,
        "Entries moved to the dead-letter stream."
    );
    describe_counter!(
        "necro_redis_reconnections_total",
        Unit::Count,
        "Reconnections to Redis."
    );
    describe_counter!(
        "necro_redis_recovered_total",
        Unit::Count,
        "Pending entries claimed from other consumers."
    );
    describe_gauge!(
        "necro_redis_pending",
        Unit::Count,
        "Entries delivered but not yet acknowledged."
    );
    describe_gauge!(
        "necro_redis_stream_length",
        Unit::Count,
        "Entries in the stream."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn event_types_past_the_cap_are_folded_into_overflow() {
        let prom = PrometheusBuilder::new().build_recorder();
        let handle = prom.handle();
        let capped = Capped::new(prom, 2);
        metrics::with_local_recorder(&capped, || {
            for t in ["A", "B", "C", "D", "A"] {
                metrics::counter!("necro_events_processed_total", "event_type" => t).increment(1);
            }
            metrics::counter!("necro_handler_retries_total", "organ" => "x").increment(1);
        });
        let text = handle.render();
        assert!(
            text.contains("necro_events_processed_total{event_type=\"A\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("necro_events_processed_total{event_type=\"B\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("necro_events_processed_total{event_type=\"_other\"} 2"),
            "{text}"
        );
        assert!(!text.contains("event_type=\"C\""), "{text}");
        assert!(
            text.contains("necro_handler_retries_total{organ=\"x\"} 1"),
            "{text}"
        );
    }
}
