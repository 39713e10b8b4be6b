//! What a backend gives the backend suite: [`BackendFactory`] (a fresh, isolated backend per
//! case, a second consumer on the same queue, a restart), the [`Capabilities`] it declares,
//! and the [`Report`] of which cases ran and which were skipped.

use std::future::Future;
use std::time::Duration;

use necro_core::{Backend, BoxError, Envelope};

/// What [`BackendFactory::refusing_commit`] answers: a fresh backend and a batch of events
/// its commit refuses as a whole, or `None` when the factory has none.
pub type RefusedCommit<B> = Option<(B, Vec<Envelope>)>;

/// Gives the backend suite its backends: each case asks [`fresh`](Self::fresh) for a new,
/// isolated queue (Redis: a new stream and group), so no case sees another's events.
///
/// Only `capabilities` and `fresh` are required. The cases that need a second consumer, or
/// a restart, run only when [`Capabilities`] claims what they check; a factory that claims
/// them implements [`another_consumer`](Self::another_consumer) or
/// [`restart`](Self::restart) too (their defaults fail, which fails the case).
pub trait BackendFactory: Send + Sync {
    /// The backend under test.
    type Backend: Backend + Clone;

    /// What the backend claims: which optional cases run, and the maximum number of
    /// deliveries the nack case expects.
    fn capabilities(&self) -> Capabilities;

    /// A new backend on a new, empty queue that no other backend of this factory shares.
    fn fresh(&self) -> impl Future<Output = Result<Self::Backend, BoxError>> + Send;

    /// A second consumer on the queue of `of`: events enqueued through either are shared
    /// between them, and what one leaves unacked another may get (memory: a clone of the
    /// queue; Redis: a new connection and consumer in the same group). Needed when
    /// [`Capabilities::shared_consumers`], `independent_close` or `crash_redelivery` is claimed.
    ///
    /// # Errors
    /// Whatever kept the factory from connecting. The default says it is not implemented.
    fn another_consumer(
        &self,
        of: &Self::Backend,
    ) -> impl Future<Output = Result<Self::Backend, BoxError>> + Send {
        let _ = of;
        std::future::ready(Err(BoxError::from(
            "this BackendFactory does not implement another_consumer",
        )))
    }

    /// A fresh backend, and a batch of events its [`commit`](Backend::commit) refuses as a
    /// whole: one its transport or store refuses (Redis with `python_compatible`: an event a
    /// Python consumer would dead-letter; a database: a row breaking a constraint, failing
    /// inside the transaction), or more than a bounded queue holds. The
    /// `atomic_commit_all_or_nothing` case checks that such a commit applies nothing. `None`
    /// (the default): the case is skipped.
    ///
    /// # Errors
    /// Whatever kept the factory from connecting.
    fn refusing_commit(
        &self,
    ) -> impl Future<Output = Result<RefusedCommit<Self::Backend>, BoxError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Restarts what carries the queue of `backend` (Redis: the server process), as a crash
    /// and restart would, and answers a backend connected to the same queue afterwards. Needed
    /// when [`Capabilities::persistent`] is claimed.
    ///
    /// # Errors
    /// Whatever kept the factory from restarting or reconnecting. The default says it is not
    /// implemented.
    fn restart(
        &self,
        backend: Self::Backend,
    ) -> impl Future<Output = Result<Self::Backend, BoxError>> + Send {
        drop(backend);
        std::future::ready(Err(BoxError::from(
            "this BackendFactory does not implement restart",
        )))
    }
}

/// What a backend claims, declared by its [`BackendFactory`]: the cases for what is not
/// claimed are skipped (and listed in the [`Report`] as skipped).
///
/// Start from [`Capabilities::new`] (nothing optional claimed) and claim what the backend
/// does:
///
/// ```
/// use std::time::Duration;
/// use necro_testkit::backend::Capabilities;
///
/// let caps = Capabilities::new(3)
///     .atomic_commit(true)
///     .ordered(true)
///     .shared_consumers(true)
///     .crash_redelivery(Some(Duration::from_secs(1)));
/// assert_eq!(caps.max_deliveries, 3);
/// assert!(!caps.persistent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`Backend::atomic_commit`] answers `true`: `commit` is all-or-nothing. The suite checks
    /// the backend says the same.
    pub atomic_commit: bool,
    /// One consumer gets the events in the order they were enqueued.
    pub ordered: bool,
    /// Several consumers ([`BackendFactory::another_consumer`]) pulling at once share the
    /// work: every event goes to one of them, none is lost or delivered twice.
    pub shared_consumers: bool,
    /// Closing one consumer leaves the queue and the other consumers working (Redis: a
    /// consumer leaves the group; memory: `close` closes the one queue for every clone).
    pub independent_close: bool,
    /// A consumer dropped without acking (a crash) has its deliveries redelivered to another
    /// consumer within this time (Redis: `claim_min_idle`). `None`: they are not (memory: the
    /// queue cannot know its consumer died).
    pub crash_redelivery: Option<Duration>,
    /// What was enqueued and not acked survives a restart of what carries the queue
    /// ([`BackendFactory::restart`]).
    pub persistent: bool,
    /// How many times an event is delivered before a nack dead-letters it.
    pub max_deliveries: u32,
}

impl Capabilities {
    /// Nothing optional claimed; `max_deliveries` deliveries before a nack dead-letters.
    #[must_use]
    pub fn new(max_deliveries: u32) -> Self {
        Self {
            atomic_commit: false,
            ordered: false,
            shared_consumers: false,
            independent_close: false,
            crash_redelivery: None,
            persistent: false,
            max_deliveries,
        }
    }

    /// Claims (or not) an all-or-nothing `commit`.
    #[must_use]
    pub fn atomic_commit(mut self, yes: bool) -> Self {
        self.atomic_commit = yes;
        self
    }

    /// Claims (or not) delivery in enqueue order to one consumer.
    #[must_use]
    pub fn ordered(mut self, yes: bool) -> Self {
        self.ordered = yes;
        self
    }

    /// Claims (or not) that several consumers share the work.
    #[must_use]
    pub fn shared_consumers(mut self, yes: bool) -> Self {
        self.shared_consumers = yes;
        self
    }

    /// Claims (or not) that closing one consumer leaves the others working.
    #[must_use]
    pub fn independent_close(mut self, yes: bool) -> Self {
        self.independent_close = yes;
        self
    }

    /// Claims (or not) redelivery of a dropped consumer's deliveries within a time.
    #[must_use]
    pub fn crash_redelivery(mut self, within: Option<Duration>) -> Self {
        self.crash_redelivery = within;
        self
    }

    /// Claims (or not) that the queue survives a restart.
    #[must_use]
    pub fn persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }
}

/// Which cases a run of the backend suite ran and which it skipped, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The cases that ran and passed, in order.
    pub ran: Vec<&'static str>,
    /// The cases skipped, each with why (a capability not claimed, a case not written yet).
    pub skipped: Vec<(&'static str, String)>,
}

impl Report {
    /// Whether `case` ran (and passed).
    #[must_use]
    pub fn ran(&self, case: &str) -> bool {
        self.ran.contains(&case)
    }

    /// Whether `case` was skipped.
    #[must_use]
    pub fn skipped(&self, case: &str) -> bool {
        self.skipped.iter().any(|(c, _)| *c == case)
    }

    pub(super) fn pass(&mut self, case: &'static str) {
        self.ran.push(case);
    }

    pub(super) fn skip(&mut self, case: &'static str, why: impl Into<String>) {
        self.skipped.push((case, why.into()));
    }

    pub(super) fn merge(&mut self, other: Report) {
        self.ran.extend(other.ran);
        self.skipped.extend(other.skipped);
    }
}
