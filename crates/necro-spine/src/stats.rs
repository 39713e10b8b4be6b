//! Counters for a spine's runs, and their snapshot.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a spine's counters, cumulative over its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events pulled and dispatched (routed or not).
    pub processed: u64,
    /// Events emitted by organs and enqueued.
    pub emitted: u64,
    /// Events no organ listens to (acked).
    pub unrouted: u64,
    /// Emitted events that could not be enqueued, per event type.
    pub enqueue_failures: BTreeMap<String, u64>,
    /// Enqueue retries (enqueue failure mode RETRY).
    pub enqueue_retries: u64,
    /// Organ failures after retries, per organ (errors, panics, timeouts, open circuit).
    pub handler_errors: BTreeMap<String, u64>,
    /// Handler retries.
    pub retries: u64,
    /// Handler calls that timed out (each try counts).
    pub timeouts: u64,
    /// Handler calls that panicked.
    pub panics: u64,
    /// Calls refused by an open circuit.
    pub circuit_rejections: u64,
    /// Events dead-lettered by the spine (STORE modes).
    pub dead_lettered: u64,
    /// Events given back to the backend (NACK mode, or after a failed commit).
    pub nacked: u64,
    /// Nacked events the backend dead-lettered after its maximum deliveries.
    pub nack_dead_lettered: u64,
    /// Deliveries given back unhandled or unsettled, without counting an attempt
    /// (`Backend::release`): pulled but not started when a run stopped, abandoned at the
    /// shutdown deadline, or left after a commit the backend could not take.
    pub released: u64,
    /// Failed backend calls (pull, nack, dead-letter store).
    pub backend_errors: u64,
    /// Failed acknowledgements.
    pub ack_errors: u64,
}

impl Stats {
    /// Total handler errors over all organs.
    #[must_use]
    pub fn total_handler_errors(&self) -> u64 {
        self.handler_errors.values().sum()
    }

    /// Total enqueue failures over all event types.
    #[must_use]
    pub fn total_enqueue_failures(&self) -> u64 {
        self.enqueue_failures.values().sum()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) processed: AtomicU64,
    pub(crate) emitted: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) enqueue_retries: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) circuit_rejections: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) nack_dead_lettered: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) ack_errors: AtomicU64,
    maps: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    enqueue_failures: BTreeMap<String, u64>,
    handler_errors: BTreeMap<String, u64>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn enqueue_failure(&self, event_type: &str, n: u64) {
        let mut m = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        *m.enqueue_failures.entry(event_type.to_owned()).or_default() += n;
    }

    pub(crate) fn handler_error(&self, organ: &str) {
        let mut m = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        *m.handler_errors.entry(organ.to_owned()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let m = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        Stats {
            processed: self.processed.load(Relaxed),
            emitted: self.emitted.load(Relaxed),
            unrouted: self.unrouted.load(Relaxed),
            enqueue_failures: m.enqueue_failures.clone(),
            enqueue_retries: self.enqueue_retries.load(Relaxed),
            handler_errors: m.handler_errors.clone(),
            retries: self.retries.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            panics: self.panics.load(Relaxed),
            circuit_rejections: self.circuit_rejections.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            nacked: self.nacked.load(Relaxed),
            nack_dead_lettered: self.nack_dead_lettered.load(Relaxed),
            released: self.released.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
            ack_errors: self.ack_errors.load(Relaxed),
        }
    }
}
