//! # necro-backend-memory
//!
//! NecroStack's in-process backend: a FIFO event queue in memory, bounded or not, that
//! redelivers nacked events and dead-letters them after a maximum number of deliveries, with a
//! bounded dead-letter store you can inspect and replay.
//!
//! Depend on it for development, tests, examples and single-process applications: it needs no
//! infrastructure and compiles no Redis client. Organs do not depend on it (they depend on
//! `necro-core`), so moving to `necro-backend-redis` changes one line of the application.
//! Nothing here survives the process: for durable, multi-worker delivery use Redis.
//!
//! - [`MemoryBackend`] implements necro-core's [`Backend`](necro_core::Backend) (with an atomic
//!   [`commit`](necro_core::Backend::commit)), [`DeadLetterStore`](necro_core::DeadLetterStore),
//!   [`DeadLetterQueue`](necro_core::DeadLetterQueue) (list, get, replay and purge its dead
//!   letters by id or filter) and [`Health`](necro_core::Health). Its docs state the queue's
//!   semantics.
//! - [`MemoryDeadLetters`] keeps the dead letters, each with a stable id, evicting the oldest
//!   when full, and can [replay](MemoryDeadLetters::replay_into) them.
//!
//! ```
//! use std::time::Duration;
//!
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::{Backend, Event};
//! use necro_core::serde_json::json;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! runtime.block_on(async {
//!     let backend = MemoryBackend::bounded(1_000)?;
//!     backend.send(Event::new("ORDER_PLACED", json!({ "order_id": 42 }))?).await?;
//!
//!     let deliveries = backend.pull(10, Duration::from_millis(100)).await?;
//!     assert_eq!(deliveries.len(), 1);
//!     let delivery = &deliveries[0];
//!     assert_eq!(delivery.event.event_type(), "ORDER_PLACED");
//!     assert_eq!(delivery.attempt, 1);
//!
//!     backend.ack(vec![delivery.token]).await?;
//!     assert!(backend.is_idle());
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod backend;
mod builder;
mod dead_letters;
mod error;
mod queue;
mod token;

pub use backend::{DEFAULT_MAX_DELIVERIES, MemoryBackend};
pub use builder::MemoryBackendBuilder;
pub use dead_letters::{DEFAULT_DEAD_LETTER_CAPACITY, MemoryDeadLetters};
pub use error::MemoryBuildError;
pub use token::MemoryToken;
