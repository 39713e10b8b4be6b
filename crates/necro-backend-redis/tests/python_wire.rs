//! Wire compatibility with the Python NecroStack, both ways, on the default group.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::process::Command;
use std::time::Duration;

use necro_core::{Backend, Envelope, Event, Metadata};
use serde_json::json;
use support::{Ctx, drain, entries, field, raw_xadd};

/// Exactly what the Python `RedisBackend` writes (the brief's example).
const PYTHON_COMPACT: &str = r#"{"id":"3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"ORDER_PLACED","payload":{"order_id":123}}"#;
/// `json.dumps` with its default separators, and a timestamp without microseconds (what
/// Python's `isoformat()` prints when they are zero).
const PYTHON_SPACED: &str = r#"{"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "timestamp": "2024-01-15T10:30:45+00:00", "event_type": "ORDER_SHIPPED", "payload": {"order_id": 123, "carrier": "DHL", "tags": ["a", "b"]}}"#;

/// What a Python consumer does with the `event` field, run by a real Python if there is one.
const PYTHON_CHECK: &str = r#"
import datetime, json, sys, uuid
for text in sys.argv[1:]:
    d = json.loads(text)
    assert set(d) == {"id", "timestamp", "event_type", "payload"}, d
    assert uuid.UUID(d["id"]).version == 4
    ts = datetime.datetime.fromisoformat(d["timestamp"])
    assert ts.utcoffset() == datetime.timedelta(0), ts
    assert isinstance(d["event_type"], str) and d["event_type"].strip() == d["event_type"] != ""
    assert isinstance(d["payload"], dict)
print("ok")
"#;

fn python_accepts(texts: &[&str]) -> Option<bool> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CHECK)
        .args(texts)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("python3 said: {}", String::from_utf8_lossy(&out.stderr));
    }
    Some(out.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_written_by_python_are_consumed() {
    let Some(ctx) = Ctx::shared("python_in") else {
        return;
    };
    let admin = ctx.admin().await;
    // XADD <stream> * event '<json>', byte for byte.
    raw_xadd(&admin, &ctx.stream, &[("event", PYTHON_COMPACT)]).await;
    raw_xadd(&admin, &ctx.stream, &[("event", PYTHON_SPACED)]).await;

    let backend = ctx.backend().await; // default group "necrostack"
    assert_eq!(backend.config().consumer_group(), "necrostack");
    let got = drain(&backend, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);

    let a = &got[0].event;
    assert_eq!(a.id().to_string(), "3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c");
    assert_eq!(a.event_type(), "ORDER_PLACED");
    assert_eq!(a.timestamp_rfc3339(), "2024-01-15T10:30:45.123456+00:00");
    assert_eq!(a.payload()["order_id"], json!(123));
    assert_eq!(a.to_json(), PYTHON_COMPACT, "re-encodes to the same bytes");
    assert_eq!(got[0].meta, Metadata::default());

    let b = &got[1].event;
    assert_eq!(b.event_type(), "ORDER_SHIPPED");
    assert_eq!(b.payload()["tags"], json!(["a", "b"]));
    assert_eq!(
        b.timestamp().unix_timestamp(),
        a.timestamp().unix_timestamp()
    );
    assert!(backend.dlq().list(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_written_by_rust_parse_in_the_python_form() {
    let Some(ctx) = Ctx::shared("python_out") else {
        return;
    };
    let backend = ctx.backend().await;
    let root = Event::new(
        "ORDER_PLACED",
        json!({"order_id": 123, "note": "caf\u{e9} \u{1f600}"}),
    )
    .unwrap();
    let child = Event::new("ORDER_PAID", json!({})).unwrap();
    backend.send(root.clone()).await.unwrap();
    backend
        .enqueue(vec![Envelope::with_meta(
            child.clone(),
            Metadata::child_of(&root, &Metadata::default())
                .with_header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .unwrap()
                .with_header("tenant", "acme")
                .unwrap(),
        )])
        .await
        .unwrap();

    let admin = ctx.admin().await;
    let written = entries(&admin, &ctx.stream).await;
    assert_eq!(written.len(), 2);
    let (_, root_fields) = &written[0];
    let names: Vec<&str> = root_fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["event"], "a root event is exactly the Python entry");
    let (_, child_fields) = &written[1];
    assert_eq!(
        field(child_fields, "correlation_id"),
        Some(root.id().to_string().as_str())
    );
    assert_eq!(
        field(child_fields, "causation_id"),
        Some(root.id().to_string().as_str())
    );
    // Headers are extra fields too, beside the four-field `event` JSON the Python reads.
    assert_eq!(field(child_fields, "header:tenant"), Some("acme"));
    let names: Vec<&str> = child_fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "event",
            "correlation_id",
            "causation_id",
            "header:traceparent",
            "header:tenant"
        ]
    );

    let texts: Vec<&str> = written
        .iter()
        .map(|(_, f)| field(f, "event").unwrap())
        .collect();
    for text in &texts {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event_type", "id", "payload", "timestamp"]);
        let ts = obj["timestamp"].as_str().unwrap();
        // 2024-01-15T10:30:45.123456+00:00
        assert_eq!(ts.len(), 32, "{ts}");
        assert!(ts.ends_with("+00:00") && ts.as_bytes()[19] == b'.', "{ts}");
        assert!(obj["payload"].is_object());
    }
    assert_eq!(texts[0], root.to_json());
    match python_accepts(&texts) {
        Some(ok) => assert!(ok, "Python rejected the Rust wire form"),
        None => eprintln!("SKIPPED the python3 half: no python3 on PATH"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_carry_the_python_fields() {
    let Some(ctx) = Ctx::shared("python_dlq") else {
        return;
    };
    let backend = ctx.builder().max_retries(1).connect().await.unwrap();
    let ev = Event::new("X", json!({"a": 1})).unwrap();
    backend.send(ev.clone()).await.unwrap();
    let d = support::pull_n(&backend, 1, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    let original = d.token.clone();
    backend
        .nack(d, "handler exploded".to_owned())
        .await
        .unwrap();

    let admin = ctx.admin().await;
    let dead = entries(&admin, &ctx.dlq()).await;
    assert_eq!(dead.len(), 1);
    let f = &dead[0].1;
    assert_eq!(field(f, "original_id"), Some(original.as_str()));
    assert_eq!(field(f, "event"), Some(ev.to_json().as_str()));
    assert_eq!(field(f, "reason"), Some("handler exploded"));
    let failed_at = field(f, "failed_at").unwrap();
    assert!(
        failed_at.ends_with("+00:00") && failed_at.len() == 32,
        "{failed_at}"
    );
    if let Ok(out) = Command::new("python3")
        .arg("-c")
        .arg("import datetime, sys; datetime.datetime.fromisoformat(sys.argv[1])")
        .arg(failed_at)
        .output()
    {
        assert!(
            out.status.success(),
            "Python cannot read failed_at {failed_at}"
        );
    }
}

/// The payload `{"x": "<text>"}`.
fn text_event(text: &str) -> Event {
    Event::new("BIG", json!({ "x": text })).expect("within the Rust limit")
}

/// The `PythonCompatError` somewhere in an error's cause chain.
fn python_refusal(
    err: &necro_core::BackendError,
) -> Option<&necro_backend_redis::PythonCompatError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref() {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

async fn xlen(ctx: &Ctx) -> String {
    support::raw_command(&ctx.url, &["XLEN", &ctx.stream]).unwrap()
}

// Issue 10, item 5: 333,330 CJK characters are 999,998 bytes to Rust but 1,999,989 characters
// of `json.dumps` to Python, whose consumers dead-letter the event. `python_compatible(true)`
// refuses to write it, on every path that writes events; without it, it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_compatible_refuses_what_a_python_consumer_would_dead_letter() {
    use necro_backend_redis::PythonCompatError;
    use necro_core::{DeadLetter, DeadLetterKind, DeadLetterStore};
    let Some(ctx) = Ctx::shared("python_size") else {
        return;
    };
    let big = text_event(&"\u{4e2d}".repeat(333_330));
    assert_eq!(big.payload_size(), 999_998);
    assert_eq!(necro_backend_redis::python_payload_size(&big), 1_999_989);

    let strict = ctx
        .builder()
        .python_compatible(true)
        .connect()
        .await
        .unwrap();
    assert!(strict.config().python_compatible());
    let err = strict.send(big.clone()).await.unwrap_err();
    assert!(!err.is_transient() && !err.is_unreachable(), "{err:?}");
    match python_refusal(&err) {
        Some(PythonCompatError::PayloadTooLarge { id, size, max, .. }) => {
            assert_eq!((*id, *size, *max), (big.id(), 1_999_989, 1_000_000));
        }
        other => panic!("{other:?}: {err}"),
    }
    let text = necro_core::error_chain(&err);
    assert!(
        text.contains("Python") && text.contains("1999989"),
        "{text}"
    );
    // A batch with it is refused whole.
    let err = strict
        .enqueue(vec![
            Envelope::new(event_small()),
            Envelope::new(big.clone()),
        ])
        .await
        .unwrap_err();
    assert!(python_refusal(&err).is_some(), "{err}");
    assert_eq!(xlen(&ctx).await, ":0", "nothing was written");

    // A commit emitting it is refused, and its source stays pending.
    strict.send(event_small()).await.unwrap();
    let source = support::pull_n(&strict, 1, Duration::from_secs(5))
        .await
        .remove(0);
    let err = strict
        .commit(vec![Envelope::new(big.clone())], vec![source.token.clone()])
        .await
        .unwrap_err();
    assert!(python_refusal(&err).is_some(), "{err}");
    let admin = ctx.admin().await;
    assert_eq!(
        support::pending_count(&admin, &ctx.stream, "necrostack").await,
        1
    );
    strict.ack(vec![source.token]).await.unwrap();

    // Replaying it from the dead-letter queue is refused; the dead letter stays.
    let letter = DeadLetter::new(
        big.clone(),
        Metadata::default(),
        DeadLetterKind::EnqueueFailed,
        vec![],
        1,
    );
    strict.store(letter).await.unwrap();
    let dead = strict.dlq().list(1).await.unwrap().remove(0);
    let err = strict.dlq().replay(dead.id.as_str()).await.unwrap_err();
    assert!(python_refusal(&err).is_some(), "{err}");
    assert_eq!(strict.dlq().count().await.unwrap(), 1);
    assert_eq!(xlen(&ctx).await, ":1", "only the small source");

    // The default keeps the Rust measure: the event is written.
    let lenient = ctx.backend().await;
    assert!(!lenient.config().python_compatible());
    lenient.send(big).await.unwrap();
    assert_eq!(xlen(&ctx).await, ":2");
}

fn event_small() -> Event {
    Event::new("SMALL", json!({"k": 1})).unwrap()
}

// The limit is Python's: at most 1,000,000 characters of `json.dumps(payload)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_compatible_accepts_up_to_the_python_limit() {
    let Some(ctx) = Ctx::shared("python_limit") else {
        return;
    };
    let strict = ctx
        .builder()
        .python_compatible(true)
        .connect()
        .await
        .unwrap();
    // `{"x": "aaa…"}`: 9 characters around the text.
    let at_limit = text_event(&"a".repeat(999_991));
    let over = text_event(&"a".repeat(999_992));
    assert_eq!(
        necro_backend_redis::python_payload_size(&at_limit),
        1_000_000
    );
    assert_eq!(necro_backend_redis::python_payload_size(&over), 1_000_001);
    strict.send(at_limit).await.unwrap();
    assert!(python_refusal(&strict.send(over).await.unwrap_err()).is_some());
    assert_eq!(xlen(&ctx).await, ":1");
}

// The measure is `len(json.dumps(json.loads(payload)))`, checked against a real Python.
#[test]
fn the_python_measure_matches_python() {
    let payloads = [
        r#"{}"#,
        r#"{"a":1,"b":[1,2,{"c":null}],"d":true,"e":false,"f":[],"g":{}}"#,
        r#"{"t":"caf\u00e9 \ud83d\ude00 \u4e2d\u6587 \"q\" \\ \/ \b\f\n\r\t \u0001\u001f\u007f\u0080"}"#,
        "{\"raw\":\"café 😀 中文 \\u0041 \u{7f} \u{ffff} \u{10ffff}\"}",
        r#"{"f":[0.1,1e16,1e15,1.5e300,1e-5,0.0001,123.456,-0.0,100000.0,1E+2,2.5e-10,-1.25,5e-324,1.7976931348623157e308,9007199254740993.0]}"#,
        r#"{"i":[0,-0,-1,18446744073709551617,-99999999999999999999999]}"#,
        r#"{"dup":1,"nested":{"k":[["x",{"y":"z"}]]}}"#,
    ];
    // And random ones: any character, any finite float, integers of any size.
    let mut rng = fastrand::Rng::with_seed(10);
    let random: Vec<String> = (0..200)
        .map(|_| {
            let text: String = (0..rng.usize(0..40))
                .map(|_| match rng.u8(0..4) {
                    0 => rng.char('\u{0}'..='\u{7f}'),
                    1 => rng.char('\u{80}'..='\u{7ff}'),
                    2 => rng.char('\u{800}'..='\u{ffff}'),
                    _ => rng.char('\u{10000}'..='\u{10ffff}'),
                })
                .collect();
            let float = loop {
                let f = f64::from_bits(rng.u64(..));
                if f.is_finite() {
                    break f;
                }
            };
            let small = f64::from(rng.i32(..)) / f64::from(rng.u16(1..));
            let payload =
                json!({ "t": text, "f": [float, small], "i": rng.i64(..), "n": {"b": rng.bool()} });
            Event::new("R", payload).unwrap().payload_json().to_owned()
        })
        .collect();
    let payloads: Vec<&str> = payloads
        .iter()
        .copied()
        .chain(random.iter().map(String::as_str))
        .collect();
    let ours: Vec<usize> = payloads
        .iter()
        .map(|p| {
            let ev = Event::from_json(&format!(
                r#"{{"id":"3f2b8c1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"X","payload":{p}}}"#
            ))
            .unwrap_or_else(|e| panic!("{p}: {e}"));
            necro_backend_redis::python_payload_size(&ev)
        })
        .collect();
    let out = match Command::new("python3")
        .arg("-c")
        .arg("import json, sys\nfor p in sys.argv[1:]: print(len(json.dumps(json.loads(p))))")
        .args(&payloads)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED the python3 half: no python3 on PATH");
            return;
        }
        Err(e) => panic!("python3 did not run: {e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(ours, theirs);
}
