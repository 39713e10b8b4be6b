//! # necro-testkit
//!
//! The conformance suite every NecroStack backend must pass: one set of scenarios, written
//! against necro-core's traits only, that the in-memory and Redis backends (and any backend
//! you write) run in their own tests. A backend that passes behaves the way the spine, the
//! operator tools and the docs assume, whatever carries its events.
//!
//! Today it holds the dead-letter queue suite ([`dead_letter_queue`]): counting, listing both
//! ways with a cursor and filters, get, replay (pulled back from the backend's queue) and
//! purge by selection, and concurrent replays of one entry. It grows with the capabilities:
//! an organ harness and fault injection are next.
//!
//! Depend on it as a dev-dependency of a backend crate. It depends on `necro-core` (and
//! tokio, to race tasks) and on no backend. Each suite takes a factory giving a fresh, empty
//! backend per scenario, and answers `Ok(())` or the first [`ConformanceError`]: the scenario
//! and what the backend did wrong. It never panics, so `.unwrap()` (or `?`) in the test
//! decides.
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
#![forbid(unsafe_code)]

pub mod dead_letter_queue;
mod error;
pub mod fault;
#[cfg(feature = "harness")]
pub mod harness;
mod queue;

pub use dead_letter_queue::dead_letter_queue_conformance;
pub use error::ConformanceError;
pub use fault::{Calls, FaultError, Faults, FaultyBackend, Op};
#[cfg(feature = "harness")]
pub use harness::{Harness, HarnessBuilder, HarnessError};
