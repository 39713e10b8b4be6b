//! The `DeadLetterQueue` capability of [`MemoryBackend`], and
//! [`MemoryDeadLetters::replay_into`]: both replay letters onto a backend's queue, under the
//! store's lock and then the queue's. This file sits above both the store (`dead_letters.rs`)
//! and the backend (`backend.rs`), so neither imports the other.

use necro_core::{
    BackendError, DeadLetterEntry, DeadLetterId, DeadLetterPage, DeadLetterQuery, DeadLetterQueue,
    DeadLetterSelection, Envelope, PurgeReport, ReplayReport,
};

use crate::backend::MemoryBackend;
use crate::dead_letters::{MemoryDeadLetters, record_len};

impl MemoryDeadLetters {
    /// Re-enqueues every stored event onto `backend`, oldest first, and empties the store.
    ///
    /// Each event keeps its id and metadata and starts again at attempt 1. All-or-nothing:
    /// on error nothing was enqueued and every letter is still here.
    ///
    /// Returns how many events were replayed. To replay some letters only, use the
    /// [`DeadLetterQueue`] of the backend that owns the store.
    ///
    /// # Errors
    /// [`BackendError::Full`] when the queue cannot take every letter;
    /// [`BackendError::Closed`] when the backend is closed.
    pub fn replay_into(&self, backend: &MemoryBackend) -> Result<usize, BackendError> {
        replay(self, backend, &DeadLetterSelection::All).map(|report| report.replayed.len())
    }
}

/// Replays the selected letters of `store` onto `backend`'s queue, all or nothing: the letters
/// are chosen, enqueued and removed under the store's lock, so a letter one replay takes is
/// gone for every other.
fn replay(
    store: &MemoryDeadLetters,
    backend: &MemoryBackend,
    selection: &DeadLetterSelection,
) -> Result<ReplayReport, BackendError> {
    // Lock order: this store, then the backend's queue. The backend never takes a store's
    // lock while holding its own, so the two cannot deadlock.
    let mut state = store.lock();
    let (positions, missing) = state.select(selection);
    let mut report = ReplayReport::default();
    report.missing = missing;
    if positions.is_empty() {
        return Ok(report);
    }
    let batch: Vec<Envelope> = state
        .peek(&positions)
        .into_iter()
        .map(|(_, letter)| Envelope::with_meta(letter.event.clone(), letter.meta.clone()))
        .collect();
    backend.enqueue_now(batch)?;
    report.replayed = state.take(&positions);
    let len = state.len();
    drop(state);
    record_len(len);
    tracing::info!(
        count = report.replayed.len(),
        "replayed dead letters into the memory backend"
    );
    Ok(report)
}

/// The letters of this backend's [`MemoryDeadLetters`] store, by their ids (the store's
/// sequence numbers: `"1"`, `"2"`, …). Nothing here can fail but a replay, which fails as
/// [`enqueue`](necro_core::Backend::enqueue) does.
impl DeadLetterQueue for MemoryBackend {
    /// The letters held.
    async fn dead_letter_count(&self) -> Result<u64, BackendError> {
        Ok(self.dead_letters().len() as u64)
    }

    /// One page, walked under the store's lock.
    ///
    /// # Errors
    /// An [`InvalidDeadLetterId`](necro_core::InvalidDeadLetterId) (as
    /// [`BackendError::Other`]) when the cursor is not a sequence number.
    async fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> Result<DeadLetterPage, BackendError> {
        self.dead_letters().page(query)
    }

    async fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> Result<Option<DeadLetterEntry>, BackendError> {
        Ok(self.dead_letters().get(id))
    }

    /// Enqueues the selected letters onto this backend's queue (oldest first, or in the order
    /// of the ids), each as a fresh delivery with its event id and metadata, and removes them,
    /// all or nothing: when the queue cannot take them all ([`BackendError::Full`],
    /// [`BackendError::Closed`]) nothing is enqueued and every letter stays. Memory letters
    /// are always readable, so none is skipped.
    async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<ReplayReport, BackendError> {
        replay(self.dead_letters(), self, selection)
    }

    async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeReport, BackendError> {
        Ok(self.dead_letters().purge(selection))
    }
}
