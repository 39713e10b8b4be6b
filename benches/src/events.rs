//! The events every scenario moves: a three-step chain `BENCH_A` → `BENCH_B` → `BENCH_C` of
//! ~100-byte payloads.

use std::sync::LazyLock;

use necro_core::serde_json::{Value, json};
use necro_core::{Event, EventType};

/// The root event type (the chain's first step).
pub const TYPE_A: &str = "BENCH_A";
/// The second step's event type.
pub const TYPE_B: &str = "BENCH_B";
/// The last step's event type.
pub const TYPE_C: &str = "BENCH_C";

static B: LazyLock<EventType> = LazyLock::new(|| EventType::new(TYPE_B).expect("valid type"));
static C: LazyLock<EventType> = LazyLock::new(|| EventType::new(TYPE_C).expect("valid type"));

/// A payload of about 100 bytes of compact JSON.
#[must_use]
pub fn payload(i: u64) -> Value {
    json!({
        "order_id": i,
        "symbol": "NECRO",
        "side": "buy",
        "qty": 100,
        "price": 4242.5,
        "note": "a benchmark payload of about one hundred bytes",
    })
}

/// A root event of the chain.
///
/// # Panics
/// Never: the type and payload are valid.
#[must_use]
pub fn root_event(i: u64) -> Event {
    Event::new(TYPE_A, payload(i)).expect("valid event")
}

/// The chain step: what the organ (or the raw task) handling `event` emits.
/// `BENCH_A` gives a fresh `BENCH_B` with the same payload, `BENCH_B` a `BENCH_C`, `BENCH_C`
/// nothing.
///
/// # Panics
/// Never: the payload was already valid.
#[must_use]
pub fn next_event(event: &Event) -> Option<Event> {
    let next = match event.event_type().as_str() {
        TYPE_A => &*B,
        TYPE_B => &*C,
        _ => return None,
    };
    let payload = Value::Object(event.payload().clone());
    Some(Event::with_type(next.clone(), payload).expect("valid event"))
}

/// Builds an event, validates it, writes its JSON and parses it back: the per-event work of a
/// producer and a Redis consumer.
///
/// # Panics
/// Never: the JSON is the event's own.
#[must_use]
pub fn round_trip(i: u64) -> Event {
    let event = root_event(i);
    let wire = event.to_json();
    Event::from_json(&wire).expect("own JSON parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_about_100_bytes() {
        let n = root_event(123_456).payload_size();
        assert!((90..=130).contains(&n), "{n}");
    }

    #[test]
    fn the_chain_has_three_steps() {
        let a = root_event(1);
        let b = next_event(&a).unwrap();
        let c = next_event(&b).unwrap();
        assert_eq!(b.event_type(), TYPE_B);
        assert_eq!(c.event_type(), TYPE_C);
        assert!(next_event(&c).is_none());
        assert_eq!(round_trip(7).payload()["order_id"], 7);
    }
}
