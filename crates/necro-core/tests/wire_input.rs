//! What an event read from another producer (the Python NecroStack above all) turns into:
//! the payload is kept as written (only insignificant whitespace goes), and everything a
//! parsed payload could not hold is refused with a typed error.
use std::process::Command;

use necro_core::{Event, EventError, MAX_PAYLOAD_DEPTH, Payload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::macros::datetime;
use uuid::Uuid;

const ID: &str = "3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c";
const TS: &str = "2024-01-15T10:30:45.123456+00:00";

/// A whole event in compact form around `payload` (any text).
fn wire(payload: &str) -> String {
    format!(r#"{{"id":"{ID}","timestamp":"{TS}","event_type":"T","payload":{payload}}}"#)
}

/// An event with the given id.
fn wire_id(id: &str) -> String {
    format!(r#"{{"id":"{id}","timestamp":"{TS}","event_type":"T","payload":{{}}}}"#)
}

/// An event with the given timestamp.
fn wire_ts(ts: &str) -> String {
    format!(r#"{{"id":"{ID}","timestamp":"{ts}","event_type":"T","payload":{{}}}}"#)
}

/// Every way an event is read from text: `from_json`, `from_json_slice`, serde.
fn read_all_ways(text: &str) -> [Result<Event, String>; 3] {
    [
        Event::from_json(text).map_err(|e| format!("{e:?}")),
        Event::from_json_slice(text.as_bytes()).map_err(|e| format!("{e:?}")),
        serde_json::from_str::<Event>(text).map_err(|e| e.to_string()),
    ]
}

// ---- item 1: payload depth ----------------------------------------------------------------

/// A payload object `depth` levels deep, alternating objects and arrays.
fn nested(depth: usize) -> Value {
    assert!(depth >= 1);
    let mut v = json!(1);
    for level in (2..=depth).rev() {
        v = if level % 2 == 0 {
            json!([v])
        } else {
            json!({ "k": v })
        };
    }
    json!({ "root": v })
}

/// The same as text, built without recursion (so any depth is fine).
fn nested_text(depth: usize) -> String {
    let mut open = String::from("{\"root\":");
    let mut close = String::new();
    for level in (2..=depth).rev() {
        close.push(if level % 2 == 0 { ']' } else { '}' });
    }
    close.push('}');
    for level in 2..=depth {
        open.push_str(if level % 2 == 0 { "[" } else { "{\"k\":" });
    }
    format!("{open}1{close}")
}

#[derive(Serialize, Deserialize)]
struct Deep {
    root: Value,
}
impl Payload for Deep {
    const EVENT_TYPE: &'static str = "DEEP";
}

fn is_too_deep(r: &Result<Event, EventError>) -> bool {
    matches!(r, Err(EventError::PayloadTooDeep { limit }) if *limit == MAX_PAYLOAD_DEPTH)
}

#[test]
fn nested_text_matches_nested_value() {
    for depth in [1, 2, 3, 7] {
        assert_eq!(nested_text(depth), nested(depth).to_string());
    }
}

#[test]
fn payload_at_the_depth_limit_is_kept_whole_by_every_constructor() {
    let value = nested(MAX_PAYLOAD_DEPTH);
    let map = value.as_object().unwrap().clone();
    let built = [
        Event::new("T", value.clone()).unwrap(),
        Event::from_map("T", map.clone()).unwrap(),
        Event::from_parts(
            Uuid::new_v4(),
            time::OffsetDateTime::now_utc(),
            "T",
            value.clone(),
        )
        .unwrap(),
        Event::from_payload(&Deep {
            root: value["root"].clone(),
        })
        .unwrap(),
    ];
    for ev in &built {
        assert_eq!(
            ev.payload(),
            &map,
            "the parsed payload is the whole payload"
        );
    }
    let text = wire(&nested_text(MAX_PAYLOAD_DEPTH));
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
    for input in [&text, &pretty] {
        for ev in read_all_ways(input) {
            let ev = ev.unwrap();
            assert_eq!(ev.payload(), &map);
            assert_eq!(ev.to_json(), text);
        }
    }
}

#[test]
fn payload_beyond_the_depth_limit_is_refused_by_every_constructor() {
    let value = nested(MAX_PAYLOAD_DEPTH + 1);
    let map = value.as_object().unwrap().clone();
    assert!(is_too_deep(&Event::new("T", value.clone())));
    assert!(is_too_deep(&Event::from_map("T", map)));
    assert!(is_too_deep(&Event::from_parts(
        Uuid::new_v4(),
        time::OffsetDateTime::now_utc(),
        "T",
        value.clone()
    )));
    assert!(is_too_deep(&Event::from_payload(&Deep {
        root: value["root"].clone(),
    })));
    // Just beyond, well beyond serde_json's own limit of 128, and far beyond.
    for depth in [MAX_PAYLOAD_DEPTH + 1, 128, 129, 100_000] {
        let text = wire(&nested_text(depth));
        assert!(is_too_deep(&Event::from_json(&text)), "depth {depth}");
        assert!(
            is_too_deep(&Event::from_json_slice(text.as_bytes())),
            "{depth}"
        );
        let err = serde_json::from_str::<Event>(&text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("levels deep"), "{depth}: {err}");
        let spaced = text.replace('[', "[ ").replace(",\"k\":", ", \"k\" :");
        assert!(
            is_too_deep(&Event::from_json(&spaced)),
            "spaced, depth {depth}"
        );
    }
}

#[test]
fn numbers_a_parsed_payload_cannot_hold_are_refused() {
    let huge_int = format!("1{}", "0".repeat(309)); // > f64::MAX
    for number in ["1e400", "-1e400", "1E+309", "2.5e308", huge_int.as_str()] {
        let text = wire(&format!(r#"{{"x":{number}}}"#));
        let r = Event::from_json(&text);
        assert!(
            matches!(&r, Err(EventError::NumberOutOfRange { number: n }) if number.starts_with(n.as_str()) && n.len() == number.len().min(64)),
            "{number}: {r:?}"
        );
        let spaced = wire(&format!(r#"{{"x": [{number}]}}"#));
        assert!(
            matches!(
                Event::from_json(&spaced),
                Err(EventError::NumberOutOfRange { .. })
            ),
            "{number} spaced"
        );
    }
    // The largest finite ones, tiny ones and big integers are fine and parse.
    let max_int = format!("1{}", "0".repeat(308));
    for number in [
        "1e308",
        "-1.7976931348623157e308",
        "1e-400",
        max_int.as_str(),
    ] {
        let ev = Event::from_json(&wire(&format!(r#"{{"x":{number}}}"#))).unwrap();
        assert!(ev.payload()["x"].is_number(), "{number}");
    }
}

// ---- item 2: id spellings -----------------------------------------------------------------

#[test]
fn only_the_hyphenated_id_form_is_accepted() {
    let simple = ID.replace('-', "");
    let braced = format!("{{{ID}}}");
    let urn = format!("urn:uuid:{ID}");
    for id in [simple, braced, urn, format!("{{{}}}", ID.to_uppercase())] {
        for r in read_all_ways(&wire_id(&id)) {
            let err = r.unwrap_err();
            assert!(
                err.contains("IdNotCanonical") || err.contains("8-4-4-4-12"),
                "{id}: {err}"
            );
        }
        assert!(
            matches!(Event::from_json(&wire_id(&id)), Err(EventError::IdNotCanonical { value }) if value == id),
            "{id}"
        );
    }
    // Either case; written back in lowercase, as Python's str(uuid.UUID(...)) does.
    let mixed = "3F2B8C1A-5d4e-4F6A-8b7c-9D0E1F2A3B4C";
    for id in [ID.to_uppercase().as_str(), mixed, ID] {
        for r in read_all_ways(&wire_id(id)) {
            let ev = r.unwrap();
            assert_eq!(ev.id().to_string(), ID);
            assert_eq!(ev.to_json(), wire_id(ID));
        }
    }
    // Hyphens in the wrong places are not a UUID at all.
    let moved = "3f2b8c1a5-d4e-4f6a-8b7c-9d0e1f2a3b4c";
    assert!(matches!(
        Event::from_json(&wire_id(moved)),
        Err(EventError::InvalidId { .. })
    ));
}

// ---- item 3: Python's json.dumps output is kept as written ---------------------------------

/// `json.dumps(event)` with Python's defaults (`", "` and `": "` separators, `ensure_ascii`),
/// the payload keys in insertion order (not sorted), byte for byte.
const PYTHON_DUMPS: &str = r#"{"id": "3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c", "timestamp": "2024-01-15T10:30:45.123456+00:00", "event_type": "ORDER_PLACED", "payload": {"zeta": 1, "alpha": {"nested": [1, [2, {"k": "v"}], []], "empty": {}}, "big": 18446744073709551617, "neg_big": -98765432109876543210, "float": 0.1, "exp": 1e+300, "caf\u00e9": "na\u00efve \ud83d\ude00", "quote": "a \"b\" c: d, e", "tab": "x\ty", "esc": "\\ud800 is text here"}}"#;
/// The same with the whitespace outside strings removed, and nothing else changed.
const PYTHON_COMPACTED: &str = r#"{"id":"3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"ORDER_PLACED","payload":{"zeta":1,"alpha":{"nested":[1,[2,{"k":"v"}],[]],"empty":{}},"big":18446744073709551617,"neg_big":-98765432109876543210,"float":0.1,"exp":1e+300,"caf\u00e9":"na\u00efve \ud83d\ude00","quote":"a \"b\" c: d, e","tab":"x\ty","esc":"\\ud800 is text here"}}"#;

/// Builds [`PYTHON_DUMPS`] with a real `json.dumps`, when there is a python3.
const PYTHON_WRITE: &str = r#"
import json
payload = {"zeta": 1, "alpha": {"nested": [1, [2, {"k": "v"}], []], "empty": {}},
           "big": 18446744073709551617, "neg_big": -98765432109876543210, "float": 0.1,
           "exp": 1e300, "caf\u00e9": "na\u00efve \U0001F600", "quote": 'a "b" c: d, e',
           "tab": "x\ty", "esc": "\\ud800 is text here"}
print(json.dumps({"id": "3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c",
                  "timestamp": "2024-01-15T10:30:45.123456+00:00",
                  "event_type": "ORDER_PLACED", "payload": payload}), end="")
"#;

#[test]
fn the_literal_is_what_python_writes() {
    match Command::new("python3").arg("-c").arg(PYTHON_WRITE).output() {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8(out.stdout).unwrap(), PYTHON_DUMPS);
        }
        _ => eprintln!("SKIPPED: no working python3 to check the literal against"),
    }
}

#[derive(Deserialize)]
struct BigInts {
    big: u128,
    neg_big: i128,
}

#[test]
fn python_dumps_output_is_compacted_without_changing_content() {
    let payload_start = PYTHON_COMPACTED.find(r#""payload":"#).unwrap() + 10;
    let compact_payload = &PYTHON_COMPACTED[payload_start..PYTHON_COMPACTED.len() - 1];
    for ev in read_all_ways(PYTHON_DUMPS) {
        let ev = ev.unwrap();
        assert_eq!(ev.payload_json(), compact_payload, "the payload as written");
        assert_eq!(ev.payload_size(), compact_payload.len());
        assert_eq!(
            ev.to_json(),
            PYTHON_COMPACTED,
            "re-encodes to the same content"
        );
        assert_eq!(serde_json::to_string(&ev).unwrap(), PYTHON_COMPACTED);
        // The parsed view: keys as a map, escapes decoded.
        assert_eq!(ev.payload()["café"], "naïve 😀");
        assert_eq!(ev.payload()["quote"], r#"a "b" c: d, e"#);
        assert_eq!(ev.payload()["esc"], r"\ud800 is text here");
        // Integers beyond 64 bits decode exactly into 128-bit fields.
        let big: BigInts = ev.decode_as().unwrap();
        assert_eq!(big.big, 18_446_744_073_709_551_617);
        assert_eq!(big.neg_big, -98_765_432_109_876_543_210);
    }
    // Already compact input is kept as it is, too.
    let ev = Event::from_json(PYTHON_COMPACTED).unwrap();
    assert_eq!(ev.to_json(), PYTHON_COMPACTED);
}

#[test]
fn whitespace_of_every_kind_between_tokens_is_stripped() {
    let text = "{\"id\":\"3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c\",\"timestamp\":\"2024-01-15T10:30:45.123456+00:00\",\"event_type\":\"T\",\"payload\": \t\r\n{ \"a\" :\n[ 1 ,\t2 , { } , [ ] ] ,\r\n \"b\" : \"  \\\" \\n \" }\n}";
    let ev = Event::from_json(text).unwrap();
    assert_eq!(ev.payload_json(), r#"{"a":[1,2,{},[]],"b":"  \" \n "}"#);
}

// ---- item 4: timestamps, non-finite numbers, lone surrogates -------------------------------

#[test]
fn a_timestamp_without_an_offset_is_read_as_utc() {
    for (ts, expected) in [
        (
            "2024-01-15T10:30:45.123456",
            "2024-01-15T10:30:45.123456+00:00",
        ),
        ("2024-01-15T10:30:45", "2024-01-15T10:30:45.000000+00:00"),
        ("2024-01-15T10:30:45.1", "2024-01-15T10:30:45.100000+00:00"),
        (
            "2024-01-15T10:30:45.123456789",
            "2024-01-15T10:30:45.123456+00:00",
        ),
    ] {
        for r in read_all_ways(&wire_ts(ts)) {
            let ev = r.unwrap();
            assert_eq!(ev.timestamp_rfc3339(), expected, "{ts}");
            assert_eq!(ev.to_json(), wire_ts(expected));
        }
    }
    let ev = Event::from_json(&wire_ts("2024-01-15T10:30:45.123456")).unwrap();
    assert_eq!(ev.timestamp(), datetime!(2024-01-15 10:30:45.123456 UTC));
    for bad in [
        "2024-01-15",
        "2024-01-15T10:30",
        "2024-13-15T10:30:45",
        "yesterday",
    ] {
        assert!(
            matches!(
                Event::from_json(&wire_ts(bad)),
                Err(EventError::InvalidTimestamp { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn non_finite_numbers_python_writes_are_refused_by_name() {
    for token in ["NaN", "Infinity", "-Infinity"] {
        for text in [
            wire(&format!(r#"{{"x":{token}}}"#)),
            wire(&format!(r#"{{"a": 1, "x": [1, {token}]}}"#)),
            wire(&format!("{{\"a\": 1,\n  \"é\": {token}}}")),
        ] {
            let r = Event::from_json(&text);
            assert!(
                matches!(&r, Err(EventError::NonFiniteNumber { token: t, .. }) if *t == token),
                "{text}: {r:?}"
            );
            let r = Event::from_json_slice(text.as_bytes());
            assert!(
                matches!(&r, Err(EventError::NonFiniteNumber { token: t, .. }) if *t == token),
                "{text}: {r:?}"
            );
            // serde's own path has no text to point into: a plain JSON error.
            assert!(serde_json::from_str::<Event>(&text).is_err());
        }
    }
    // Other malformed JSON stays a plain JSON error.
    assert!(matches!(
        Event::from_json(&wire(r#"{"x":Nope}"#)),
        Err(EventError::Json(_))
    ));
}

#[test]
fn lone_surrogate_escapes_are_refused() {
    for (string, escape) in [
        (r#""\ud800""#, r"\ud800"),
        (r#""\uDBFF""#, r"\uDBFF"),
        (r#""\udc00""#, r"\udc00"),
        (r#""a\ud800b""#, r"\ud800"),
        (r#""\ud800\u0041""#, r"\ud800"),
        (r#""\ud800\ud800""#, r"\ud800"),
        (r#""\ude00\ud83d""#, r"\ude00"),
        (r#""\ud83d\ude00\udc00""#, r"\udc00"),
        (r#""\\\ud800""#, r"\ud800"),
    ] {
        for payload in [
            format!(r#"{{"x":{string}}}"#),
            format!(r#"{{{string}:1}}"#),
            format!(r#"{{"x": [1, {string}]}}"#),
        ] {
            let text = wire(&payload);
            for r in [
                Event::from_json(&text),
                Event::from_json_slice(text.as_bytes()),
            ] {
                assert!(
                    matches!(&r, Err(EventError::LoneSurrogate { escape: e }) if e == escape),
                    "{payload}: {r:?}"
                );
            }
            assert!(serde_json::from_str::<Event>(&text).is_err(), "{payload}");
        }
    }
    // A pair is one character; an escaped backslash before `u` is no escape at all.
    for string in [r#""\ud83d\ude00""#, r#""\\ud800""#, r#""\\\\ud800""#] {
        let ev = Event::from_json(&wire(&format!(r#"{{"x":{string}}}"#))).unwrap();
        assert!(ev.payload()["x"].is_string(), "{string}");
    }
    // Outside the payload, serde_json itself refuses them.
    let text =
        format!(r#"{{"id":"{ID}","timestamp":"{TS}","event_type":"\ud800","payload":{{}}}}"#);
    assert!(Event::from_json(&text).is_err());
}
