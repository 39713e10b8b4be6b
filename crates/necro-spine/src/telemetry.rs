//! The spine's telemetry contract: every metric it records, declared once as a
//! [`MetricDef`], the list of them ([`METRICS`]) and [`describe`], which gives a recorder their
//! HELP texts.
//!
//! Every recording site in the spine uses these constants' names; no metric name is written
//! anywhere else in the crate (a unit test fails on a `"necro_…"` string literal in any other
//! source file). `docs/metrics-contract.md` documents the same list.
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

use metrics::Unit;
use necro_core::telemetry::{MetricDef, MetricKind};
use necro_core::{BackendError, DeadLetterKind, EventType, FailureKind};

use crate::breaker::CircuitState;
use crate::stats::{Counters, Stats};

/// The `tracing` target of every span and event the spine writes.
pub(crate) const TARGET: &str = "necro_spine";

/// Events pulled and dispatched (routed or not), by `event_type`.
pub const EVENTS_PROCESSED: MetricDef = MetricDef::counter(
    "necro_events_processed_total",
    &["event_type"],
    "Events pulled and dispatched, per event type.",
);

/// Events emitted by organs and enqueued, by the emitted event's `event_type`.
pub const EVENTS_EMITTED: MetricDef = MetricDef::counter(
    "necro_events_emitted_total",
    &["event_type"],
    "Events emitted by organs and enqueued, per emitted event type.",
);

/// Events no organ listens to (acked), by `event_type`.
pub const EVENTS_UNROUTED: MetricDef = MetricDef::counter(
    "necro_events_unrouted_total",
    &["event_type"],
    "Events no organ listens to (acked), per event type.",
);

/// Time spent in one organ call, in seconds, by `organ`.
pub const HANDLER_DURATION: MetricDef = MetricDef::histogram(
    "necro_handler_duration_seconds",
    &["organ"],
    "Time spent in one organ call, per organ: a summary: quantiles over the last 40 to 60 s, \
     _sum and _count since start.",
);

/// Organ failures after retries, by `organ` and `kind` (a `FailureKind`'s name).
pub const HANDLER_ERRORS: MetricDef = MetricDef::counter(
    "necro_handler_errors_total",
    &["organ", "kind"],
    "Organ failures after retries, per organ and kind (error, permanent, timeout, panic, \
     circuit_open).",
);

/// Organ call retries, by `organ`.
pub const HANDLER_RETRIES: MetricDef = MetricDef::counter(
    "necro_handler_retries_total",
    &["organ"],
    "Organ call retries, per organ.",
);

/// Emitted events that could not be enqueued, by `event_type`.
pub const ENQUEUE_FAILURES: MetricDef = MetricDef::counter(
    "necro_enqueue_failures_total",
    &["event_type"],
    "Emitted events that could not be enqueued, per event type.",
);

/// Enqueue retries (enqueue failure mode RETRY).
pub const ENQUEUE_RETRIES: MetricDef = MetricDef::counter(
    "necro_enqueue_retries_total",
    &[],
    "Enqueue retries (enqueue failure mode RETRY).",
);

/// Events dead-lettered by the spine, by `kind` (`handler_failed`, `max_deliveries`,
/// `enqueue_failed`) and `event_type`.
pub const DEAD_LETTERS: MetricDef = MetricDef::counter(
    "necro_dead_letters_total",
    &["kind", "event_type"],
    "Events dead-lettered by the spine, per kind (handler_failed, max_deliveries, \
     enqueue_failed) and event type.",
);

/// Failed backend calls, by `op` (`pull`, `ack`, `nack`, `release`, `commit`, `dead_letter`).
pub const BACKEND_ERRORS: MetricDef = MetricDef::counter(
    "necro_backend_errors_total",
    &["op"],
    "Failed backend calls, per operation.",
);

/// An organ's circuit breaker state (0 closed, 1 open, 2 half-open), by `organ`.
pub const CIRCUIT_STATE: MetricDef = MetricDef::gauge(
    "necro_circuit_state",
    &["organ"],
    "Organ circuit breaker: 0 closed, 1 open, 2 half-open.",
);

/// The backend circuit breaker's state (0 closed, 1 open, 2 half-open).
pub const BACKEND_CIRCUIT_STATE: MetricDef = MetricDef::gauge(
    "necro_backend_circuit_state",
    &[],
    "Backend circuit breaker: 0 closed, 1 open, 2 half-open.",
);

/// Deliveries pulled and not yet settled, over every runner of the run.
pub const EVENTS_IN_FLIGHT: MetricDef =
    MetricDef::gauge("necro_events_in_flight", &[], "Events being handled now.");

/// Every metric the spine records.
pub const METRICS: &[MetricDef] = &[
    EVENTS_PROCESSED,
    EVENTS_EMITTED,
    EVENTS_UNROUTED,
    HANDLER_DURATION,
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

/// Describes every metric in [`METRICS`] (kind, unit, HELP text) to the `metrics` recorder
/// installed now, through the `metrics::describe_*!` macros.
///
/// [`SpineBuilder::build`](crate::SpineBuilder::build) calls it, so a recorder installed
/// before the spine is built shows the HELP texts; one installed later learns them only if
/// this is called again (calling it more than once is harmless).
pub fn describe() {
    for def in METRICS {
        let unit = unit(def);
        match (def.kind, unit) {
            (MetricKind::Counter, Some(u)) => metrics::describe_counter!(def.name, u, def.help),
            (MetricKind::Counter, None) => metrics::describe_counter!(def.name, def.help),
            (MetricKind::Gauge, Some(u)) => metrics::describe_gauge!(def.name, u, def.help),
            (MetricKind::Gauge, None) => metrics::describe_gauge!(def.name, def.help),
            (MetricKind::Histogram, Some(u)) => {
                metrics::describe_histogram!(def.name, u, def.help);
            }
            (MetricKind::Histogram, None) => metrics::describe_histogram!(def.name, def.help),
            // `MetricKind` may grow; a kind this version does not know is described untyped.
            _ => metrics::describe_gauge!(def.name, def.help),
        }
    }
}

/// A metric's unit: durations in seconds; counters and the in-flight gauge count events; a
/// circuit state has none.
fn unit(def: &MetricDef) -> Option<Unit> {
    match def.kind {
        MetricKind::Histogram => Some(Unit::Seconds),
        MetricKind::Counter => Some(Unit::Count),
        _ if def.name == EVENTS_IN_FLIGHT.name => Some(Unit::Count),
        _ => None,
    }
}

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
    use std::collections::HashSet;

    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

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

    #[test]
    fn every_metric_is_listed_once_with_a_help_text() {
        let mut names = HashSet::new();
        for def in METRICS {
            assert!(names.insert(def.name), "{} listed twice", def.name);
            assert!(def.name.starts_with("necro_"), "{}", def.name);
            assert!(!def.help.is_empty(), "{} has no HELP text", def.name);
            if def.kind == MetricKind::Counter {
                assert!(def.name.ends_with("_total"), "{}", def.name);
            }
        }
    }

    #[test]
    fn building_a_spine_describes_every_metric_to_the_recorder_installed() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            build_a_spine();
            for def in METRICS {
                match def.kind {
                    MetricKind::Counter => metrics::counter!(def.name).increment(1),
                    MetricKind::Histogram => metrics::histogram!(def.name).record(0.5),
                    _ => metrics::gauge!(def.name).set(1.0),
                }
            }
        });
        let text = handle.render();
        for def in METRICS {
            let help = format!("# HELP {} {}", def.name, def.help);
            assert!(text.contains(&help), "missing `{help}` in:\n{text}");
        }
    }

    /// Builds a spine, which describes the metrics.
    fn build_a_spine() {
        let spine = crate::Spine::builder(necro_backend_memory::MemoryBackend::new())
            .build()
            .expect("a spine with no organs builds");
        drop(spine);
    }
}
