//! [`MemoryBackendBuilder`]: every setting of a [`MemoryBackend`], checked at `build()`, and
//! [`MemoryBackend::builder`] / [`MemoryBackend::bounded`], which go through it. It sits above
//! `backend.rs` (the builder makes a backend), so the backend never imports it.

use crate::backend::{DEFAULT_MAX_DELIVERIES, MemoryBackend};
use crate::dead_letters::MemoryDeadLetters;
use crate::error::MemoryBuildError;

impl MemoryBackend {
    /// A queue that holds at most `capacity` events, with the other settings at their defaults.
    ///
    /// # Errors
    /// [`MemoryBuildError::ZeroCapacity`] when `capacity` is 0.
    pub fn bounded(capacity: usize) -> Result<Self, MemoryBuildError> {
        Self::builder().capacity(capacity).build()
    }

    /// A builder for every setting.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }
}

/// Builds a [`MemoryBackend`]; settings are checked by [`build`](Self::build).
///
/// ```
/// use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
///
/// let dead_letters = MemoryDeadLetters::new(100)?;
/// let backend = MemoryBackend::builder()
///     .capacity(1_000)
///     .max_deliveries(5)
///     .dead_letters(dead_letters.clone())
///     .build()?;
/// assert_eq!(backend.capacity(), Some(1_000));
/// assert_eq!(backend.dead_letters().capacity(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct MemoryBackendBuilder {
    capacity: Option<usize>,
    max_deliveries: u32,
    dead_letters: Option<MemoryDeadLetters>,
}

impl Default for MemoryBackendBuilder {
    /// Unbounded, [`DEFAULT_MAX_DELIVERIES`] deliveries, a default dead-letter store.
    fn default() -> Self {
        Self {
            capacity: None,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            dead_letters: None,
        }
    }
}

impl MemoryBackendBuilder {
    /// Bounds the queue to `capacity` queued events (default: unbounded). 0 fails the build.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// How many times an event is delivered before a nack dead-letters it (default
    /// [`DEFAULT_MAX_DELIVERIES`], 3). 1 dead-letters on the first nack; 0 fails the build.
    pub fn max_deliveries(mut self, max_deliveries: u32) -> Self {
        self.max_deliveries = max_deliveries;
        self
    }

    /// The store dead letters go to (default: a new [`MemoryDeadLetters::default`]). This very
    /// store is used: keep a clone to inspect or replay it.
    pub fn dead_letters(mut self, store: MemoryDeadLetters) -> Self {
        self.dead_letters = Some(store);
        self
    }

    /// Checks the settings and builds the backend.
    ///
    /// # Errors
    /// [`MemoryBuildError::ZeroCapacity`] for a capacity of 0,
    /// [`MemoryBuildError::ZeroMaxDeliveries`] for `max_deliveries` of 0.
    pub fn build(self) -> Result<MemoryBackend, MemoryBuildError> {
        if self.capacity == Some(0) {
            return Err(MemoryBuildError::ZeroCapacity);
        }
        if self.max_deliveries == 0 {
            return Err(MemoryBuildError::ZeroMaxDeliveries);
        }
        Ok(MemoryBackend::from_parts(
            self.capacity,
            self.max_deliveries,
            self.dead_letters.unwrap_or_default(),
        ))
    }
}
