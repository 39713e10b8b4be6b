//! `#[derive(Payload)]` through necro-core's re-export (default `derive` feature): the event
//! type lands in `EVENT_TYPE`, and events built from the struct decode back into it.
#![cfg(feature = "derive")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic fails the test.
use necro_core::{DecodeError, Event, Payload};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_PLACED")]
struct OrderPlaced {
    order_id: u64,
    symbol: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = r"ALERT")]
#[serde(tag = "level")]
enum Alert {
    Low { note: String },
    High,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "WRAPPED")]
struct Wrapped<T> {
    inner: T,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "NEWTYPE")]
struct Newtype(OrderPlaced);

fn round_trip<P: Payload + PartialEq + std::fmt::Debug>(payload: &P) {
    let event = Event::from_payload(payload).unwrap();
    assert_eq!(event.event_type(), P::EVENT_TYPE);
    assert_eq!(&event.decode::<P>().unwrap(), payload);
    let back = Event::from_json(&event.to_json()).unwrap();
    assert_eq!(&back.decode::<P>().unwrap(), payload);
}

#[test]
fn a_derived_struct_round_trips_under_its_event_type() {
    assert_eq!(OrderPlaced::EVENT_TYPE, "ORDER_PLACED");
    let order = OrderPlaced {
        order_id: 7,
        symbol: "AAPL".into(),
    };
    round_trip(&order);
    let event = Event::from_payload(&order).unwrap();
    assert_eq!(event.payload()["symbol"], "AAPL");
}

#[test]
fn enums_generics_and_newtypes_derive_too() {
    assert_eq!(Alert::EVENT_TYPE, "ALERT");
    round_trip(&Alert::Low { note: "hm".into() });
    round_trip(&Alert::High);
    assert_eq!(Wrapped::<u32>::EVENT_TYPE, "WRAPPED");
    round_trip(&Wrapped { inner: 5_u32 });
    round_trip(&Newtype(OrderPlaced {
        order_id: 1,
        symbol: "X".into(),
    }));
}

#[test]
fn a_derived_payload_checks_the_event_type_on_decode() {
    let other = Event::new(
        "ORDER_CANCELLED",
        serde_json::json!({"order_id": 1, "symbol": "A"}),
    )
    .unwrap();
    assert!(matches!(
        other.decode::<OrderPlaced>(),
        Err(DecodeError::WrongType {
            expected: "ORDER_PLACED",
            ..
        })
    ));
}
