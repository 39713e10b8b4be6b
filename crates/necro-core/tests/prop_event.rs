//! Property tests for the event model: every valid event round-trips through JSON exactly;
//! every invalid input is rejected with the right typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use necro_core::{Event, EventError, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH};
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

/// Writes JSON the way Python's `json.dumps` does by default: `", "` and `": "`.
struct PythonSeparators;

impl serde_json::ser::Formatter for PythonSeparators {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

fn write_with<F: serde_json::ser::Formatter>(value: &Value, formatter: F) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).unwrap();
    String::from_utf8(out).unwrap()
}

/// Text of a payload `depth` levels deep.
fn nested_text(depth: usize) -> String {
    format!(
        "{{\"k\":{}0{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
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

    /// Whitespace between tokens, of any kind and amount, is all that reading removes.
    #[test]
    fn whitespace_is_all_that_reading_removes(p in payload(), indent in "[ \t\r\n]{0,3}") {
        let ev = Event::from_map("T", p).unwrap();
        let compact = ev.to_json();
        let value: Value = serde_json::from_str(&compact).unwrap();
        let python = write_with(&value, PythonSeparators);
        let pretty = write_with(
            &value,
            serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes()),
        );
        for text in [python, pretty] {
            let back = Event::from_json(&text).unwrap();
            prop_assert_eq!(back.to_json(), compact.clone());
            prop_assert_eq!(back.payload_json(), ev.payload_json());
            prop_assert_eq!(back.payload(), ev.payload());
        }
    }

    /// An id is read in either case and written back in lowercase; the other spellings
    /// `Uuid::parse_str` knows are refused.
    #[test]
    fn ids_are_read_in_either_case_and_only_hyphenated(upper in proptest::collection::vec(any::<bool>(), 36)) {
        let id = uuid::Uuid::new_v4();
        let lower = id.hyphenated().to_string();
        let spelled: String = lower
            .chars()
            .zip(&upper)
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let text = |id: &str| format!(r#"{{"id":"{id}","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"T","payload":{{}}}}"#);
        let ev = Event::from_json(&text(&spelled)).unwrap();
        prop_assert_eq!(ev.id(), id);
        prop_assert_eq!(ev.to_json(), text(&lower));
        for other in [
            spelled.replace('-', ""),
            format!("{{{spelled}}}"),
            format!("urn:uuid:{spelled}"),
        ] {
            let r = Event::from_json(&text(&other));
            prop_assert!(matches!(r, Err(EventError::IdNotCanonical { .. })), "{} accepted", other);
        }
    }

    /// Up to the depth limit a payload is kept whole; beyond it, refused: read or built.
    #[test]
    fn depth_limit_is_the_same_read_or_built(depth in 1usize..MAX_PAYLOAD_DEPTH + 8) {
        let payload = nested_text(depth);
        let text = format!(r#"{{"id":"550e8400-e29b-41d4-a716-446655440000","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"T","payload":{payload}}}"#);
        let read = Event::from_json(&text);
        let built = Event::new("T", serde_json::from_str::<Value>(&payload).unwrap());
        if depth <= MAX_PAYLOAD_DEPTH {
            let read = read.unwrap();
            prop_assert_eq!(read.payload_json(), payload.as_str());
            let built = built.unwrap();
            prop_assert_eq!(read.payload(), built.payload());
        } else {
            prop_assert!(matches!(read, Err(EventError::PayloadTooDeep { .. })), "read at depth {}", depth);
            prop_assert!(matches!(built, Err(EventError::PayloadTooDeep { .. })), "built at depth {}", depth);
        }
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

    /// Strings of escapes, surrogates among them: what is accepted parses whole, what is
    /// refused is refused with a typed error (never a panic).
    #[test]
    fn accepted_escapes_always_parse(parts in proptest::collection::vec(prop_oneof![
        Just("\\\\".to_owned()),
        Just("\\n".to_owned()),
        Just("\\\"".to_owned()),
        Just("a".to_owned()),
        Just(" ".to_owned()),
        Just("\\u00e9".to_owned()),
        "\\\\u[dD][89abAB][0-9a-f]{2}",
        "\\\\u[dD][c-fC-F][0-9a-f]{2}",
    ], 0..8), spaced in any::<bool>()) {
        let sep = if spaced { ", " } else { "," };
        let string = parts.concat();
        let payload = format!(r#"{{"{string}":1{sep}"k":"{string}"}}"#);
        let text = format!(r#"{{"id":"550e8400-e29b-41d4-a716-446655440000","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"T","payload":{payload}}}"#);
        let parsed = serde_json::from_str::<Map<String, Value>>(&payload);
        match Event::from_json(&text) {
            Ok(ev) => {
                let parsed = parsed.unwrap();
                prop_assert_eq!(ev.payload(), &parsed);
                prop_assert_eq!(ev.payload_json(), payload.replace(", \"k\"", ",\"k\""));
            }
            Err(EventError::LoneSurrogate { escape }) => {
                prop_assert!(parsed.is_err(), "{} refused, but serde_json reads it", escape);
            }
            Err(other) => prop_assert!(false, "{payload}: {other}"),
        }
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
