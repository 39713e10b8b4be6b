//! The narrow traits backends implement — [`Backend`], [`DeadLetterStore`] (with its
//! dyn-compatible twin) and [`Health`] — and what they answer with: [`NackOutcome`] and
//! [`HealthReport`]. The events crossing them travel as [`Envelope`]s and [`Delivery`]s.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::dead_letter::DeadLetter;
use crate::envelope::{Delivery, Envelope};
use crate::error::BackendError;
use crate::event::Event;
use crate::organ::BoxFuture;

/// What a backend did with a nacked delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NackOutcome {
    /// It will be delivered again; this is the attempt number it will carry.
    Requeued {
        /// The attempt number of the next delivery.
        next_attempt: u32,
    },
    /// It had been delivered the maximum number of times and is now a dead letter.
    DeadLettered,
}

/// A backend: carries events between producers and the spine.
///
/// Delivery is at-least-once: a pulled delivery that is neither acked nor nacked will be
/// delivered again (how and when is the backend's business). Tokens are only meaningful to
/// the backend that issued them.
pub trait Backend: Send + Sync + 'static {
    /// The backend's handle for one delivery.
    type Token: Send + Sync + Clone + std::fmt::Debug + 'static;

    /// Enqueues events in order. All-or-nothing where the backend can.
    fn enqueue(
        &self,
        batch: Vec<Envelope>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Enqueues one event (a root of a new chain).
    fn send(&self, event: Event) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.enqueue(vec![Envelope::new(event)])
    }

    /// Pulls up to `max` deliveries, waiting up to `wait` for the first one.
    /// Returns an empty batch when nothing arrived in time.
    fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery<Self::Token>>, BackendError>> + Send;

    /// Acknowledges deliveries: they are done and will not be delivered again.
    ///
    /// Tokens the backend does not hold (acked, nacked or released already) are reported as
    /// [`BackendError::UnknownToken`] *after* the ones it holds have been acked; a backend that
    /// cannot tell (Redis: `XACK` of an acked entry answers 0) answers `Ok`. A token from
    /// another backend is a programming error; [`BoxBackend`](crate::BoxBackend) refuses the
    /// whole call with `UnknownToken` before its backend sees it.
    fn ack(
        &self,
        tokens: Vec<Self::Token>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Gives a delivery back: it is redelivered with its attempt raised, or dead-lettered
    /// once it has been delivered the backend's maximum number of times.
    fn nack(
        &self,
        delivery: Delivery<Self::Token>,
        reason: String,
    ) -> impl Future<Output = Result<NackOutcome, BackendError>> + Send;

    /// Gives back deliveries that were pulled but never handled (a run stopped before it got
    /// to them: `max_steps`, another runner's failure), without counting a failed attempt:
    /// they are delivered again as if they had not been pulled.
    ///
    /// The default nacks each one, which does count an attempt; the shipped backends override
    /// it. Deliveries the backend no longer holds are reported as with [`ack`](Self::ack):
    /// [`BackendError::UnknownToken`] after the others have been given back (the spine then
    /// counts them as settled, not as left over).
    fn release(
        &self,
        deliveries: Vec<Delivery<Self::Token>>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async move {
            for delivery in deliveries {
                self.nack(delivery, "released unhandled".to_owned()).await?;
            }
            Ok(())
        }
    }

    /// Enqueues `emitted` and acknowledges `acks` as one step.
    ///
    /// The default enqueues, then acks: a crash between the two redelivers the sources and
    /// so may duplicate the emitted events. Backends that can make it atomic (Redis
    /// MULTI/EXEC, the in-memory queue's lock) override it; [`Backend::atomic_commit`] says which.
    fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<Self::Token>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async move {
            if !emitted.is_empty() {
                self.enqueue(emitted).await?;
            }
            if !acks.is_empty() {
                self.ack(acks).await?;
            }
            Ok(())
        }
    }

    /// Whether [`Backend::commit`] is all-or-nothing.
    fn atomic_commit(&self) -> bool {
        false
    }

    /// Closes the backend: stops handing out deliveries and lets go of what it holds in the
    /// transport (the Redis backend removes its consumer from the group). Calls after the
    /// first are no-ops. The default does nothing.
    fn close(&self) -> impl Future<Output = Result<(), BackendError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// Somewhere dead letters go: events that failed for good, kept for inspection and replay.
pub trait DeadLetterStore: Send + Sync + 'static {
    /// Stores one dead letter.
    fn store(&self, letter: DeadLetter) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The dyn-compatible twin of [`DeadLetterStore`], with a blanket impl: what the spine holds
/// when the caller passes a store of its own.
pub trait DynDeadLetterStore: Send + Sync + 'static {
    /// Stores one dead letter, boxing the future.
    fn store_boxed(&self, letter: DeadLetter) -> BoxFuture<'_, Result<(), BackendError>>;
}

impl<S: DeadLetterStore> DynDeadLetterStore for S {
    fn store_boxed(&self, letter: DeadLetter) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.store(letter))
    }
}

impl<S: DeadLetterStore> DeadLetterStore for std::sync::Arc<S> {
    fn store(&self, letter: DeadLetter) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).store(letter)
    }
}

/// A backend or store that can report on its own health.
pub trait Health: Send + Sync + 'static {
    /// Checks reachability and gathers figures.
    fn health(&self) -> impl Future<Output = HealthReport> + Send;
}

/// The outcome of a health check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Whether the backend can carry events now.
    pub healthy: bool,
    /// Round-trip time of the check, when it measured one.
    pub latency: Option<Duration>,
    /// Backend-specific figures (queue depth, pending count, lag, …).
    pub details: BTreeMap<String, serde_json::Value>,
    /// Why it is unhealthy, when it is.
    pub error: Option<String>,
}

impl HealthReport {
    /// A healthy report with no figures.
    #[must_use]
    pub fn healthy() -> Self {
        Self {
            healthy: true,
            latency: None,
            details: BTreeMap::new(),
            error: None,
        }
    }

    /// An unhealthy report with a reason.
    #[must_use]
    pub fn unhealthy(error: impl Into<String>) -> Self {
        Self {
            healthy: false,
            latency: None,
            details: BTreeMap::new(),
            error: Some(error.into()),
        }
    }

    /// Adds a figure.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}
