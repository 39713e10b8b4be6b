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
    /// Emitted events that could not be enqueued, per event type, whether the backend refused
    /// them or could not be reached (and whatever then became of them: dead-lettered under
    /// STORE, dropped with their source given back under FAIL and RETRY).
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
    /// Events nacked: given back with an attempt counted (handler failure mode NACK; a source
    /// whose output the backend refused under FAIL or RETRY, or whose dead letter could not
    /// be stored).
    pub nacked: u64,
    /// Nacked events the backend dead-lettered after its maximum deliveries.
    pub nack_dead_lettered: u64,
    /// Deliveries given back unhandled or unsettled, without counting an attempt
    /// (`Backend::release`): pulled but not started when a run stopped, abandoned at the
    /// shutdown deadline, or left after a commit the backend could not take.
    pub released: u64,
    /// Failed backend calls other than acks: pulls, batch commits the backend could not be
    /// reached for (their emitted events also count in `enqueue_failures`), nacks, releases
    /// and dead-letter stores. A commit the backend refused (a full queue) counts only in
    /// `enqueue_failures`.
    pub backend_errors: u64,
    /// Failed acknowledgements.
    pub ack_errors: u64,
}

/// A few lines for a terminal: throughput, handler errors per organ, enqueue failures per
/// event type, dead letters, and what was given back.
///
/// ```
/// let stats = necro_spine::Stats::default();
/// assert_eq!(
///     stats.to_string(),
///     "processed 0, emitted 0, unrouted 0\n\
///      handler errors: none; retries 0, timeouts 0, panics 0, circuit rejections 0\n\
///      enqueue failures: none; enqueue retries 0\n\
///      dead letters: 0 by the spine, 0 by the backend after max deliveries\n\
///      given back: 0 nacked, 0 released; backend errors 0, ack errors 0"
/// );
/// ```
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// `total (key: n, key: n)`, or `none`.
        fn breakdown(
            f: &mut std::fmt::Formatter<'_>,
            total: u64,
            map: &BTreeMap<String, u64>,
        ) -> std::fmt::Result {
            if map.is_empty() {
                return f.write_str("none");
            }
            write!(f, "{total} (")?;
            for (i, (key, n)) in map.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{key}: {n}")?;
            }
            f.write_str(")")
        }
        writeln!(
            f,
            "processed {}, emitted {}, unrouted {}",
            self.processed, self.emitted, self.unrouted
        )?;
        f.write_str("handler errors: ")?;
        breakdown(f, self.total_handler_errors(), &self.handler_errors)?;
        writeln!(
            f,
            "; retries {}, timeouts {}, panics {}, circuit rejections {}",
            self.retries, self.timeouts, self.panics, self.circuit_rejections
        )?;
        f.write_str("enqueue failures: ")?;
        breakdown(f, self.total_enqueue_failures(), &self.enqueue_failures)?;
        writeln!(f, "; enqueue retries {}", self.enqueue_retries)?;
        writeln!(
            f,
            "dead letters: {} by the spine, {} by the backend after max deliveries",
            self.dead_lettered, self.nack_dead_lettered
        )?;
        write!(
            f,
            "given back: {} nacked, {} released; backend errors {}, ack errors {}",
            self.nacked, self.released, self.backend_errors, self.ack_errors
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_errors_per_organ_failures_per_type_and_dead_letters() {
        let stats = Stats {
            processed: 40,
            emitted: 12,
            unrouted: 1,
            enqueue_failures: BTreeMap::from([("B".to_owned(), 2)]),
            enqueue_retries: 3,
            handler_errors: BTreeMap::from([("Emailer".to_owned(), 1), ("Billing".to_owned(), 2)]),
            retries: 4,
            timeouts: 1,
            panics: 0,
            circuit_rejections: 0,
            dead_lettered: 5,
            nacked: 1,
            nack_dead_lettered: 1,
            released: 2,
            backend_errors: 6,
            ack_errors: 0,
        };
        assert_eq!(
            stats.to_string(),
            "processed 40, emitted 12, unrouted 1\n\
             handler errors: 3 (Billing: 2, Emailer: 1); retries 4, timeouts 1, panics 0, \
             circuit rejections 0\n\
             enqueue failures: 2 (B: 2); enqueue retries 3\n\
             dead letters: 5 by the spine, 1 by the backend after max deliveries\n\
             given back: 1 nacked, 2 released; backend errors 6, ack errors 0"
        );
    }
}
