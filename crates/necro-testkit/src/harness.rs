//! The organ harness (feature `harness`): run organs on a real spine over an in-memory
//! backend, and look at everything that happened — in the manner of FastStream's
//! `TestBroker`.
//!
//! A [`Harness`] is a [`Spine`] over a [`RecordingBackend`], a `MemoryBackend` that keeps a
//! copy of every event it takes in. [`Harness::send`] enqueues a root event and runs until the
//! flow is drained, returning that run's [`Stats`]; then the harness answers what flowed:
//!
//! - [`records`](Harness::records): every event in queue order — the roots sent in and all
//!   they caused — each with its type, payload, correlation and causation ids, headers and
//!   [`Origin`];
//! - [`emitted`](Harness::emitted) (decoded into a [`Payload`] type),
//!   [`emitted_of_type`](Harness::emitted_of_type), [`event_types`](Harness::event_types),
//!   [`caused_by`](Harness::caused_by) (children by causation id);
//! - [`dead_letters`](Harness::dead_letters), and handler errors and retries in the stats;
//! - assertions that panic with a listing of what flowed, for tests:
//!   [`assert_emitted`](Harness::assert_emitted),
//!   [`assert_emitted_where`](Harness::assert_emitted_where),
//!   [`assert_no_dead_letters`](Harness::assert_no_dead_letters), and their siblings.
//!
//! It runs the real spine — routing, retries, timeouts, failure modes, metadata and headers
//! — so what passes here behaves the same on another backend. Everything but the `assert_*`
//! helpers returns a `Result`; those panic, as test assertions do (with `#[track_caller]`,
//! pointing at the test's line).
//!
//! ```
//! use necro_core::{Emit, Event, OrganError, Payload, TypedOrgan};
//! use necro_testkit::harness::Harness;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Payload)]
//! #[payload(event_type = "HELLO")]
//! struct Hello { name: String }
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
//! #[payload(event_type = "GREETED")]
//! struct Greeted { msg: String }
//!
//! struct Greeter;
//! impl TypedOrgan for Greeter {
//!     type Input = Hello;
//!     async fn handle(&self, hello: Hello, _event: &Event) -> Result<Emit, OrganError> {
//!         Ok(Event::from_payload(&Greeted { msg: format!("Hello, {}!", hello.name) })?.into())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let harness = Harness::builder().organ(Greeter).build()?;
//! let root = Event::from_payload(&Hello { name: "World".into() })?;
//! let stats = harness.send(root.clone()).await?;
//! assert_eq!(stats.processed, 2); // HELLO, then GREETED (which nobody listens to)
//!
//! assert_eq!(harness.event_types(), ["HELLO", "GREETED"]);
//! assert_eq!(harness.emitted::<Greeted>()?, [Greeted { msg: "Hello, World!".into() }]);
//! let greeted = harness.assert_emitted_where(|g: &Greeted| g.msg.contains("World"));
//! assert_eq!(greeted.msg, "Hello, World!");
//! assert_eq!(harness.caused_by(&root)[0].event_type(), "GREETED");
//! harness.assert_no_dead_letters();
//! # Ok(()) }
//! ```

mod assert;
mod builder;
mod record;
mod recording;
mod stats;

use necro_backend_memory::MemoryBackend;
use necro_core::{DeadLetter, DecodeError, Envelope, Event, EventError, Metadata, Payload};
use necro_spine::{BuildError, RunError, Spine, Stats};

pub use builder::{HarnessBuilder, test_retry_policy};
pub use record::{Origin, Recorded};
pub use recording::RecordingBackend;

/// Why a harness could not be built or a send failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The spine did not build.
    #[error("the harness's spine does not build: {0}")]
    Build(#[from] BuildError),
    /// The run ended with an error (the records keep what flowed until then).
    #[error("the run failed: {0}")]
    Run(#[from] RunError),
    /// A payload did not make an event.
    #[error("the payload does not make an event: {0}")]
    Event(#[from] EventError),
    /// A recorded event did not decode into the payload type asked for.
    #[error("a recorded event does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// Organs on a spine over a [`RecordingBackend`]; see the [module docs](self).
///
/// Sends run one at a time: a send while another runs fails with `RunError::AlreadyRunning`.
#[derive(Debug)]
pub struct Harness {
    spine: Spine<RecordingBackend>,
}

impl Harness {
    /// Starts a harness over a fresh, unbounded memory backend.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder::new(RecordingBackend::new())
    }

    /// Starts a harness over `memory` (bounded, or with its own `max_deliveries` for
    /// handler failure mode NACK).
    pub fn builder_on(memory: MemoryBackend) -> HarnessBuilder {
        HarnessBuilder::new(RecordingBackend::wrap(memory))
    }

    /// Wraps a spine you built yourself on a [`RecordingBackend`], say with an application's
    /// own `build_spine(backend)`. The spine's settings are yours (the harness's retry
    /// default does not apply).
    #[must_use]
    pub fn from_spine(spine: Spine<RecordingBackend>) -> Self {
        Self { spine }
    }

    /// The spine.
    #[must_use]
    pub fn spine(&self) -> &Spine<RecordingBackend> {
        &self.spine
    }

    /// The recording backend (and, through [`RecordingBackend::memory`], the memory backend).
    #[must_use]
    pub fn backend(&self) -> &RecordingBackend {
        self.spine.backend()
    }

    /// Sends a root event (an [`Event`], or an [`Envelope`] to give it headers) and runs
    /// until drained. Returns this run's stats (the spine's counters are cumulative:
    /// [`stats`](Self::stats)).
    ///
    /// # Errors
    /// [`HarnessError::Run`] when the send or the run fails (`max_steps` exceeded, an enqueue
    /// failure under FAIL or RETRY).
    pub async fn send(&self, event: impl Into<Envelope>) -> Result<Stats, HarnessError> {
        self.send_all([event]).await
    }

    /// Sends a payload as a root event and runs until drained.
    ///
    /// # Errors
    /// [`HarnessError::Event`] when the payload does not make an event; as
    /// [`send`](Self::send).
    pub async fn send_payload<P: Payload>(&self, payload: &P) -> Result<Stats, HarnessError> {
        self.send(Event::from_payload(payload)?).await
    }

    /// Sends several root events, in order, then runs until drained once.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_all<E: Into<Envelope>>(
        &self,
        events: impl IntoIterator<Item = E>,
    ) -> Result<Stats, HarnessError> {
        let before = self.spine.stats();
        for event in events {
            self.spine.send(event).await?;
        }
        self.spine.run_until_drained().await?;
        Ok(stats::run_stats(&before, &self.spine.stats()))
    }

    /// Runs until drained without sending anything (after a dead letter was replayed into
    /// the memory backend, say). Returns this run's stats.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn run_until_drained(&self) -> Result<Stats, HarnessError> {
        self.send_all(std::iter::empty::<Event>()).await
    }

    /// The spine's counters, cumulative over every send.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.spine.stats()
    }

    /// Every recorded event, in queue order: roots sent in and everything emitted.
    #[must_use]
    pub fn records(&self) -> Vec<Recorded> {
        self.backend().records()
    }

    /// The type of every recorded event, in order (roots included).
    #[must_use]
    pub fn event_types(&self) -> Vec<String> {
        self.records()
            .iter()
            .map(|r| r.event_type().to_owned())
            .collect()
    }

    /// The events organs emitted (roots excluded), in order.
    #[must_use]
    pub fn emitted_events(&self) -> Vec<Event> {
        self.records()
            .into_iter()
            .filter(Recorded::is_emitted)
            .map(|r| r.event)
            .collect()
    }

    /// The events of `event_type` organs emitted, in order.
    #[must_use]
    pub fn emitted_of_type(&self, event_type: &str) -> Vec<Event> {
        self.records()
            .into_iter()
            .filter(|r| r.is_emitted() && r.event_type() == event_type)
            .map(|r| r.event)
            .collect()
    }

    /// The `P` events organs emitted, decoded, in order.
    ///
    /// # Errors
    /// [`HarnessError::Decode`] for the first one that does not decode into `P`.
    pub fn emitted<P: Payload>(&self) -> Result<Vec<P>, HarnessError> {
        self.emitted_of_type(P::EVENT_TYPE)
            .iter()
            .map(|e| e.decode::<P>().map_err(HarnessError::from))
            .collect()
    }

    /// The events whose causation id is `parent`'s id — what handling it emitted — in order.
    #[must_use]
    pub fn caused_by(&self, parent: &Event) -> Vec<Event> {
        self.records()
            .into_iter()
            .filter(|r| r.causation_id() == Some(parent.id()))
            .map(|r| r.event)
            .collect()
    }

    /// Every recorded event of `root`'s chain (its correlation id), `root` included, in order.
    #[must_use]
    pub fn chain_of(&self, root: &Event) -> Vec<Recorded> {
        self.records()
            .into_iter()
            .filter(|r| r.correlation_id() == root.id() || r.event.id() == root.id())
            .collect()
    }

    /// The metadata `event` was recorded with (its correlation and causation ids, its
    /// headers); `None` when it was never recorded.
    #[must_use]
    pub fn metadata_of(&self, event: &Event) -> Option<Metadata> {
        self.records()
            .into_iter()
            .find(|r| r.event.id() == event.id())
            .map(|r| r.meta)
    }

    /// The memory backend's dead letters, oldest first.
    #[must_use]
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.backend().memory().dead_letters().list()
    }

    /// Handler failures per organ, cumulative (errors, panics, timeouts after retries).
    #[must_use]
    pub fn handler_errors(&self) -> std::collections::BTreeMap<String, u64> {
        self.stats().handler_errors
    }

    /// Handler retries, cumulative.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.stats().retries
    }

    /// Forgets the records and takes the dead letters out; the spine's cumulative stats stay.
    pub fn clear(&self) {
        self.backend().clear();
        drop(self.backend().memory().dead_letters().drain());
    }

    /// The records and dead letters as the assertion helpers print them.
    #[must_use]
    pub fn report(&self) -> String {
        format!(
            "events, in order:\n{}dead letters:\n{}",
            record::listing(&self.records()),
            record::dead_letter_listing(&self.dead_letters())
        )
    }
}
