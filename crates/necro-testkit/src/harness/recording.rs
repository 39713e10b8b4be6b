//! [`RecordingBackend`]: a [`MemoryBackend`] that keeps a copy of every event it takes in.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterStore, Delivery, Envelope, Health, HealthReport,
    NackOutcome,
};

use super::record::{Origin, Recorded};

/// The harness's backend: a [`MemoryBackend`] that records, in order, every event it takes
/// in, as a [`Recorded`] — enqueued events as [`Origin::Sent`], the events a commit enqueues
/// as [`Origin::Emitted`]. Everything else (pull, ack, nack, release, dead letters, health)
/// is the memory backend's own, untouched.
///
/// [`Harness::builder`](super::Harness::builder) makes one for you; make one yourself to
/// build the spine with your own code (an application's `build_spine(backend)`), then wrap
/// that spine with [`Harness::from_spine`](super::Harness::from_spine).
///
/// Events put back by the memory backend itself (a dead letter replayed with
/// `DeadLetterQueue::replay` on [`memory`](Self::memory)) bypass the recorder. With
/// concurrency above 1, commits finishing together are recorded in the order they return.
#[derive(Debug, Default)]
pub struct RecordingBackend {
    memory: MemoryBackend,
    log: Mutex<Vec<Recorded>>,
}

impl RecordingBackend {
    /// Records around an unbounded [`MemoryBackend::new`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records around `memory` (a bounded one, or one with its own `max_deliveries`).
    #[must_use]
    pub fn wrap(memory: MemoryBackend) -> Self {
        Self {
            memory,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The memory backend underneath: its queue depth, its dead letters and their
    /// [`DeadLetterQueue`](necro_core::DeadLetterQueue).
    #[must_use]
    pub fn memory(&self) -> &MemoryBackend {
        &self.memory
    }

    /// A copy of every record so far, in order.
    #[must_use]
    pub fn records(&self) -> Vec<Recorded> {
        self.lock().clone()
    }

    /// Forgets the records (the queue and its dead letters are left as they are).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn record(&self, batch: Vec<Envelope>, origin: Origin) {
        self.lock().extend(
            batch
                .into_iter()
                .map(|e| Recorded::new(e.event, e.meta, origin)),
        );
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Recorded>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for RecordingBackend {
    type Token = MemoryToken;

    /// The memory backend's enqueue; a batch it took is recorded as [`Origin::Sent`].
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        let copy = batch.clone();
        self.memory.enqueue(batch).await?;
        self.record(copy, Origin::Sent);
        Ok(())
    }

    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<MemoryToken>>, BackendError> {
        self.memory.pull(max, wait).await
    }

    async fn ack(&self, tokens: Vec<MemoryToken>) -> Result<(), BackendError> {
        self.memory.ack(tokens).await
    }

    async fn nack(
        &self,
        delivery: Delivery<MemoryToken>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.memory.nack(delivery, reason).await
    }

    async fn release(&self, deliveries: Vec<Delivery<MemoryToken>>) -> Result<(), BackendError> {
        self.memory.release(deliveries).await
    }

    /// The memory backend's atomic commit; the emitted events it took are recorded as
    /// [`Origin::Emitted`].
    async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<MemoryToken>,
    ) -> Result<(), BackendError> {
        let copy = emitted.clone();
        let result = self.memory.commit(emitted, acks).await;
        // The memory backend enqueues the whole batch or none of it; an unknown ack token is
        // reported after the batch went in.
        if matches!(result, Ok(()) | Err(BackendError::UnknownToken(_))) {
            self.record(copy, Origin::Emitted);
        }
        result
    }

    fn atomic_commit(&self) -> bool {
        self.memory.atomic_commit()
    }

    async fn close(&self) -> Result<(), BackendError> {
        Backend::close(&self.memory).await
    }
}

impl DeadLetterStore for RecordingBackend {
    /// Into the memory backend's dead letters.
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        self.memory.store(letter).await
    }
}

impl Health for RecordingBackend {
    /// The memory backend's health.
    async fn health(&self) -> HealthReport {
        self.memory.health().await
    }
}
