//! The spine's telemetry: the metrics it records (declared once, in
//! [`necro_core::telemetry::spine`], and re-exported here with their list [`METRICS`]), the
//! hot per-event metric handles, and the crate-private `Telemetry`, whose one call per fact
//! both counts in [`Stats`] and records the metric.
//!
//! Every recording site in the spine uses these constants' names; no metric name is written
//! anywhere in the crate's sources (a unit test fails on a `"necro_…"` string literal in any
//! other source file). `necro-observe` gives an installed recorder their HELP texts;
//! `docs/metrics-contract.md` documents the same list and is checked against it.
//!
//! ```
//! use necro_core::telemetry::MetricKind;
//! use necro_spine::telemetry::{self, EVENTS_PROCESSED};
//!
//! assert_eq!(EVENTS_PROCESSED.name, "necro_events_processed_total");
//! assert_eq!(EVENTS_PROCESSED.kind, MetricKind::Counter);
//! assert!(telemetry::METRICS.contains(&EVENTS_PROCESSED));
//! ```

use std::sync::Arc;

use necro_core::{BackendError, DeadLetterKind, EventType, FailureKind};

use crate::breaker::CircuitState;
use crate::stats::{Counters, Stats};

/// The `tracing` target of every span and event the spine writes.
pub(crate) const TARGET: &str = "necro_spine";

/// The spine's metrics, declared in the contract every crate shares
/// ([`necro_core::telemetry::spine`]): re-exported here so the spine's recording sites and
/// its users name them from the crate that records them.
pub use necro_core::telemetry::spine::*;

/// The `kind` label of [`DEAD_LETTERS`].
fn dead_letter_kind(kind: DeadLetterKind) -> &'static str {
    match kind {
        DeadLetterKind::HandlerFailed => "handler_failed",
        DeadLetterKind::MaxDeliveries => "max_deliveries",
        DeadLetterKind::EnqueueFailed => "enqueue_failed",
        _ => "malformed",
    }
}

/// Handles on the metric series written for every event, registered once per run with the
/// recorder installed at that time: building a labelled key per event cost about a fifth of
/// the spine's own work per event. Types no organ listens to fall back to the macros.
pub(crate) struct HotMetrics {
    /// [`EVENTS_PROCESSED`] and [`EVENTS_EMITTED`], by route index.
    by_route: Vec<(metrics::Counter, metrics::Counter)>,
    /// [`HANDLER_DURATION`], per organ (by registration index).
    duration: Vec<metrics::Histogram>,
}

impl HotMetrics {
    /// Registers the series of `routes` (each event type with its route index, `n_routes` in
    /// all) and of `organs` (their names, in registration order).
    pub(crate) fn register<'a>(
        n_routes: usize,
        routes: impl Iterator<Item = (&'a EventType, usize)>,
        organs: impl Iterator<Item = &'a Arc<str>>,
    ) -> Self {
        let mut by_route = vec![(metrics::Counter::noop(), metrics::Counter::noop()); n_routes];
        for (t, index) in routes {
            let processed = metrics::counter!(EVENTS_PROCESSED.name, "event_type" => t.shared());
            let emitted = metrics::counter!(EVENTS_EMITTED.name, "event_type" => t.shared());
            if let Some(slot) = by_route.get_mut(index) {
                *slot = (processed, emitted);
            }
        }
        let duration = organs
            .map(|name| metrics::histogram!(HANDLER_DURATION.name, "organ" => name.clone()))
            .collect();
        Self { by_route, duration }
    }

    /// The [`HANDLER_DURATION`] handle of the organ registered `organ`-th.
    #[inline]
    pub(crate) fn duration(&self, organ: usize) -> Option<&metrics::Histogram> {
        self.duration.get(organ)
    }

    /// Records one call's duration of organ `name` on its handle, or through the macro when
    /// it has none.
    #[inline]
    pub(crate) fn record_duration(h: Option<&metrics::Histogram>, name: &Arc<str>, seconds: f64) {
        match h {
            Some(h) => h.record(seconds),
            None => {
                metrics::histogram!(HANDLER_DURATION.name, "organ" => name.clone()).record(seconds);
            }
        }
    }
}

/// A spine's counters ([`Stats`]) and its metrics, written together: each method is one fact,
/// counted in the stats (where they keep it) and recorded as its metric (where there is one).
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    counters: Counters,
}

impl Telemetry {
    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> Stats {
        self.counters.snapshot()
    }

    /// An event was pulled and is being dispatched; `route` is its route's index, if any.
    #[inline]
    pub(crate) fn processed(&self, hot: &HotMetrics, route: Option<usize>, t: &EventType) {
        Counters::add(&self.counters.processed, 1);
        match route.and_then(|r| hot.by_route.get(r)) {
            Some((c, _)) => c.increment(1),
            None => {
                metrics::counter!(EVENTS_PROCESSED.name, "event_type" => t.shared()).increment(1)
            }
        }
    }

    /// `n` emitted events were enqueued: `events` gives each one's route index (if its type
    /// has a route) and type.
    #[inline]
    pub(crate) fn emitted<'a>(
        &self,
        hot: &HotMetrics,
        n: usize,
        events: impl Iterator<Item = (Option<usize>, &'a EventType)>,
    ) {
        Counters::add(&self.counters.emitted, n as u64);
        for (route, t) in events {
            match route.and_then(|r| hot.by_route.get(r)) {
                Some((_, c)) => c.increment(1),
                None => {
                    metrics::counter!(EVENTS_EMITTED.name, "event_type" => t.shared()).increment(1)
                }
            }
        }
    }

    /// No organ listens to an event's type.
    pub(crate) fn unrouted(&self, t: &EventType) {
        Counters::add(&self.counters.unrouted, 1);
        metrics::counter!(EVENTS_UNROUTED.name, "event_type" => t.shared()).increment(1);
    }

    /// An organ failed after its retries.
    pub(crate) fn handler_error(&self, organ: &Arc<str>, kind: FailureKind) {
        self.counters.handler_error(organ);
        metrics::counter!(HANDLER_ERRORS.name, "organ" => organ.clone(), "kind" => kind.as_str())
            .increment(1);
    }

    /// An organ call is retried.
    pub(crate) fn handler_retry(&self, organ: &Arc<str>) {
        Counters::add(&self.counters.retries, 1);
        metrics::counter!(HANDLER_RETRIES.name, "organ" => organ.clone()).increment(1);
    }

    /// An organ call timed out.
    pub(crate) fn handler_timeout(&self) {
        Counters::add(&self.counters.timeouts, 1);
    }

    /// An organ call panicked.
    pub(crate) fn handler_panic(&self) {
        Counters::add(&self.counters.panics, 1);
    }

    /// An open circuit refused an organ call.
    pub(crate) fn circuit_rejection(&self) {
        Counters::add(&self.counters.circuit_rejections, 1);
    }

    /// An organ's circuit breaker changed state.
    pub(crate) fn circuit_state(&self, organ: &Arc<str>, state: CircuitState) {
        metrics::gauge!(CIRCUIT_STATE.name, "organ" => organ.clone()).set(state.as_gauge());
    }

    /// The backend circuit breaker is in `state`.
    pub(crate) fn backend_circuit(&self, state: CircuitState) {
        metrics::gauge!(BACKEND_CIRCUIT_STATE.name).set(state.as_gauge());
    }

    /// `held` deliveries are pulled and not settled, over the whole run.
    pub(crate) fn in_flight(&self, held: usize) {
        metrics::gauge!(EVENTS_IN_FLIGHT.name).set(held as f64);
    }

    /// An event of type `t` was dead-lettered: by the spine, or (`MaxDeliveries`) by the
    /// backend on a nack.
    pub(crate) fn dead_lettered(&self, kind: DeadLetterKind, t: Arc<str>) {
        let counter = match kind {
            DeadLetterKind::MaxDeliveries => &self.counters.nack_dead_lettered,
            _ => &self.counters.dead_lettered,
        };
        Counters::add(counter, 1);
        metrics::counter!(DEAD_LETTERS.name, "kind" => dead_letter_kind(kind), "event_type" => t)
            .increment(1);
    }

    /// An event was nacked (given back with an attempt counted).
    pub(crate) fn nacked(&self) {
        Counters::add(&self.counters.nacked, 1);
    }

    /// `n` deliveries were given back unhandled.
    pub(crate) fn released(&self, n: usize) {
        Counters::add(&self.counters.released, n as u64);
    }

    /// A batch commit (of acks and emitted events) took `seconds`, whatever its outcome:
    /// one [`COMMIT_DURATION`] sample per batch, not per event.
    pub(crate) fn batch_committed(&self, seconds: f64) {
        metrics::histogram!(COMMIT_DURATION.name).record(seconds);
    }

    /// A backend call other than an ack failed (the caller logs it).
    pub(crate) fn backend_failed(&self, op: &'static str) {
        Counters::add(&self.counters.backend_errors, 1);
        metrics::counter!(BACKEND_ERRORS.name, "op" => op).increment(1);
    }

    /// A backend call other than an ack failed with `err`: counted, recorded and logged.
    pub(crate) fn backend_error(&self, op: &'static str, err: &BackendError) {
        self.backend_failed(op);
        tracing::error!(target: TARGET, op, error = %necro_core::error_chain(err), "backend call failed");
    }

    /// An ack failed (the caller logs it).
    pub(crate) fn ack_failed(&self) {
        Counters::add(&self.counters.ack_errors, 1);
        metrics::counter!(BACKEND_ERRORS.name, "op" => "ack").increment(1);
    }

    /// An emitted event of type `t` could not be enqueued.
    pub(crate) fn enqueue_failure(&self, t: &EventType) {
        self.counters.enqueue_failure(t.as_str(), 1);
        metrics::counter!(ENQUEUE_FAILURES.name, "event_type" => t.shared()).increment(1);
    }

    /// A commit is retried (enqueue failure mode RETRY).
    pub(crate) fn enqueue_retry(&self) {
        Counters::add(&self.counters.enqueue_retries, 1);
        metrics::counter!(ENQUEUE_RETRIES.name).increment(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_names_are_written_only_here() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("telemetry.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source file");
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !line.contains("\"necro_"),
                    "{}:{}: a \"necro_…\" string literal outside telemetry.rs (metric names \
                     and the log target are declared there): {line}",
                    path.display(),
                    n + 1
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} source files found in {dir}");
    }
}
