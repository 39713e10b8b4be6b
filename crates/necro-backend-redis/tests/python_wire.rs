//! Wire compatibility with the Python NecroStack, both ways, on the default group.

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
            Metadata::child_of(&root, &Metadata::default()),
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
