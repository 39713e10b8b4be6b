//! # necro-backend-redis
//!
//! NecroStack's production backend: events travel through a Redis Stream read by a consumer
//! group, so they survive restarts, any number of workers (processes or tasks, each with its
//! own consumer name) share the work, and delivery is at-least-once. Built on
//! [`fred`](https://docs.rs/fred).
//!
//! Applications depend on it next to `necro-spine`; it depends only on `necro-core`, whose
//! [`Backend`](necro_core::Backend), [`DeadLetterStore`](necro_core::DeadLetterStore),
//! [`DeadLetterQueue`](necro_core::DeadLetterQueue) (the dead-letter stream, paged, filtered,
//! replayed atomically per entry) and [`Health`](necro_core::Health) traits it implements. Moving from the in-memory backend to
//! this one changes one line of the application and no organ.
//!
//! ```no_run
//! use std::time::Duration;
//! use necro_backend_redis::RedisBackend;
//! use necro_core::{Backend, Event, Health};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379")
//!     .consumer_group("workers") // default "necrostack"
//!     .connect()
//!     .await?;
//!
//! backend.send(Event::new("ORDER_PLACED", json!({"order_id": 123}))?).await?;
//!
//! let batch = backend.pull(10, Duration::from_secs(1)).await?;
//! for delivery in &batch {
//!     println!("{} (attempt {})", delivery.event.event_type(), delivery.attempt);
//! }
//! backend.ack(batch.into_iter().map(|d| d.token).collect()).await?;
//!
//! assert!(backend.health().await.healthy);
//! # Ok(()) }
//! ```
//!
//! ## On the wire (shared with the Python NecroStack)
//!
//! - Main stream `necrostack:events`, group `necrostack`. Each entry has the field `event`
//!   holding exactly the four-field JSON `{"id","timestamp","event_type","payload"}` of
//!   [`Event::to_json`](necro_core::Event::to_json); chain metadata, when present, goes in the
//!   extra fields `correlation_id` and `causation_id`, and each header in a field
//!   `header:<name>` (Python ignores them all).
//! - Dead-letter stream `{stream}:dlq`, entries with `original_id`, `event`, `reason`,
//!   `failed_at` (as Python writes them) plus `kind`, `attempts`, `consumer` and, when known,
//!   `organ`, `failures`, `fields`, `correlation_id`, `causation_id` and `header:<name>` fields.
//!
//! ## Delivery
//!
//! - [`pull`](necro_core::Backend::pull) first reclaims entries pending longer than
//!   `claim_min_idle_ms` (`XAUTOCLAIM`, every `claim_interval`), dead-letters those already
//!   delivered `max_retries` times, then reads new ones with `XREADGROUP … BLOCK` on a
//!   connection of its own, so enqueues and acks never wait behind the blocking read.
//! - [`Delivery::attempt`](necro_core::Delivery) is Redis's own delivery count for the
//!   entry: 1 for a fresh read, raised by every reclaim.
//! - `nack` below `max_retries` leaves the entry pending, marked idle, so the next pull
//!   reclaims it (same entry id, attempt + 1); at `max_retries` it is dead-lettered and acked in
//!   one MULTI/EXEC.
//! - `commit` adds the emitted events and acks the sources in one MULTI/EXEC
//!   ([`atomic_commit`](necro_core::Backend::atomic_commit) is `true`); `enqueue` of a batch
//!   is one MULTI/EXEC, `ack` one `XACK`.
//! - A malformed entry (no `event` field, not JSON, not a valid event) is dead-lettered with
//!   the reason and acked; it never stops the consumer or the stream.
//!
//! ## Retention
//!
//! Storage stays bounded by itself ([`RetentionPolicy`], on by default): a background task,
//! run by one worker at a time under a short lease, trims the stream with `XTRIM … MINID` at
//! the smaller of the *safe floor* (no entry pending in any group, or not yet delivered to it,
//! is ever removed) and the retention bound (about 100,000 entries, 24 hours), and bounds the
//! dead-letter stream (100,000 letters, every drop counted and logged). A group that stops
//! consuming holds the floor back and shows in metrics, `health()` and `necro stats`
//! ([`SafeFloor`]). `connect` warns about (or refuses) a `maxmemory-policy` that may evict the
//! streams ([`EvictionCheck`]).
//!
//! `docs/redis.md` covers the failure model, retention, the DLQ and running several workers.
#![forbid(unsafe_code)]

mod backend;
mod commit;
mod config;
mod connect;
mod consumers;
mod dlq;
mod dlq_bound;
mod entry;
mod env;
mod error;
mod floor;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod inspect;
mod meta;
mod python;
mod queue;
mod read;
mod reclaim;
mod record;
mod redis_url;
mod replay;
mod retention;
mod stats;
mod tls;
mod trim;

pub use backend::RedisBackend;
pub use config::{
    DEFAULT_BATCH_SIZE, DEFAULT_BLOCK_TIMEOUT, DEFAULT_CLAIM_MIN_IDLE_MS, DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_CONSUMER_GROUP, DEFAULT_MAX_RETRIES, DEFAULT_POOL_SIZE,
    DEFAULT_STREAM_KEY, RedisConfig, RedisConfigBuilder, mask_url,
};
pub use consumers::PruneReport;
pub use dlq::{DlqStream, ReplayAllReport};
pub use dlq_bound::DlqOverBound;
pub use entry::EntryId;
pub use error::{ConfigError, ConnectError, NoPermission, TlsRefusal, WriteOutcomeUnknown};
pub use floor::{FloorHold, SafeFloor};
pub use inspect::{ConsumerInfo, GroupInfo, StreamInfo};
pub use python::{PythonCompatError, python_payload_size};
pub use record::DlqEntry;
pub use retention::{
    DEFAULT_DLQ_MAX_ENTRIES, DEFAULT_RETENTION_MAX_AGE, DEFAULT_RETENTION_MAX_ENTRIES,
    DEFAULT_TRIM_INTERVAL, EvictionCheck, RetentionPolicy,
};
pub use stats::RedisStats;
pub use tls::TlsOptions;
pub use trim::TrimReport;

/// The repository's README: its Rust blocks compile (the first also runs) as doctests here,
/// where the spine, both backends and the Redis client are all at hand.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The long-form pages of the repository's `docs/` that document this crate, as rustdoc: every
/// Rust block in them compiles (and runs, unless marked `no_run`) as a doctest.
pub mod guide {
    #[doc = include_str!("../../../docs/redis.md")]
    pub mod redis {}
}

#[cfg(test)]
mod assertions {
    use super::*;
    fn _assert_send_sync<T: Send + Sync + 'static>() {}
    #[test]
    fn public_types_are_send_sync() {
        _assert_send_sync::<RedisBackend>();
        _assert_send_sync::<EntryId>();
        _assert_send_sync::<ConnectError>();
        _assert_send_sync::<ConfigError>();
    }
}
