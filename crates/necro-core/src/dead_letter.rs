//! Dead letters: events that failed for good, with every reason why.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::envelope::Metadata;
use crate::event::Event;

/// How an organ (or an enqueue) failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The organ returned a transient error and its retries ran out.
    #[default]
    Error,
    /// The organ returned a permanent error (never retried).
    Permanent,
    /// The organ exceeded its timeout (on every try).
    Timeout,
    /// The organ panicked.
    Panic,
    /// The organ's circuit breaker was open: the call failed fast.
    CircuitOpen,
    /// Emitted events could not be enqueued.
    Enqueue,
    /// Anything else (a malformed entry, the backend's own reason).
    Other,
}

impl FailureKind {
    /// The kind's name, as in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Permanent => "permanent",
            Self::Timeout => "timeout",
            Self::Panic => "panic",
            Self::CircuitOpen => "circuit_open",
            Self::Enqueue => "enqueue",
            Self::Other => "other",
        }
    }
}

/// One organ's failure on an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The organ that failed, if an organ failed (not, say, an enqueue).
    pub organ: Option<String>,
    /// The error with its cause chain.
    pub error: String,
    /// How it failed.
    #[serde(default)]
    pub kind: FailureKind,
    /// How many times the call was retried before giving up (handler retries, within one
    /// delivery).
    #[serde(default)]
    pub retries: u32,
}

impl Failure {
    /// A failure of kind [`FailureKind::Error`] with no retries.
    #[must_use]
    pub fn new(organ: Option<String>, error: impl Into<String>) -> Self {
        Self {
            organ,
            error: error.into(),
            kind: FailureKind::Error,
            retries: 0,
        }
    }

    /// Sets the kind.
    #[must_use]
    pub fn with_kind(mut self, kind: FailureKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }
}

/// Why a dead letter was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadLetterKind {
    /// One or more organs failed (handler failure mode STORE).
    HandlerFailed,
    /// The backend delivered it the maximum number of times (handler failure mode NACK).
    MaxDeliveries,
    /// An emitted event could not be enqueued (enqueue failure mode STORE).
    EnqueueFailed,
    /// The stored entry could not be read as an event.
    Malformed,
}

/// An event that failed for good.
///
/// With several organs failing on one event, `failures` keeps every organ's error;
/// `reason` sums them up and `organ` names the first.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The event.
    pub event: Event,
    /// Its chain-tracing metadata.
    pub meta: Metadata,
    /// What kind of failure.
    pub kind: DeadLetterKind,
    /// A one-line summary of why.
    pub reason: String,
    /// The first organ that failed, if any.
    pub organ: Option<String>,
    /// Every failure, in organ order.
    pub failures: Vec<Failure>,
    /// How many times it was delivered.
    pub attempts: u32,
    /// When it was dead-lettered.
    pub failed_at: OffsetDateTime,
}

impl DeadLetter {
    /// A dead letter made now from its failures; `reason` joins them.
    #[must_use]
    pub fn new(
        event: Event,
        meta: Metadata,
        kind: DeadLetterKind,
        failures: Vec<Failure>,
        attempts: u32,
    ) -> Self {
        let reason = failures
            .iter()
            .map(|f| match &f.organ {
                Some(o) => format!("{o}: {}", f.error),
                None => f.error.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let organ = failures.iter().find_map(|f| f.organ.clone());
        Self {
            event,
            meta,
            kind,
            reason,
            organ,
            failures,
            attempts,
            failed_at: OffsetDateTime::now_utc(),
        }
    }

    /// A dead letter with a single reason and no organ.
    #[must_use]
    pub fn with_reason(
        event: Event,
        meta: Metadata,
        kind: DeadLetterKind,
        reason: impl Into<String>,
        attempts: u32,
    ) -> Self {
        Self::new(
            event,
            meta,
            kind,
            vec![Failure::new(None, reason).with_kind(match kind {
                DeadLetterKind::EnqueueFailed => FailureKind::Enqueue,
                _ => FailureKind::Other,
            })],
            attempts,
        )
    }
}
