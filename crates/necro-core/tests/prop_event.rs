//! Property tests for the event model: every valid event round-trips through JSON exactly;
//! every invalid input is rejected with the right typed error.
use necro_core::{Event, EventError, MAX_PAYLOAD_BYTES};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(any::<String>(), json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// A type with something left after trimming, possibly padded with whitespace.
fn event_type() -> impl Strategy<Value = String> {
    (
        "[ \t\n]{0,2}",
        "\\PC{0,3}[A-Za-z_\\p{L}]\\PC{0,10}",
        "[ \t\n]{0,2}",
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

proptest! {
    #[test]
    fn valid_events_round_trip(t in event_type(), p in payload()) {
        let ev = Event::from_map(&t, p.clone()).unwrap();
        prop_assert_eq!(ev.event_type().as_str(), t.trim());
        prop_assert_eq!(ev.payload(), &p);
        prop_assert_eq!(ev.id().get_version_num(), 4);

        let text = ev.to_json();
        let back = Event::from_json(&text).unwrap();
        prop_assert_eq!(&back, &ev);
        prop_assert_eq!(back.payload(), &p);
        prop_assert_eq!(back.to_json(), text.clone());

        // serde's path agrees with the fast path.
        prop_assert_eq!(serde_json::to_string(&ev).unwrap(), text.clone());
        let via_serde: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(via_serde, ev);

        // Pretty-printed input (extra whitespace, as Python's json.dumps writes) is read too,
        // and normalised to compact form.
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        let from_pretty = Event::from_json(&pretty).unwrap();
        prop_assert_eq!(from_pretty.to_json(), text);
    }

    #[test]
    fn blank_types_are_rejected(t in "[ \t\n\r]{0,6}") {
        let r = Event::new(&t, json!({}));
        prop_assert!(matches!(r, Err(EventError::EmptyEventType)), "blank type accepted");
    }

    #[test]
    fn non_object_payloads_are_rejected(v in json_value().prop_filter("not an object", |v| !v.is_object())) {
        let err = Event::new("T", v).unwrap_err();
        prop_assert!(matches!(err, EventError::PayloadNotObject { .. }), "{}", err);
    }

    #[test]
    fn non_v4_ids_are_rejected(bytes in any::<[u8; 16]>(), version in 0u8..16) {
        prop_assume!(version != 4);
        let mut b = bytes;
        b[6] = (b[6] & 0x0f) | (version << 4);
        b[8] = (b[8] & 0x3f) | 0x80;
        let id = uuid::Uuid::from_bytes(b);
        let text = format!(r#"{{"id":"{id}","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"T","payload":{{}}}}"#);
        let r = Event::from_json(&text);
        prop_assert!(matches!(r, Err(EventError::IdNotV4 { .. })), "non-v4 id accepted");
    }

    #[test]
    fn garbage_never_panics(text in "\\PC{0,200}") {
        let _ = Event::from_json(&text);
    }
}

#[test]
fn payload_limit_counts_utf8_bytes_of_compact_json() {
    // {"k":"<s>"} is 8 bytes of framing.
    let fits = "é".repeat((MAX_PAYLOAD_BYTES - 8) / 2);
    let ev = Event::new("T", json!({ "k": fits })).unwrap();
    assert_eq!(ev.payload_size(), MAX_PAYLOAD_BYTES);
    let too_big = "x".repeat(MAX_PAYLOAD_BYTES - 7);
    let err = Event::new("T", json!({ "k": too_big })).unwrap_err();
    assert!(
        matches!(err, EventError::PayloadTooLarge { size, max } if size == MAX_PAYLOAD_BYTES + 1 && max == MAX_PAYLOAD_BYTES),
        "{err}"
    );
    // An emoji costs its 4 UTF-8 bytes, not 12 escaped ASCII ones.
    let ev = Event::new("T", json!({ "e": "😀" })).unwrap();
    assert_eq!(ev.payload_size(), 12);
}

#[test]
fn wire_rejects_unknown_and_missing_fields_and_bad_timestamps() {
    let ok = r#"{"id":"550e8400-e29b-41d4-a716-446655440000","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"T","payload":{}}"#;
    assert!(Event::from_json(ok).is_ok());
    let extra = ok.replace(r#""payload":{}"#, r#""payload":{},"extra":1"#);
    assert!(matches!(Event::from_json(&extra), Err(EventError::Json(_))));
    let missing = ok.replace(r#","payload":{}"#, "");
    assert!(matches!(
        Event::from_json(&missing),
        Err(EventError::Json(_))
    ));
    // No offset: read as UTC, as the Python original does (more in tests/wire_input.rs).
    let naive = ok.replace("+00:00", "");
    assert_eq!(Event::from_json(&naive).unwrap().to_json(), ok);
    let date_only = ok.replace("T10:30:45.123456+00:00", "");
    assert!(matches!(
        Event::from_json(&date_only),
        Err(EventError::InvalidTimestamp { .. })
    ));
    let bad_id = ok.replace("550e8400-e29b-41d4-a716-446655440000", "nope");
    assert!(matches!(
        Event::from_json(&bad_id),
        Err(EventError::InvalidId { .. })
    ));
    let array = ok.replace(r#""payload":{}"#, r#""payload":[]"#);
    assert!(matches!(
        Event::from_json(&array),
        Err(EventError::PayloadNotObject { .. })
    ));
    let blank = ok.replace(r#""event_type":"T""#, r#""event_type":"  ""#);
    assert!(matches!(
        Event::from_json(&blank),
        Err(EventError::EmptyEventType)
    ));
    // Another offset is converted to UTC.
    let plus2 = ok.replace("10:30:45.123456+00:00", "12:30:45.123456+02:00");
    assert!(
        Event::from_json(&plus2)
            .unwrap()
            .to_json()
            .contains("10:30:45.123456+00:00")
    );
}
