//! What a Rust consumer makes of entries other producers (the Python NecroStack above all)
//! write: their content is kept byte for byte (only insignificant whitespace goes), and what
//! an event cannot hold is dead-lettered with a reason that says what it was.

mod support;

use std::process::Command;
use std::time::Duration;

use necro_core::{Backend, DeadLetterKind, MAX_PAYLOAD_DEPTH};
use serde_json::json;
use support::{Ctx, drain, entries, event, field, pending_count, raw_xadd};

const V4: &str = "6f1c2b1e-8a4e-4b8f-9a1d-2b3c4d5e6f70";
const TS: &str = "2024-01-15T10:30:45.123456+00:00";

fn wire(id: &str, ts: &str, payload: &str) -> String {
    format!(r#"{{"id":"{id}","timestamp":"{ts}","event_type":"X","payload":{payload}}}"#)
}

/// A payload `depth` levels deep (the payload object is level 1).
fn nested(depth: usize) -> String {
    format!(
        "{{\"k\":{}1{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

/// `json.dumps` output of an order, byte for byte as Python writes it: `", "` and `": "`
/// separators, `ensure_ascii` escapes, keys in insertion order, an integer beyond u64.
const PYTHON_DUMPS: &str = r#"{"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "timestamp": "2024-01-15T10:30:45.123456+00:00", "event_type": "ORDER_PLACED", "payload": {"order_id": 18446744073709551617, "customer": "Zo\u00eb \u6771\u4eac", "lines": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B, 2", "qty": 1, "price": 1e+300}], "notes": {"z": null, "a": true}, "emoji": "\ud83d\ude00"}}"#;
/// The same, whitespace outside strings removed and nothing else.
const PYTHON_COMPACTED: &str = r#"{"id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"ORDER_PLACED","payload":{"order_id":18446744073709551617,"customer":"Zo\u00eb \u6771\u4eac","lines":[{"sku":"A-1","qty":2,"price":9.99},{"sku":"B, 2","qty":1,"price":1e+300}],"notes":{"z":null,"a":true},"emoji":"\ud83d\ude00"}}"#;

const PYTHON_WRITE: &str = r#"
import json
print(json.dumps({"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
                  "timestamp": "2024-01-15T10:30:45.123456+00:00", "event_type": "ORDER_PLACED",
                  "payload": {"order_id": 18446744073709551617, "customer": "Zo\u00eb \u6771\u4eac",
                              "lines": [{"sku": "A-1", "qty": 2, "price": 9.99},
                                        {"sku": "B, 2", "qty": 1, "price": 1e300}],
                              "notes": {"z": None, "a": True}, "emoji": "\U0001F600"}}), end="")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_written_entries_are_kept_byte_for_byte() {
    let Some(ctx) = Ctx::shared("fidelity_python") else {
        return;
    };
    let admin = ctx.admin().await;
    let mut written = vec![PYTHON_DUMPS.to_owned()];
    match Command::new("python3").arg("-c").arg(PYTHON_WRITE).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(text, PYTHON_DUMPS, "the literal is what json.dumps writes");
            written.push(text);
        }
        _ => eprintln!("SKIPPED the python3 half: no working python3 on PATH"),
    }
    for text in &written {
        raw_xadd(&admin, &ctx.stream, &[("event", text)]).await;
    }
    let backend = ctx.backend().await;
    let got = drain(&backend, written.len(), Duration::from_secs(5)).await;
    assert_eq!(got.len(), written.len());
    let compact_payload = &PYTHON_COMPACTED
        [PYTHON_COMPACTED.find(r#""payload":"#).unwrap() + 10..PYTHON_COMPACTED.len() - 1];
    for d in &got {
        assert_eq!(d.event.payload_json(), compact_payload);
        assert_eq!(d.event.payload_size(), compact_payload.len());
        assert_eq!(d.event.to_json(), PYTHON_COMPACTED);
    }
    assert!(backend.dlq().list(10).await.unwrap().is_empty());

    // Sent on by a Rust producer, the entry holds the same content.
    let before = entries(&admin, &ctx.stream).await.len();
    backend.send(got[0].event.clone()).await.unwrap();
    let after = entries(&admin, &ctx.stream).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(field(&after[before].1, "event"), Some(PYTHON_COMPACTED));
    assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_python_accepts_are_read() {
    let Some(ctx) = Ctx::shared("fidelity_accepted") else {
        return;
    };
    let admin = ctx.admin().await;
    let upper = V4.to_uppercase();
    let at_limit = nested(MAX_PAYLOAD_DEPTH);
    let accepted = [
        wire(V4, "2024-01-15T10:30:45.123456", "{}"), // naive: read as UTC
        wire(V4, "2024-01-15T10:30:45", "{}"),
        wire(&upper, TS, "{}"), // upper case: normalised to lower, as Python does
        wire(V4, TS, &at_limit),
    ];
    for text in &accepted {
        raw_xadd(&admin, &ctx.stream, &[("event", text)]).await;
    }
    let backend = ctx.backend().await;
    let got = drain(&backend, accepted.len(), Duration::from_secs(5)).await;
    assert_eq!(got.len(), accepted.len());
    assert!(backend.dlq().list(10).await.unwrap().is_empty());
    assert_eq!(got[0].event.to_json(), wire(V4, TS, "{}"));
    assert_eq!(
        got[1].event.timestamp_rfc3339(),
        "2024-01-15T10:30:45.000000+00:00"
    );
    assert_eq!(got[2].event.id().to_string(), V4);
    assert_eq!(got[2].event.to_json(), wire(V4, TS, "{}"));
    let deep = &got[3].event;
    assert_eq!(deep.payload_json(), at_limit);
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&at_limit).unwrap();
    assert_eq!(deep.payload(), &expected, "the whole payload, parsed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_event_cannot_hold_is_dead_lettered_with_its_reason() {
    let Some(ctx) = Ctx::shared("fidelity_refused") else {
        return;
    };
    let admin = ctx.admin().await;
    let simple = V4.replace('-', "");
    let braced = format!("{{{V4}}}");
    let urn = format!("urn:uuid:{V4}");
    // (what, the event field, words the reason must contain)
    let too_deep = format!("{MAX_PAYLOAD_DEPTH} levels deep");
    let refused: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "one level too deep",
            wire(V4, TS, &nested(MAX_PAYLOAD_DEPTH + 1)),
            vec![&too_deep],
        ),
        (
            "beyond serde_json's limit",
            wire(V4, TS, &nested(200)),
            vec!["levels deep"],
        ),
        (
            "simple id",
            wire(&simple, TS, "{}"),
            vec!["8-4-4-4-12", &simple],
        ),
        (
            "braced id",
            wire(&braced, TS, "{}"),
            vec!["8-4-4-4-12", "{"],
        ),
        (
            "urn id",
            wire(&urn, TS, "{}"),
            vec!["8-4-4-4-12", "urn:uuid:"],
        ),
        (
            "NaN",
            wire(V4, TS, r#"{"x": NaN}"#),
            vec!["NaN", "non-finite"],
        ),
        (
            "Infinity",
            wire(V4, TS, r#"{"x": Infinity}"#),
            vec!["Infinity", "non-finite"],
        ),
        (
            "-Infinity",
            wire(V4, TS, r#"{"x": [1, -Infinity]}"#),
            vec!["-Infinity", "non-finite"],
        ),
        (
            "lone surrogate",
            wire(V4, TS, r#"{"x": "\ud800"}"#),
            vec![r"\ud800", "lone UTF-16 surrogate"],
        ),
        (
            "compact lone surrogate",
            wire(V4, TS, r#"{"x":"a\udfffb"}"#),
            vec![r"\udfff", "lone UTF-16 surrogate"],
        ),
        (
            "number beyond f64",
            wire(V4, TS, r#"{"x":1e400}"#),
            vec!["1e400", "range"],
        ),
    ];
    let mut ids = Vec::new();
    for (_, text, _) in &refused {
        ids.push(raw_xadd(&admin, &ctx.stream, &[("event", text)]).await);
    }
    let last = event(1);
    raw_xadd(&admin, &ctx.stream, &[("event", &last.to_json())]).await;

    let backend = ctx.backend().await;
    let got = drain(&backend, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, last);
    assert_eq!(got[0].event.payload()["i"], json!(1));
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);

    let dead = backend.dlq().list(100).await.unwrap();
    assert_eq!(dead.len(), refused.len());
    for ((what, text, words), (letter, id)) in refused.iter().zip(dead.iter().zip(&ids)) {
        assert_eq!(
            letter.original_id.as_ref().map(|i| i.as_str()),
            Some(id.as_str())
        );
        assert_eq!(letter.kind, Some(DeadLetterKind::Malformed), "{what}");
        for word in words {
            assert!(letter.reason.contains(word), "{what}: {}", letter.reason);
        }
        assert_eq!(
            &letter.raw_event, text,
            "{what}: the entry is kept as written"
        );
        assert!(letter.event.is_none(), "{what}");
    }
}
