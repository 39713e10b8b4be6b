//! # necro-core
//!
//! The small, stable heart of NecroStack: the [`Event`] model, the [`Organ`] traits handlers
//! implement, and the [`Backend`] traits transports implement (with [`BoxBackend`], any backend
//! behind one type, for a backend chosen at run time). Depend on this crate when you write
//! organs or a backend; applications add `necro-spine` and a backend crate.
//!
//! It has no async runtime, no Redis client and no logging subscriber in it.
//!
//! ```
//! use necro_core::{Emit, Event, Organ, OrganError};
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
//! # tokio_test_block_on(async {
//! let hello = Event::new("HELLO", json!({"name": "World"}))?;
//! let out = Greeter.handle(&hello).await?;
//! let greeted = out.iter().next().unwrap();
//! assert_eq!(greeted.payload()["msg"], "Hello, World!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
#![forbid(unsafe_code)]

mod backend;
mod box_token;
mod boxed;
mod dead_letter;
mod dead_letter_queue;
mod emit;
mod envelope;
mod error;
mod event;
mod event_type;
mod headers;
mod organ;
mod organ_error;
mod payload;
mod scan;
pub mod telemetry;
mod timestamp;

pub use backend::{
    Backend, DeadLetterStore, DynDeadLetterStore, Health, HealthReport, NackOutcome,
};
pub use box_token::BoxToken;
pub use boxed::{BoxBackend, DynBackend};
pub use dead_letter::{DeadLetter, DeadLetterKind, Failure, FailureKind};
pub use dead_letter_queue::{
    DeadLetterEntry, DeadLetterFilter, DeadLetterId, DeadLetterPage, DeadLetterQuery,
    DeadLetterQueue, DeadLetterSelection, InvalidDeadLetterId, ListOrder, PurgeReport,
    ReplayReport, UnreadableLetter,
};
pub use emit::Emit;
pub use envelope::{Delivery, Envelope, Metadata};
pub use error::{BackendError, BoxError, EventError, error_chain, panic_message};
pub use event::Event;
pub use event_type::EventType;
pub use headers::{HeaderError, Headers, PassOn, TRACE_CONTEXT_HEADERS};
/// `#[derive(Payload)]` with `#[payload(event_type = "...")]` (feature `derive`, on by
/// default): see [`Payload`](trait@Payload).
#[cfg(feature = "derive")]
pub use necro_macros::Payload;
pub use organ::{
    BoxFuture, BoxedOrgan, DynOrgan, DynSyncOrgan, Handler, IntoOrgan, Organ, OrganResult,
    SyncOrgan, TypedOrgan, marker, organ_fn, short_type_name,
};
pub use organ_error::{OrganError, Retry};
pub use payload::{DecodeError, Payload};

/// What `#[derive(Payload)]` expands to refers to; not part of the API.
#[doc(hidden)]
#[cfg(feature = "derive")]
pub mod __private {
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;
}
pub use scan::{MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH};
pub use timestamp::format_timestamp;

/// Re-exported so organ authors need no direct dependency for `json!` and `Value`.
pub use serde_json;
/// Re-exported for ids and timestamps.
pub use time;
/// Re-exported for ids.
pub use uuid;

pub use organ::sync_organ_fn;

#[cfg(test)]
mod dyn_compat {
    use super::*;
    // These traits must stay dyn-compatible: the spine holds them erased.
    fn _obj_safe(_: Box<dyn DynOrgan>, _: Box<dyn DynSyncOrgan>, _: Box<dyn DynBackend>) {}
    fn _assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn values_are_send_sync() {
        _assert_send_sync::<Event>();
        _assert_send_sync::<Emit>();
        _assert_send_sync::<OrganError>();
        _assert_send_sync::<BackendError>();
        _assert_send_sync::<DeadLetter>();
        _assert_send_sync::<BoxBackend>();
        _assert_send_sync::<BoxToken>();
    }
}
