//! # necro-spine
//!
//! The dispatcher of NecroStack. A [`Spine`] pulls events from a backend, hands each one to
//! every organ that listens to its type (in registration order), enqueues the events they
//! emit and acknowledges the source — with retry and exponential backoff, handler timeouts,
//! panic isolation, per-organ circuit breakers, a backend circuit breaker, dead letters,
//! a `max_steps` guard, stats, graceful shutdown and bounded concurrency.
//!
//! Applications depend on this crate plus one backend crate (`necro-backend-memory` for
//! development and tests, `necro-backend-redis` in production); organs need only
//! `necro-core`. The spine records through the `tracing` and `metrics` facades and never
//! installs a subscriber or recorder: `necro-observe` (or your own) does that. [`telemetry`]
//! declares every metric it records (name, kind, labels, HELP text).
//!
//! ```
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::{Emit, Event, Organ, OrganError};
//! use necro_spine::{HandlerFailureMode, Spine};
//! use serde_json::json;
//!
//! struct Greeter;
//! impl Organ for Greeter {
//!     fn listens_to(&self) -> &[&str] { &["HELLO"] }
//!     async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
//!         let name = event.get("name").and_then(|v| v.as_str()).unwrap_or("stranger");
//!         Ok(Event::new("GREETED", json!({ "msg": format!("Hello, {name}!") }))?.into())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spine = Spine::builder(MemoryBackend::new())
//!     .organ(Greeter)
//!     .handler_failure_mode(HandlerFailureMode::Store)
//!     .build()?;
//! let stats = spine.run_event(Event::new("HELLO", json!({"name": "World"}))?).await?;
//! assert_eq!(stats.emitted, 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod breaker;
mod builder;
mod commit;
mod config;
mod context;
mod dispatch;
mod error;
mod runner;
mod shutdown;
mod spine;
mod state;
mod stats;
pub mod telemetry;
pub mod trace;

pub use breaker::CircuitState;
pub use builder::SpineBuilder;
pub use config::{
    BackendBreakerConfig, CircuitBreakerConfig, EnqueueFailureMode, HandlerFailureMode,
    OrganOptions, RetryPolicy,
};
pub use context::{current_header, current_metadata};
pub use error::{BuildError, RunError};
pub use shutdown::{ShutdownHandle, shutdown_signal};
pub use spine::Spine;
pub use stats::Stats;

/// The long-form pages of the repository's `docs/` that document this crate, as rustdoc: every
/// Rust block in them compiles (and runs, unless marked `no_run`) as a doctest.
pub mod guide {
    #[doc = include_str!("../../../docs/failure-handling.md")]
    pub mod failure_handling {}
    #[doc = include_str!("../../../docs/architecture.md")]
    pub mod architecture {}
}

#[cfg(test)]
mod layout_tests;
