//! Dead letters: events that failed for good, with every reason why.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::Metadata;
use crate::event::Event;

/// One organ's failure on an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The organ that failed, if an organ failed (not, say, an enqueue).
    pub organ: Option<String>,
    /// The error with its cause chain.
    pub error: String,
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
            vec![Failure {
                organ: None,
                error: reason.into(),
            }],
            attempts,
        )
    }
}
