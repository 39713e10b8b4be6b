//! Typed payloads: tie a serde struct to its event type.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A payload struct bound to one event type.
///
/// Build events from it with [`Event::from_payload`](crate::Event::from_payload), decode
/// them back with [`Event::decode`](crate::Event::decode), and write organs that receive it
/// already decoded with [`TypedOrgan`](crate::TypedOrgan).
///
/// ```
/// use necro_core::{Event, Payload};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64, quantity: u32 }
/// impl Payload for OrderPlaced { const EVENT_TYPE: &'static str = "ORDER_PLACED"; }
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
