//! [`DeadLetterQueue`]: the capability every shipped backend offers on top of
//! [`DeadLetterStore`] — paged listing with filters, get by id, replay and purge — and the
//! values it answers with ([`DeadLetterEntry`], [`DeadLetterPage`], [`ReplayReport`]).

use std::fmt;
use std::future::Future;

use time::OffsetDateTime;

use crate::backend::DeadLetterStore;
use crate::dead_letter::{DeadLetter, DeadLetterKind};
use crate::envelope::Metadata;
use crate::error::BackendError;
use crate::event::Event;

/// A dead letter's id in its queue: stable for as long as the letter is held, never reused
/// by the same queue, opaque to callers (a Redis stream entry id, a sequence number in
/// memory). Its text form round-trips through [`Display`](fmt::Display) and
/// [`From<String>`], so it can be printed and passed back (a CLI argument, a cursor).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeadLetterId(String);

impl DeadLetterId {
    /// The id from its text form.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The text form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for DeadLetterId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for DeadLetterId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl AsRef<str> for DeadLetterId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A [`DeadLetterQuery::after`] cursor of a form the queue never issues (another backend's
/// id, a typo): the cause of the [`BackendError::Other`] such a listing fails with.
///
/// Ids of that form given to [`DeadLetterQueue::dead_letter`], replay or purge are simply
/// not held: `None`, or reported as missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a dead-letter id of this queue")]
pub struct InvalidDeadLetterId(pub DeadLetterId);

impl From<InvalidDeadLetterId> for BackendError {
    fn from(err: InvalidDeadLetterId) -> Self {
        Self::Other(Box::new(err))
    }
}

/// A held entry whose event could not be read (a malformed entry another producer wrote):
/// what is known of it. It can be inspected and purged, never replayed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnreadableLetter {
    /// The event field as stored (lossy UTF-8), empty when there was none.
    pub raw_event: String,
    /// Why it was dead-lettered (and why it cannot be read).
    pub reason: String,
    /// Its kind, when recorded ([`DeadLetterKind::Malformed`] for entries the backend
    /// could not read on delivery).
    pub kind: Option<DeadLetterKind>,
    /// Chain-tracing metadata, when recorded.
    pub meta: Metadata,
    /// How many times it was delivered, when recorded.
    pub attempts: Option<u32>,
    /// When it was dead-lettered, when known.
    pub failed_at: Option<OffsetDateTime>,
}

impl UnreadableLetter {
    /// An unreadable letter with just its raw event and reason.
    #[must_use]
    pub fn new(raw_event: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            raw_event: raw_event.into(),
            reason: reason.into(),
            kind: None,
            meta: Metadata::default(),
            attempts: None,
            failed_at: None,
        }
    }
}

/// One dead letter as a [`DeadLetterQueue`] holds it: its stable id and the letter (or,
/// for an entry whose event cannot be read, what is known of it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeadLetterEntry {
    /// Its id in the queue: what [`DeadLetterQueue::dead_letter`], replay and purge take.
    pub id: DeadLetterId,
    /// The letter; `Err` for an entry whose event could not be read.
    pub letter: Result<DeadLetter, UnreadableLetter>,
}

impl DeadLetterEntry {
    /// An entry holding a readable letter.
    #[must_use]
    pub fn new(id: DeadLetterId, letter: DeadLetter) -> Self {
        Self {
            id,
            letter: Ok(letter),
        }
    }

    /// An entry whose event could not be read.
    #[must_use]
    pub fn unreadable(id: DeadLetterId, letter: UnreadableLetter) -> Self {
        Self {
            id,
            letter: Err(letter),
        }
    }

    /// The letter's kind, when known.
    #[must_use]
    pub fn kind(&self) -> Option<DeadLetterKind> {
        match &self.letter {
            Ok(l) => Some(l.kind),
            Err(u) => u.kind,
        }
    }

    /// Why it was dead-lettered.
    #[must_use]
    pub fn reason(&self) -> &str {
        match &self.letter {
            Ok(l) => &l.reason,
            Err(u) => &u.reason,
        }
    }

    /// The first organ that failed, if any.
    #[must_use]
    pub fn organ(&self) -> Option<&str> {
        self.letter.as_ref().ok().and_then(|l| l.organ.as_deref())
    }

    /// The event, when it is readable (`None` for an [`UnreadableLetter`], whose
    /// [`raw_event`](UnreadableLetter::raw_event) is all there is).
    #[must_use]
    pub fn event(&self) -> Option<&Event> {
        self.letter.as_ref().ok().map(|l| &l.event)
    }

    /// The event's type, when the event is readable.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.letter
            .as_ref()
            .ok()
            .map(|l| l.event.event_type().as_str())
    }

    /// Whether the entry passes `filter`.
    #[must_use]
    pub fn matches(&self, filter: &DeadLetterFilter) -> bool {
        match &self.letter {
            Ok(letter) => filter.matches(letter),
            Err(u) => {
                filter.organ.is_none()
                    && filter.event_type.is_none()
                    && filter.kind.is_none_or(|k| u.kind == Some(k))
            }
        }
    }
}

/// Which entries a listing, replay or purge is about: every condition set must hold
/// (an empty filter matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterFilter {
    /// Only letters whose first failing organ has this name.
    pub organ: Option<String>,
    /// Only letters of this kind.
    pub kind: Option<DeadLetterKind>,
    /// Only letters whose event has this type (unreadable entries never match).
    pub event_type: Option<String>,
}

impl DeadLetterFilter {
    /// A filter that matches everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only letters whose first failing organ is `organ`.
    #[must_use]
    pub fn organ(mut self, organ: impl Into<String>) -> Self {
        self.organ = Some(organ.into());
        self
    }

    /// Only letters of `kind`.
    #[must_use]
    pub fn kind(mut self, kind: DeadLetterKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only letters whose event has type `event_type`.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Whether `letter` passes it (what [`DeadLetterEntry::matches`] checks for a readable
    /// entry).
    #[must_use]
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.kind.is_none_or(|k| letter.kind == k)
            && self
                .organ
                .as_deref()
                .is_none_or(|o| letter.organ.as_deref() == Some(o))
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| letter.event.event_type().as_str() == t)
    }

    /// Whether it matches everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.organ.is_none() && self.kind.is_none() && self.event_type.is_none()
    }
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListOrder {
    /// Oldest letters first (the order they were dead-lettered in).
    #[default]
    OldestFirst,
    /// Newest letters first.
    NewestFirst,
}

/// One request for a page of dead letters.
///
/// ```
/// use necro_core::{DeadLetterKind, DeadLetterQuery, ListOrder};
/// let query = DeadLetterQuery::new(50)
///     .order(ListOrder::NewestFirst)
///     .kind(DeadLetterKind::HandlerFailed)
///     .organ("Mailer");
/// assert_eq!(query.limit, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterQuery {
    /// At most this many entries in the page (0 gives an empty page with no
    /// [`next`](DeadLetterPage::next)).
    pub limit: usize,
    /// Which way to walk.
    pub order: ListOrder,
    /// Start after this id (exclusive), in `order`: a previous page's
    /// [`next`](DeadLetterPage::next), or an entry's id. `None` starts at the beginning. An id
    /// of a form the queue never issues is an error ([`InvalidDeadLetterId`]).
    pub after: Option<DeadLetterId>,
    /// Which entries to return.
    pub filter: DeadLetterFilter,
}

impl DeadLetterQuery {
    /// The first page of up to `limit` entries, oldest first, unfiltered.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            order: ListOrder::OldestFirst,
            after: None,
            filter: DeadLetterFilter::default(),
        }
    }

    /// Walks in `order`.
    #[must_use]
    pub fn order(mut self, order: ListOrder) -> Self {
        self.order = order;
        self
    }

    /// Starts after `cursor` (a previous page's [`next`](DeadLetterPage::next)).
    #[must_use]
    pub fn after(mut self, cursor: Option<DeadLetterId>) -> Self {
        self.after = cursor;
        self
    }

    /// Only letters matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: DeadLetterFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Only letters whose first failing organ is `organ`.
    #[must_use]
    pub fn organ(mut self, organ: impl Into<String>) -> Self {
        self.filter.organ = Some(organ.into());
        self
    }

    /// Only letters of `kind`.
    #[must_use]
    pub fn kind(mut self, kind: DeadLetterKind) -> Self {
        self.filter.kind = Some(kind);
        self
    }

    /// Only letters whose event has type `event_type`.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.filter.event_type = Some(event_type.into());
        self
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DeadLetterPage {
    /// The entries, in the query's order.
    pub entries: Vec<DeadLetterEntry>,
    /// Where the next page starts (pass it as [`DeadLetterQuery::after`]); `None` when the
    /// walk reached the end. A page may hold fewer than `limit` entries (filters) and still
    /// have a next one.
    pub next: Option<DeadLetterId>,
}

impl DeadLetterPage {
    /// A page of `entries` with the cursor `next`.
    #[must_use]
    pub fn new(entries: Vec<DeadLetterEntry>, next: Option<DeadLetterId>) -> Self {
        Self { entries, next }
    }
}

/// Which held entries a replay or purge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterSelection {
    /// These entries (ids no longer held are reported as missing).
    Ids(Vec<DeadLetterId>),
    /// Every entry matching the filter.
    Matching(DeadLetterFilter),
    /// Every entry.
    All,
}

impl DeadLetterSelection {
    /// One entry.
    #[must_use]
    pub fn one(id: impl Into<DeadLetterId>) -> Self {
        Self::Ids(vec![id.into()])
    }
}

impl From<DeadLetterId> for DeadLetterSelection {
    fn from(id: DeadLetterId) -> Self {
        Self::Ids(vec![id])
    }
}

impl From<DeadLetterFilter> for DeadLetterSelection {
    fn from(filter: DeadLetterFilter) -> Self {
        Self::Matching(filter)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Entries put back onto the queue (and removed from the dead letters), in order.
    pub replayed: Vec<DeadLetterId>,
    /// Entries left in place, with why: their event cannot be read.
    pub skipped: Vec<(DeadLetterId, String)>,
    /// Selected ids that were not held (purged, or replayed by someone else meanwhile).
    pub missing: Vec<DeadLetterId>,
}

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// How many entries were deleted.
    pub purged: u64,
    /// Selected ids that were not held.
    pub missing: Vec<DeadLetterId>,
}

/// A dead-letter store that can also be inspected and drained: what operators (the `necro`
/// command line, the live page) work with, whatever the backend.
///
/// Replay puts a letter's event back onto the backend's queue as a fresh delivery (its first
/// attempt) with its metadata and its event id, and removes the letter, **atomically per entry**:
/// two replays of the same entry racing each other put it back once; the loser reports it
/// as missing.
///
/// Every backend's implementation is held to the same behaviour by the conformance suite in
/// `necro-testkit` (`dead_letter_queue_conformance`).
pub trait DeadLetterQueue: DeadLetterStore {
    /// How many entries are held.
    fn dead_letter_count(&self) -> impl Future<Output = Result<u64, BackendError>> + Send;

    /// One page of entries.
    fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> impl Future<Output = Result<DeadLetterPage, BackendError>> + Send;

    /// One entry by id, `None` when it is not held.
    fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> impl Future<Output = Result<Option<DeadLetterEntry>, BackendError>> + Send;

    /// Replays the selected entries (see the trait's docs).
    fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> impl Future<Output = Result<ReplayReport, BackendError>> + Send;

    /// Deletes the selected entries.
    fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> impl Future<Output = Result<PurgeReport, BackendError>> + Send;
}

impl<Q: DeadLetterQueue> DeadLetterQueue for std::sync::Arc<Q> {
    fn dead_letter_count(&self) -> impl Future<Output = Result<u64, BackendError>> + Send {
        (**self).dead_letter_count()
    }
    fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> impl Future<Output = Result<DeadLetterPage, BackendError>> + Send {
        (**self).dead_letter_page(query)
    }
    fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> impl Future<Output = Result<Option<DeadLetterEntry>, BackendError>> + Send {
        (**self).dead_letter(id)
    }
    fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> impl Future<Output = Result<ReplayReport, BackendError>> + Send {
        (**self).replay_dead_letters(selection)
    }
    fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> impl Future<Output = Result<PurgeReport, BackendError>> + Send {
        (**self).purge_dead_letters(selection)
    }
}
