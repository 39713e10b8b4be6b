//! Replay: [`MemoryDeadLetters::replay_into`] puts the stored dead letters back onto a
//! [`MemoryBackend`]. It sits above both the store and the backend, so neither imports the
//! other.

use necro_core::{BackendError, Envelope};

use crate::backend::MemoryBackend;
use crate::dead_letters::{MemoryDeadLetters, record_len};

impl MemoryDeadLetters {
    /// Re-enqueues every stored event onto `backend`, oldest first, and empties the store.
    ///
    /// Each event keeps its id and metadata and starts again at attempt 1. All-or-nothing:
    /// on error nothing was enqueued and every letter is still here.
    ///
    /// Returns how many events were replayed.
    ///
    /// # Errors
    /// [`BackendError::Full`] when the queue cannot take every letter;
    /// [`BackendError::Closed`] when the backend is closed.
    pub fn replay_into(&self, backend: &MemoryBackend) -> Result<usize, BackendError> {
        // Lock order: this store, then the backend's queue. The backend never takes this
        // store's lock while holding its own, so the two cannot deadlock.
        let mut state = self.lock();
        let count = state.letters.len();
        if count == 0 {
            return Ok(0);
        }
        let batch: Vec<Envelope> = state
            .letters
            .iter()
            .map(|l| Envelope::with_meta(l.event.clone(), l.meta))
            .collect();
        backend.enqueue_now(batch)?;
        state.letters.clear();
        drop(state);
        record_len(0);
        tracing::info!(count, "replayed dead letters into the memory backend");
        Ok(count)
    }
}
