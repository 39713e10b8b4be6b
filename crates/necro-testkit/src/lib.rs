//! # necro-testkit
//!
//! The conformance suite every NecroStack backend must pass: one set of scenarios, written
//! against necro-core's traits only, that the in-memory and Redis backends (and any backend
//! you write) run in their own tests. A backend that passes behaves the way the spine, the
//! operator tools and the docs assume, whatever carries its events.
//!
//! It holds two suites:
//! - the backend suite ([`backend`]): round trip, batch pulls, acks, metadata (correlation,
//!   causation, headers) through enqueue and commit, refusals of bad input, order, nack (the
//!   attempt raised, a dead letter at the maximum), release (no attempt counted), commit,
//!   5,000 events shared by concurrent consumers, redelivery after a consumer crashed,
//!   consumers closed and replaced, concurrent close, and the queue across a restart. It
//!   takes a [`BackendFactory`] that gives a fresh, isolated backend per case (and a second
//!   consumer, or a restart, where it claims them) and declares the backend's
//!   [`Capabilities`]; the cases for what is not claimed are skipped, and the [`Report`] says
//!   which. One entry point per capability ([`backend::basics`], [`backend::ordering`],
//!   [`backend::redelivery`], …) and [`backend_conformance`] for all. A commit the backend
//!   refuses must apply nothing (`atomic_commit_all_or_nothing`, with a batch from the
//!   factory's `refusing_commit`).
//! - the dead-letter queue suite ([`dead_letter_queue`]): counting, listing both ways with a
//!   cursor and filters, get, replay (pulled back from the backend's queue) and purge by
//!   selection, and concurrent replays of one entry.
//!
//! The crate's README shows how a backend of your own runs them.
//!
//! The [`model`] check ([`backend_model_check`], [`backend_model_check_with_dead_letters`],
//! [`backend_model_check_with_crashes`]) runs proptest-generated sequences of enqueue, pull,
//! ack, nack, release, commit and crash against a
//! fresh backend beside a reference model, checks after every step that nothing is lost,
//! delivered twice or given a wrong attempt number, that nacks dead-letter at the maximum, and
//! order as far as the backend claims ([`ModelConfig`], [`ModelOrder`]); a failure reports the
//! shrunk sequence with a step-by-step trace.
//!
//! And two tools for testing applications:
//! - [`fault`]: [`FaultyBackend`], a wrapper around any backend that fails, or delays, the
//!   calls a test chooses ([`Faults`]: the Nth enqueue, every commit from the third, …) with
//!   a chosen [`BackendError`](necro_core::BackendError) kind, and counts calls;
//! - `harness` (feature `harness`, which adds the spine and the in-memory backend): the organ
//!   harness, `Harness`, which runs organs on an in-memory spine and records every event that
//!   flowed, its causation and headers, handler errors, retries and dead letters, with
//!   assertions that list what happened when they fail.
//!
//! Depend on it as a dev-dependency of a backend crate. It depends on `necro-core` (and
//! tokio, to race tasks, and proptest, for the model check) and on no backend. Each suite
//! takes a factory giving a fresh, empty backend per scenario, and answers `Ok` or the first
//! [`ConformanceError`]: the scenario and what the backend did wrong. It never panics, so
//! `.unwrap()` (or `?`) in the test decides.
//!
//! ```
//! use necro_backend_memory::MemoryBackend;
//! use necro_testkit::dead_letter_queue::dead_letter_queue_conformance;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! runtime.block_on(dead_letter_queue_conformance(|| async { MemoryBackend::new() }))?;
//! # Ok(()) }
//! ```
//!
//! The backend suite, on the in-memory backend (whose clones share one queue):
//!
//! ```
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::BoxError;
//! use necro_testkit::{BackendFactory, Capabilities, backend_conformance};
//!
//! struct Memory;
//!
//! impl BackendFactory for Memory {
//!     type Backend = MemoryBackend;
//!     fn capabilities(&self) -> Capabilities {
//!         Capabilities::new(3).atomic_commit(true).ordered(true).shared_consumers(true)
//!     }
//!     async fn fresh(&self) -> Result<MemoryBackend, BoxError> {
//!         Ok(MemoryBackend::new())
//!     }
//!     async fn another_consumer(&self, of: &MemoryBackend) -> Result<MemoryBackend, BoxError> {
//!         Ok(of.clone())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! let report = runtime.block_on(backend_conformance(&Memory))?;
//! assert!(report.ran("shared_consumers") && report.skipped("persistence"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod backend;
pub mod dead_letter_queue;
mod error;
pub mod fault;
#[cfg(feature = "harness")]
pub mod harness;
pub mod model;
mod queue;

pub use backend::{BackendFactory, Capabilities, Report, backend_conformance};
pub use dead_letter_queue::{dead_letter_queue_conformance, dead_letter_queue_conformance_with};
pub use error::ConformanceError;
pub use fault::{Calls, FaultError, Faults, FaultyBackend, Op};
#[cfg(feature = "harness")]
pub use harness::{Harness, HarnessBuilder, HarnessError};
pub use model::{
    ModelConfig, ModelOrder, backend_model_check, backend_model_check_with_crashes,
    backend_model_check_with_dead_letters,
};

/// The crate's README: its example compiles as a doctest here.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `docs/testing.md`: every example of it compiles and runs as a doctest here (they use the
/// harness).
#[cfg(all(doctest, feature = "harness"))]
#[doc = include_str!("../../../docs/testing.md")]
struct TestingGuideDoctests;
