//! [`MemoryBackend`]: the in-process FIFO queue. Its builder, and the constructors that go
//! through it, are in `builder.rs` (which imports this file, never the reverse); the
//! [`MemoryToken`] it hands out, and the hasher its in-flight map uses, in `token.rs`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterKind, DeadLetterStore, Delivery, Envelope, Event,
    Health, HealthReport, Metadata, NackOutcome,
};
use tokio::sync::Notify;

use crate::dead_letters::MemoryDeadLetters;
use crate::token::{MemoryToken, TokenHasher};

/// How many times an event is delivered before a nack dead-letters it, unless configured.
pub const DEFAULT_MAX_DELIVERIES: u32 = 3;

/// The reason given to dead letters made by [`MemoryBackend::requeue_in_flight`].
const ABANDONED: &str = "delivery abandoned in flight (neither acked nor nacked)";

/// An in-process FIFO event queue: NecroStack's backend for development, tests and
/// single-process applications.
///
/// Cloning is cheap and every clone is the same queue (hand one to producers, one to the spine).
///
/// # Semantics
///
/// - **Order**: events are delivered in the order they were enqueued. A nacked event goes to the
///   *back* of the queue with its attempt raised.
/// - **Capacity** counts queued events only, not those in flight. [`enqueue`](Backend::enqueue)
///   into a bounded queue that cannot take the whole batch fails at once with
///   [`BackendError::Full`] and enqueues nothing; it never blocks. A requeue (a nack, or
///   [`requeue_in_flight`](Self::requeue_in_flight)) never fails for capacity: an event already
///   accepted is never lost, so the queue may hold more than its capacity for a while, and
///   enqueues fail until it drains below it again.
/// - **Redelivery**: an event nacked on its `max_deliveries`-th delivery becomes a
///   [`DeadLetter`] of kind [`DeadLetterKind::MaxDeliveries`] in this backend's
///   [`MemoryDeadLetters`] store, carrying the nack's reason.
/// - **Commit**: [`commit`](Backend::commit) is atomic (one lock): either every emitted event is
///   enqueued and every token acked, or, when the batch does not fit, nothing happens.
/// - **Close**: after [`close`](Self::close) new events are refused with [`BackendError::Closed`],
///   but what is queued or in flight can still be pulled, acked and nacked, and a pull on an
///   empty closed queue returns an empty batch at once, so consumers can finish.
/// - **Abandoned deliveries**: an in-memory delivery that is never acked or nacked stays in
///   flight (the queue cannot know its consumer died). [`requeue_in_flight`](Self::requeue_in_flight)
///   gives such deliveries back once their consumers are gone.
///
/// # Runtime
///
/// The backend starts no task and needs no runtime except in one place: a
/// [`pull`](Backend::pull) that has to wait (nothing queued and a non-zero `wait`) uses tokio's
/// timer, so it must be polled inside a tokio runtime with the time driver enabled
/// (`#[tokio::main]` and `#[tokio::test]` enable it), or tokio panics.
///
/// # Metrics
///
/// Recorded through the `metrics` facade: gauge `necro_queue_depth{backend="memory"}` (queued
/// events, set on every change) and gauge `necro_memory_dead_letters` (letters in the store).
/// Several memory backends in one process share these series.
#[derive(Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes pullers waiting for the first event.
    notify: Notify,
    capacity: Option<usize>,
    max_deliveries: u32,
    dead_letters: MemoryDeadLetters,
}

struct State {
    queue: VecDeque<Entry>,
    in_flight: HashMap<u64, Entry, BuildHasherDefault<TokenHasher>>,
    next_token: u64,
    closed: bool,
}

/// One event with what the queue knows about it.
struct Entry {
    event: Event,
    meta: Metadata,
    /// The attempt number its next (or current, when in flight) delivery carries.
    attempt: u32,
}

impl Entry {
    fn into_dead_letter(self, reason: impl Into<String>) -> DeadLetter {
        DeadLetter::with_reason(
            self.event,
            self.meta,
            DeadLetterKind::MaxDeliveries,
            reason,
            self.attempt,
        )
    }
}

impl MemoryBackend {
    /// An unbounded queue with the default settings ([`DEFAULT_MAX_DELIVERIES`] deliveries, a
    /// default [`MemoryDeadLetters`] store).
    #[must_use]
    pub fn new() -> Self {
        Self::from_parts(None, DEFAULT_MAX_DELIVERIES, MemoryDeadLetters::default())
    }

    pub(crate) fn from_parts(
        capacity: Option<usize>,
        max_deliveries: u32,
        dead_letters: MemoryDeadLetters,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    in_flight: HashMap::default(),
                    next_token: 0,
                    closed: false,
                }),
                notify: Notify::new(),
                capacity,
                max_deliveries,
                dead_letters,
            }),
        }
    }

    /// How many events are queued (not counting those in flight).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no event is queued (some may still be in flight).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().queue.is_empty()
    }

    /// How many deliveries were pulled and not yet acked or nacked.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// Whether the flow is drained: nothing queued and nothing in flight.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        state.queue.is_empty() && state.in_flight.is_empty()
    }

    /// The queue's capacity, or `None` when it is unbounded.
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.shared.capacity
    }

    /// How many times an event is delivered before a nack dead-letters it.
    #[must_use]
    pub fn max_deliveries(&self) -> u32 {
        self.shared.max_deliveries
    }

    /// The store dead letters go to (the one given to the builder, if any).
    #[must_use]
    pub fn dead_letters(&self) -> &MemoryDeadLetters {
        &self.shared.dead_letters
    }

    /// Stops accepting events and wakes every waiting puller.
    ///
    /// Queued and in-flight events can still be pulled, acked and nacked (a nack still
    /// requeues); a pull on an empty closed queue returns an empty batch at once. Closing
    /// cannot be undone.
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.notify.notify_waiters();
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Gives back every delivery in flight, as if each had been nacked: requeued (at the back,
    /// in the order they were delivered, attempt raised) or, on its last allowed delivery,
    /// dead-lettered.
    ///
    /// Only call this once the consumers holding those deliveries are gone (a worker task that
    /// panicked, a consumer that was dropped): a delivery still being handled would be
    /// delivered twice, and its later ack would fail with [`BackendError::UnknownToken`].
    ///
    /// Returns how many deliveries were given back.
    pub fn requeue_in_flight(&self) -> usize {
        let (count, len, dead) = {
            let mut state = self.lock();
            let State {
                queue, in_flight, ..
            } = &mut *state;
            let mut taken: Vec<(u64, Entry)> = in_flight.drain().collect();
            taken.sort_unstable_by_key(|(token, _)| *token);
            let count = taken.len();
            let mut dead = Vec::new();
            for (_, mut entry) in taken {
                if entry.attempt >= self.shared.max_deliveries {
                    dead.push(entry);
                } else {
                    entry.attempt = entry.attempt.saturating_add(1);
                    queue.push_back(entry);
                }
            }
            (count, queue.len(), dead)
        };
        record_depth(len);
        if len > 0 {
            self.shared.notify.notify_one();
        }
        for entry in dead {
            self.dead_letter(entry, ABANDONED);
        }
        count
    }

    /// Enqueues a whole batch or nothing, without waiting.
    pub(crate) fn enqueue_now(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        let len = {
            let mut state = self.lock();
            self.check_room(&state, batch.len())?;
            if batch.is_empty() {
                return Ok(());
            }
            push_all(&mut state.queue, batch);
            state.queue.len()
        };
        record_depth(len);
        self.shared.notify.notify_one();
        Ok(())
    }

    /// Takes up to `max` queued events (`max > 0`) under one lock.
    ///
    /// `None` when the queue is empty and open (the caller may wait); an empty batch when it is
    /// empty and closed.
    fn take(&self, max: usize) -> Option<Vec<Delivery<MemoryToken>>> {
        let (batch, remaining) = {
            let mut state = self.lock();
            let State {
                queue,
                in_flight,
                next_token,
                closed,
            } = &mut *state;
            if queue.is_empty() {
                return closed.then(Vec::new);
            }
            let n = max.min(queue.len());
            let mut batch = Vec::with_capacity(n);
            in_flight.reserve(n);
            for entry in queue.drain(..n) {
                let token = *next_token;
                *next_token = next_token.wrapping_add(1);
                batch.push(Delivery {
                    event: entry.event.clone(),
                    meta: entry.meta.clone(),
                    attempt: entry.attempt,
                    token: MemoryToken(token),
                });
                in_flight.insert(token, entry);
            }
            (batch, queue.len())
        };
        record_depth(remaining);
        if remaining > 0 {
            // Pass the wake-up on: another puller may be waiting for what is left.
            self.shared.notify.notify_one();
        }
        Some(batch)
    }

    async fn pull_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<MemoryToken>>, BackendError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        if let Some(batch) = self.take(max) {
            return Ok(batch);
        }
        if wait.is_zero() {
            return Ok(Vec::new());
        }
        // A wait too long to represent is a wait without deadline.
        let deadline = tokio::time::Instant::now().checked_add(wait);
        loop {
            // Register for a wake-up *before* looking at the queue, so an enqueue between the
            // look and the wait cannot be missed.
            let notified = self.shared.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(batch) = self.take(max) {
                return Ok(batch);
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Ok(self.take(max).unwrap_or_default());
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Acks `tokens` under the held lock; returns the ones that were not in flight.
    fn ack_locked(state: &mut State, tokens: &[MemoryToken]) -> Vec<MemoryToken> {
        let mut unknown = Vec::new();
        for token in tokens {
            if state.in_flight.remove(&token.0).is_none() {
                unknown.push(*token);
            }
        }
        unknown
    }

    fn check_room(&self, state: &State, incoming: usize) -> Result<(), BackendError> {
        if state.closed {
            return Err(BackendError::Closed);
        }
        if let Some(capacity) = self.shared.capacity
            && incoming > 0
            && state.queue.len().saturating_add(incoming) > capacity
        {
            return Err(BackendError::Full { capacity });
        }
        Ok(())
    }

    fn dead_letter(&self, entry: Entry, reason: impl Into<String>) {
        let letter = entry.into_dead_letter(reason);
        tracing::debug!(
            event_id = %letter.event.id(),
            event_type = %letter.event.event_type(),
            attempts = letter.attempts,
            reason = %letter.reason,
            "memory backend dead-lettered an event after its last delivery"
        );
        self.shared.dead_letters.push(letter);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryBackend {
    /// The same as [`MemoryBackend::new`]: unbounded, default settings.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryBackend")
            .field("capacity", &self.shared.capacity)
            .field("max_deliveries", &self.shared.max_deliveries)
            .field("len", &state.queue.len())
            .field("in_flight", &state.in_flight.len())
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

impl Backend for MemoryBackend {
    type Token = MemoryToken;

    /// Enqueues the whole batch, in order, or nothing.
    ///
    /// Fails at once with [`BackendError::Full`] when a bounded queue cannot take every event,
    /// and with [`BackendError::Closed`] after [`close`](MemoryBackend::close).
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.enqueue_now(batch)
    }

    /// Returns up to `max` queued deliveries at once; when none is queued, waits up to `wait`
    /// for the first (not for `max`) and returns what is there, possibly nothing.
    ///
    /// `max == 0` and `wait == Duration::ZERO` never wait. On a closed, empty queue it returns
    /// an empty batch at once.
    ///
    /// # Panics
    /// When it has to wait outside a tokio runtime with the time driver enabled (tokio's timer
    /// panics). See [Runtime](MemoryBackend#runtime).
    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<MemoryToken>>, BackendError> {
        self.pull_batch(max, wait).await
    }

    /// Acks every known token; when some were not in flight (acked or nacked already), the
    /// others are still acked and [`BackendError::UnknownToken`] names the unknown ones.
    async fn ack(&self, tokens: Vec<MemoryToken>) -> Result<(), BackendError> {
        let unknown = Self::ack_locked(&mut self.lock(), &tokens);
        unknown_tokens(&unknown)
    }

    /// Requeues the delivery at the back with its attempt raised, or dead-letters it when this
    /// was its `max_deliveries`-th delivery. A requeue never fails for capacity.
    async fn nack(
        &self,
        delivery: Delivery<MemoryToken>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        let token = delivery.token;
        // The entry kept at pull time is authoritative (event, metadata, attempt).
        let requeued = {
            let mut state = self.lock();
            let Some(mut entry) = state.in_flight.remove(&token.0) else {
                return Err(BackendError::UnknownToken(token.to_string()));
            };
            if entry.attempt >= self.shared.max_deliveries {
                Err(entry)
            } else {
                entry.attempt = entry.attempt.saturating_add(1);
                let next_attempt = entry.attempt;
                state.queue.push_back(entry);
                Ok((state.queue.len(), next_attempt))
            }
        };
        let (len, next_attempt) = match requeued {
            Ok(requeued) => requeued,
            Err(entry) => {
                // Built outside the queue's lock: the event is already out of flight.
                self.dead_letter(entry, reason);
                return Ok(NackOutcome::DeadLettered);
            }
        };
        record_depth(len);
        self.shared.notify.notify_one();
        Ok(NackOutcome::Requeued { next_attempt })
    }

    /// Puts the deliveries back at the front of the queue, in their order, with their attempt
    /// unchanged. Unknown tokens are reported after the known ones are back, as with
    /// [`ack`](Backend::ack).
    async fn release(&self, deliveries: Vec<Delivery<MemoryToken>>) -> Result<(), BackendError> {
        let (len, unknown) = {
            let mut state = self.lock();
            let mut unknown = Vec::new();
            let mut back = Vec::with_capacity(deliveries.len());
            for d in &deliveries {
                match state.in_flight.remove(&d.token.0) {
                    Some(entry) => back.push(entry),
                    None => unknown.push(d.token),
                }
            }
            for entry in back.into_iter().rev() {
                state.queue.push_front(entry);
            }
            (state.queue.len(), unknown)
        };
        record_depth(len);
        self.shared.notify.notify_one();
        unknown_tokens(&unknown)
    }

    /// Enqueues `emitted` and acks `acks` under one lock.
    ///
    /// When the emitted batch does not fit (or the backend is closed and `emitted` is not
    /// empty), returns the error and acks nothing. Otherwise enqueues everything and acks every
    /// known token; unknown tokens are then reported as with [`ack`](Backend::ack).
    async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<MemoryToken>,
    ) -> Result<(), BackendError> {
        let (unknown, len) = {
            let mut state = self.lock();
            let len = if emitted.is_empty() {
                None
            } else {
                self.check_room(&state, emitted.len())?;
                push_all(&mut state.queue, emitted);
                Some(state.queue.len())
            };
            (Self::ack_locked(&mut state, &acks), len)
        };
        if let Some(len) = len {
            record_depth(len);
            self.shared.notify.notify_one();
        }
        unknown_tokens(&unknown)
    }

    /// `true`: [`commit`](Backend::commit) is all-or-nothing.
    fn atomic_commit(&self) -> bool {
        true
    }

    /// The same as the inherent [`close`](MemoryBackend::close); never fails.
    async fn close(&self) -> Result<(), BackendError> {
        MemoryBackend::close(self);
        Ok(())
    }
}

impl DeadLetterStore for MemoryBackend {
    /// Puts the letter into this backend's [`MemoryDeadLetters`]; never fails.
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        self.shared.dead_letters.push(letter);
        Ok(())
    }
}

impl Health for MemoryBackend {
    /// Healthy unless closed. Details: `depth`, `in_flight`, `dead_letters`,
    /// `dead_letters_dropped`, `capacity` (null when unbounded).
    async fn health(&self) -> HealthReport {
        let (depth, in_flight, closed) = {
            let state = self.lock();
            (state.queue.len(), state.in_flight.len(), state.closed)
        };
        let report = if closed {
            HealthReport::unhealthy(BackendError::Closed.to_string())
        } else {
            HealthReport::healthy()
        };
        let store = &self.shared.dead_letters;
        report
            .detail("depth", depth)
            .detail("in_flight", in_flight)
            .detail("dead_letters", store.len())
            .detail("dead_letters_dropped", store.dropped())
            .detail("capacity", self.shared.capacity)
    }
}

fn push_all(queue: &mut VecDeque<Entry>, batch: Vec<Envelope>) {
    queue.extend(batch.into_iter().map(|envelope| Entry {
        event: envelope.event,
        meta: envelope.meta,
        attempt: 1,
    }));
}

fn unknown_tokens(unknown: &[MemoryToken]) -> Result<(), BackendError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let list = unknown
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Err(BackendError::UnknownToken(list))
}

fn record_depth(len: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(necro_core::telemetry::memory::QUEUE_DEPTH.name, "backend" => "memory")
        .set(len as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn handles_are_send_sync() {
        assert_send_sync::<MemoryBackend>();
        assert_send_sync::<MemoryDeadLetters>();
        assert_send_sync::<MemoryToken>();
    }

    #[test]
    fn futures_are_send() {
        let backend = MemoryBackend::new();
        assert_send(&backend.pull(1, Duration::from_millis(1)));
        assert_send(&backend.enqueue(Vec::new()));
        assert_send(&backend.ack(Vec::new()));
        assert_send(&backend.commit(Vec::new(), Vec::new()));
        assert_send(&backend.health());
    }
}
