//! [`MemoryDeadLetters`]: a bounded, in-process dead-letter store (its
//! [`replay_into`](MemoryDeadLetters::replay_into) a backend is in `replay.rs`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use necro_core::{BackendError, DeadLetter, DeadLetterStore};

use crate::error::MemoryBuildError;

/// How many letters [`MemoryDeadLetters::default`] keeps.
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 10_000;

/// A bounded dead-letter store kept in memory.
///
/// Cloning is cheap and every clone is the same store, so the store you hand to
/// [`MemoryBackendBuilder::dead_letters`](crate::MemoryBackendBuilder::dead_letters) (or to a
/// spine) is the one you later inspect.
///
/// When full it evicts the **oldest** letter to make room for the new one and counts what it
/// dropped ([`dropped`](Self::dropped)); it never refuses a letter and never blocks.
///
/// # Replay
///
/// Once the cause of the failures is fixed, [`replay_into`](Self::replay_into) puts every stored
/// event back onto a [`MemoryBackend`](crate::MemoryBackend), oldest first, with its metadata
/// (correlation and causation ids), as a fresh delivery (attempt 1). Replay is all-or-nothing:
/// if the queue cannot take every letter (it is full or closed) the store is left untouched.
/// The events keep their ids, so an organ that deduplicates by event id treats a replayed event
/// as the one it already saw. To replay selectively or into another backend,
/// [`drain`](Self::drain) the letters and enqueue what you choose.
///
/// ```
/// use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
/// use necro_core::{DeadLetter, DeadLetterKind, DeadLetterStore, Event, Metadata};
/// use necro_core::serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryDeadLetters::new(2)?;
/// for n in 0..3 {
///     let event = Event::new("FAILED", json!({ "n": n }))?;
///     let letter = DeadLetter::with_reason(
///         event, Metadata::default(), DeadLetterKind::HandlerFailed, "boom", 1,
///     );
///     store.store(letter).await?;
/// }
/// assert_eq!(store.len(), 2);
/// assert_eq!(store.dropped(), 1); // n = 0 was evicted
///
/// let backend = MemoryBackend::new();
/// assert_eq!(store.replay_into(&backend)?, 2);
/// assert!(store.is_empty());
/// assert_eq!(backend.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryDeadLetters {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    state: Mutex<State>,
}

/// What the lock guards.
#[derive(Default)]
pub(crate) struct State {
    /// The letters, oldest first.
    pub(crate) letters: VecDeque<DeadLetter>,
    /// How many were evicted.
    dropped: u64,
}

impl MemoryDeadLetters {
    /// A store that keeps at most `capacity` letters.
    ///
    /// # Errors
    /// [`MemoryBuildError::ZeroDeadLetterCapacity`] when `capacity` is 0.
    pub fn new(capacity: usize) -> Result<Self, MemoryBuildError> {
        if capacity == 0 {
            return Err(MemoryBuildError::ZeroDeadLetterCapacity);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                capacity,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The most letters kept at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// How many letters are stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().letters.len()
    }

    /// Whether no letter is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().letters.is_empty()
    }

    /// How many letters were evicted, over the store's life, to make room for newer ones.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// A copy of every stored letter, oldest first.
    #[must_use]
    pub fn list(&self) -> Vec<DeadLetter> {
        self.lock().letters.iter().cloned().collect()
    }

    /// Takes every stored letter out, oldest first, leaving the store empty.
    ///
    /// The dropped count is kept.
    #[must_use = "drained letters are gone from the store"]
    pub fn drain(&self) -> Vec<DeadLetter> {
        let letters: Vec<DeadLetter> = {
            let mut state = self.lock();
            state.letters.drain(..).collect()
        };
        record_len(0);
        letters
    }

    /// Adds a letter, evicting the oldest one when full.
    pub fn push(&self, letter: DeadLetter) {
        let (len, dropped) = {
            let mut state = self.lock();
            let mut evicted = false;
            if state.letters.len() >= self.inner.capacity {
                state.letters.pop_front();
                state.dropped = state.dropped.saturating_add(1);
                evicted = true;
            }
            state.letters.push_back(letter);
            (state.letters.len(), evicted.then_some(state.dropped))
        };
        record_len(len);
        // Warn on the 1st, 2nd, 4th, 8th, … eviction: visible, but never a log flood.
        if let Some(dropped) = dropped
            && dropped.is_power_of_two()
        {
            tracing::warn!(
                capacity = self.inner.capacity,
                dropped,
                "memory dead-letter store is full; evicting the oldest letters"
            );
        }
    }

    /// Locks the store (a poisoned lock is taken over: its state is always consistent).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryDeadLetters {
    /// A store that keeps [`DEFAULT_DEAD_LETTER_CAPACITY`] (10,000) letters.
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: DEFAULT_DEAD_LETTER_CAPACITY,
                state: Mutex::new(State::default()),
            }),
        }
    }
}

impl fmt::Debug for MemoryDeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryDeadLetters")
            .field("capacity", &self.inner.capacity)
            .field("len", &state.letters.len())
            .field("dropped", &state.dropped)
            .finish()
    }
}

impl DeadLetterStore for MemoryDeadLetters {
    /// Stores the letter; never fails (a full store evicts its oldest letter).
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        self.push(letter);
        Ok(())
    }
}

/// Sets the `necro_memory_dead_letters` gauge.
pub(crate) fn record_len(len: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(necro_core::telemetry::memory::DEAD_LETTERS_HELD.name).set(len as f64);
}
