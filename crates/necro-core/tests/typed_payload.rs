//! Typed payloads: build from a struct, decode back, clear errors naming type and field.
use necro_core::{DecodeError, Event, OrganError, Payload, Retry};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    symbol: String,
    quantity: u32,
    limit: Option<f64>,
}
impl Payload for Order {
    const EVENT_TYPE: &'static str = "ORDER_SUBMITTED";
}

#[derive(Serialize, Deserialize)]
struct NotAnObject(u32);
impl Payload for NotAnObject {
    const EVENT_TYPE: &'static str = "N";
}

#[test]
fn struct_round_trips() {
    let order = Order {
        symbol: "AAPL".into(),
        quantity: 100,
        limit: Some(150.5),
    };
    let ev = Event::from_payload(&order).unwrap();
    assert_eq!(ev.event_type(), "ORDER_SUBMITTED");
    assert_eq!(ev.decode::<Order>().unwrap(), order);
    let back = Event::from_json(&ev.to_json()).unwrap();
    assert_eq!(back.decode::<Order>().unwrap(), order);
}

#[test]
fn decode_errors_name_the_event_type_and_the_field() {
    let ev = Event::new(
        "ORDER_SUBMITTED",
        serde_json::json!({"symbol": "AAPL", "quantity": -5}),
    )
    .unwrap();
    let err = ev.decode::<Order>().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ORDER_SUBMITTED"), "{text}");
    assert!(text.contains("quantity"), "{text}");
    assert!(matches!(err, DecodeError::Invalid { ref path, .. } if path == "quantity"));
    // As an organ error it is permanent: retrying cannot fix bad input.
    assert_eq!(OrganError::from(err).retry(), Retry::Permanent);
}

#[test]
fn decode_checks_the_event_type() {
    let ev = Event::new(
        "OTHER",
        serde_json::json!({"symbol": "AAPL", "quantity": 1}),
    )
    .unwrap();
    assert!(matches!(
        ev.decode::<Order>(),
        Err(DecodeError::WrongType {
            expected: "ORDER_SUBMITTED",
            ..
        })
    ));
    assert!(ev.decode_as::<Order>().is_ok());
}

#[test]
fn a_payload_that_is_not_an_object_is_refused() {
    let err = Event::from_payload(&NotAnObject(3)).unwrap_err();
    assert!(
        matches!(
            err,
            necro_core::EventError::PayloadNotObject { found: "a number" }
        ),
        "{err}"
    );
}
