//! [`MemoryDeadLetters`]: a bounded, in-process dead-letter store whose letters carry stable
//! ids (a sequence number per store), with the store-side half of the `DeadLetterQueue`
//! capability: paging, get, selecting and purging by id or filter. Replay, which also needs
//! the backend's queue, is in `queue.rs`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use necro_core::{
    BackendError, DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterPage, DeadLetterQuery,
    DeadLetterSelection, DeadLetterStore, InvalidDeadLetterId, ListOrder, PurgeReport,
};

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
/// Every letter gets an id when it is stored: the store's next sequence number (`1`, `2`, …,
/// as text in a [`DeadLetterId`]), never reused by the store, evicted letters' included. The
/// [`MemoryBackend`](crate::MemoryBackend) owning the store lists, gets, replays and purges
/// letters by these ids through necro-core's
/// [`DeadLetterQueue`](necro_core::DeadLetterQueue).
///
/// # Replay
///
/// Once the cause of the failures is fixed, [`replay_into`](Self::replay_into) puts every stored
/// event back onto a [`MemoryBackend`](crate::MemoryBackend), oldest first, with its metadata
/// (correlation and causation ids), as a fresh delivery (attempt 1). Replay is all-or-nothing:
/// if the queue cannot take every letter (it is full or closed) the store is left untouched.
/// The events keep their ids, so an organ that deduplicates by event id treats a replayed event
/// as the one it already saw. To replay some letters only, by id or filter, use the
/// backend's [`DeadLetterQueue::replay_dead_letters`](necro_core::DeadLetterQueue); to replay
/// into a backend of another kind, [`drain`](Self::drain) the letters and enqueue what you
/// choose.
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
    /// The letters, oldest first (so their ids ascend).
    letters: VecDeque<Held>,
    /// The id of the last letter stored (0 before the first).
    last_id: u64,
    /// How many were evicted.
    dropped: u64,
}

/// One stored letter with its id.
struct Held {
    id: u64,
    letter: DeadLetter,
}

impl Held {
    fn id(&self) -> DeadLetterId {
        DeadLetterId::new(self.id.to_string())
    }

    fn entry(&self) -> DeadLetterEntry {
        DeadLetterEntry::new(self.id(), self.letter.clone())
    }
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
        self.lock()
            .letters
            .iter()
            .map(|h| h.letter.clone())
            .collect()
    }

    /// Takes every stored letter out, oldest first, leaving the store empty.
    ///
    /// The dropped count is kept.
    #[must_use = "drained letters are gone from the store"]
    pub fn drain(&self) -> Vec<DeadLetter> {
        let letters: Vec<DeadLetter> = {
            let mut state = self.lock();
            state.letters.drain(..).map(|h| h.letter).collect()
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
            state.last_id = state.last_id.saturating_add(1);
            let id = state.last_id;
            state.letters.push_back(Held { id, letter });
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

    /// One page of letters (`DeadLetterQueue::dead_letter_page`).
    pub(crate) fn page(&self, query: &DeadLetterQuery) -> Result<DeadLetterPage, BackendError> {
        let after = match &query.after {
            Some(cursor) => {
                Some(parse_id(cursor).ok_or_else(|| InvalidDeadLetterId(cursor.clone()))?)
            }
            None => None,
        };
        if query.limit == 0 {
            return Ok(DeadLetterPage::default());
        }
        let state = self.lock();
        let letters = &state.letters;
        let filter = &query.filter;
        let page = match query.order {
            ListOrder::NewestFirst => {
                let end = after.map_or(letters.len(), |a| letters.partition_point(|h| h.id < a));
                page_of(letters.range(..end).rev(), filter, query.limit)
            }
            // `ListOrder` is non-exhaustive: an order added later walks oldest first here.
            _ => {
                let start = after.map_or(0, |a| letters.partition_point(|h| h.id <= a));
                page_of(letters.range(start..), filter, query.limit)
            }
        };
        Ok(page)
    }

    /// One letter by id (`DeadLetterQueue::dead_letter`); an id of another form is not held.
    pub(crate) fn get(&self, id: &DeadLetterId) -> Option<DeadLetterEntry> {
        let state = self.lock();
        state
            .position(id)
            .and_then(|at| state.letters.get(at))
            .map(Held::entry)
    }

    /// Deletes the selected letters (`DeadLetterQueue::purge_dead_letters`).
    pub(crate) fn purge(&self, selection: &DeadLetterSelection) -> PurgeReport {
        let (purged, len, missing) = {
            let mut state = self.lock();
            let (positions, missing) = state.select(selection);
            let purged = state.take(&positions).len();
            (purged, state.letters.len(), missing)
        };
        record_len(len);
        let mut report = PurgeReport::default();
        report.purged = purged as u64;
        report.missing = missing;
        report
    }

    /// Locks the store (a poisoned lock is taken over: its state is always consistent).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// How many letters are held.
    pub(crate) fn len(&self) -> usize {
        self.letters.len()
    }

    /// Where the letter with this id is, if it is held.
    fn position(&self, id: &DeadLetterId) -> Option<usize> {
        let id = parse_id(id)?;
        self.letters.binary_search_by_key(&id, |h| h.id).ok()
    }

    /// The positions of the selected letters (in the selection's order for ids, oldest first
    /// otherwise) and the selected ids that are not held (a repeated id is held once).
    pub(crate) fn select(
        &self,
        selection: &DeadLetterSelection,
    ) -> (Vec<usize>, Vec<DeadLetterId>) {
        match selection {
            DeadLetterSelection::Ids(ids) => {
                let mut seen = HashSet::with_capacity(ids.len());
                let mut positions = Vec::with_capacity(ids.len());
                let mut missing = Vec::new();
                for id in ids {
                    match self.position(id) {
                        Some(at) if seen.insert(at) => positions.push(at),
                        _ => missing.push(id.clone()),
                    }
                }
                (positions, missing)
            }
            DeadLetterSelection::Matching(filter) => {
                let positions = self
                    .letters
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| filter.matches(&h.letter))
                    .map(|(at, _)| at)
                    .collect();
                (positions, Vec::new())
            }
            // `All`, and any selection added later: everything.
            _ => ((0..self.letters.len()).collect(), Vec::new()),
        }
    }

    /// The letters at `positions`, in that order, as `(id, letter)`, without removing them.
    pub(crate) fn peek(&self, positions: &[usize]) -> Vec<(DeadLetterId, &DeadLetter)> {
        positions
            .iter()
            .filter_map(|&at| self.letters.get(at))
            .map(|h| (h.id(), &h.letter))
            .collect()
    }

    /// Removes the letters at `positions` (distinct, as `select` gives them); returns their ids
    /// in the order of `positions`.
    pub(crate) fn take(&mut self, positions: &[usize]) -> Vec<DeadLetterId> {
        let ids: Vec<DeadLetterId> = positions
            .iter()
            .filter_map(|&at| self.letters.get(at))
            .map(Held::id)
            .collect();
        if ids.len() == self.letters.len() {
            self.letters.clear();
        } else if !ids.is_empty() {
            let mut gone = vec![false; self.letters.len()];
            for &at in positions {
                if let Some(slot) = gone.get_mut(at) {
                    *slot = true;
                }
            }
            let mut at = 0;
            self.letters.retain(|_| {
                let keep = !gone.get(at).copied().unwrap_or(false);
                at += 1;
                keep
            });
        }
        ids
    }
}

/// A page of up to `limit` letters from `letters` (walked in the page's order) that match
/// `filter`; its `next` is set when another match follows.
fn page_of<'a>(
    letters: impl Iterator<Item = &'a Held>,
    filter: &necro_core::DeadLetterFilter,
    limit: usize,
) -> DeadLetterPage {
    let mut matching = letters.filter(|h| filter.matches(&h.letter));
    let entries: Vec<DeadLetterEntry> = matching.by_ref().take(limit).map(Held::entry).collect();
    let next = if matching.next().is_some() {
        entries.last().map(|e| e.id.clone())
    } else {
        None
    };
    DeadLetterPage::new(entries, next)
}

/// The sequence number an id's text holds, in its one canonical form (decimal digits, no sign,
/// no leading zero); `None` for any other text.
fn parse_id(id: &DeadLetterId) -> Option<u64> {
    let text = id.as_str();
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
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
            .field("last_id", &state.last_id)
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
