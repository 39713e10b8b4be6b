//! Typed payloads: the [`Payload`] trait that ties a serde struct to its event type, and the
//! [`DecodeError`] for an event whose payload does not fit its struct.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::event_type::EventType;

/// A payload struct bound to one event type.
///
/// Build events from it with [`Event::from_payload`](crate::Event::from_payload), decode
/// them back with [`Event::decode`](crate::Event::decode), and write organs that receive it
/// already decoded with [`TypedOrgan`](crate::TypedOrgan).
///
/// Derive it with `#[derive(Payload)]` and `#[payload(event_type = "...")]` (the `derive`
/// feature, on by default), which checks at compile time that the event type is a trimmed,
/// non-empty string literal; or implement it by hand with `const EVENT_TYPE: &'static str =
/// "...";`. Either way serde provides the `Serialize` and `Deserialize` it requires, and the
/// type must serialize to a JSON object.
///
/// ```
/// use necro_core::{Event, Payload};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Payload)]
/// #[payload(event_type = "ORDER_PLACED")]
/// struct OrderPlaced { order_id: u64, quantity: u32 }
///
/// let bad = Event::new("ORDER_PLACED", serde_json::json!({"order_id": 1, "quantity": "many"})).unwrap();
/// let err = bad.decode::<OrderPlaced>().unwrap_err();
/// assert!(err.to_string().contains("ORDER_PLACED"));
/// assert!(err.to_string().contains("quantity"));
/// ```
pub trait Payload: Serialize + DeserializeOwned {
    /// The event type this payload travels under.
    const EVENT_TYPE: &'static str;
}

/// Why a payload could not be decoded into its typed form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The event is not of the type the payload struct belongs to.
    #[error("expected a {expected} event, got a {found} event")]
    WrongType {
        /// The payload struct's event type.
        expected: &'static str,
        /// The event's type.
        found: EventType,
    },
    /// A field is missing or does not fit.
    #[error("{event_type} payload does not decode into {target}: at `{path}`: {source}")]
    Invalid {
        /// The event's type.
        event_type: EventType,
        /// The Rust type decoding was attempted into.
        target: &'static str,
        /// Path to the field that failed (`.` for the root).
        path: String,
        /// serde_json's complaint.
        #[source]
        source: serde_json::Error,
    },
}
