//! The spine's errors: a bad configuration, a failed run.

use necro_core::{BackendError, EventError};

/// Why a spine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An organ listens to nothing.
    #[error("organ {organ} listens to no event type")]
    NoEventTypes {
        /// The organ's name.
        organ: String,
    },
    /// An organ listens to an empty or whitespace event type.
    #[error("organ {organ} listens to an invalid event type: {source}")]
    InvalidEventType {
        /// The organ's name.
        organ: String,
        /// Why the type is invalid.
        #[source]
        source: EventError,
    },
    /// An organ has an empty name.
    #[error("an organ has an empty name")]
    EmptyOrganName,
    /// Two organs share a name (names label logs, metrics and dead letters).
    #[error("two organs are named {0}; rename one with BoxedOrgan::named")]
    DuplicateOrganName(String),
    /// A numeric option that must be positive was zero.
    #[error("{option} must be greater than zero")]
    Zero {
        /// The option's name.
        option: &'static str,
    },
    /// A circuit breaker that can never open.
    #[error("organ {organ}'s circuit breaker has a zero failure threshold")]
    ZeroBreakerThreshold {
        /// The organ's name.
        organ: String,
    },
}

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The run would have processed more than `max_steps` events: a runaway chain.
    /// The event that would have been one too many is given back to the backend.
    #[error("max_steps exceeded: this run processed {max_steps} events and more were queued")]
    MaxStepsExceeded {
        /// The configured limit.
        max_steps: u64,
    },
    /// Emitted events could not be enqueued (enqueue failure mode FAIL, or RETRY exhausted).
    /// Their source events were not acked: they were given back for redelivery (nacked when
    /// the backend refused the events; released, no attempt counted, when it could not be
    /// reached; if even that failed, the backend still holds them as delivered).
    #[error("could not enqueue {count} emitted event(s): {source}")]
    Enqueue {
        /// How many emitted events were not enqueued.
        count: usize,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The backend circuit breaker opened during a run until drained.
    #[error("backend unavailable after {failures} consecutive failed pulls: {source}")]
    BackendUnavailable {
        /// Consecutive failures.
        failures: u32,
        /// The last error.
        #[source]
        source: BackendError,
    },
    /// Deliveries the run could settle in no way: their batch commit failed because the
    /// backend could not be reached, and they could neither be dead-lettered and acked
    /// (enqueue failure mode STORE) nor given back. The backend still holds them as delivered
    /// and unacknowledged: Redis hands them out again after `claim_min_idle`; the in-memory
    /// backend after `MemoryBackend::requeue_in_flight`.
    #[error("{deliveries} delivery(ies) could be neither committed nor given back: {source}")]
    Unsettled {
        /// How many deliveries were left unsettled.
        deliveries: usize,
        /// The last error: why they could not be given back.
        #[source]
        source: BackendError,
    },
    /// Enqueueing an event given to the spine failed.
    #[error("could not enqueue the event: {0}")]
    Send(#[source] BackendError),
    /// This spine is already running.
    #[error("this spine is already running")]
    AlreadyRunning,
}
