//! Malformed entries of every kind are dead-lettered with their reason and acked; the good
//! entries around them are delivered, in order.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::Duration;

use necro_core::{Backend, DeadLetterKind};
use serde_json::json;
use support::{Ctx, drain, event, pending_count, raw_xadd};

const TS: &str = "2024-01-15T10:30:45.123456+00:00";
const V4: &str = "6f1c2b1e-8a4e-4b8f-9a1d-2b3c4d5e6f70";

fn wire(id: &str, ts: &str, event_type: &str, payload: &serde_json::Value) -> String {
    format!(r#"{{"id":"{id}","timestamp":"{ts}","event_type":"{event_type}","payload":{payload}}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_entries_go_to_the_dlq_and_never_block_the_stream() {
    let Some(ctx) = Ctx::shared("malformed") else {
        return;
    };
    let backend = ctx.backend().await;
    let admin = ctx.admin().await;

    let v1 = "c232ab00-9414-11ec-b3c8-9f6bdeced846"; // a version 1 UUID
    let obj = json!({"k": 1});
    // (what, the entry's fields, a word the reason must contain)
    type Case = (&'static str, Vec<(&'static str, String)>, &'static str);
    let bad: Vec<Case> = vec![
        (
            "no event field",
            vec![("data", "hello".to_owned())],
            "no `event` field",
        ),
        (
            "not JSON",
            vec![("event", "{this is not json".to_owned())],
            "malformed",
        ),
        (
            "JSON but not an object",
            vec![("event", "[1,2,3]".to_owned())],
            "malformed",
        ),
        (
            "empty type",
            vec![("event", wire(V4, TS, "   ", &obj))],
            "empty",
        ),
        ("non-v4 id", vec![("event", wire(v1, TS, "X", &obj))], "v4"),
        (
            "id not a UUID",
            vec![("event", wire("nope", TS, "X", &obj))],
            "UUID",
        ),
        (
            "payload not an object",
            vec![("event", wire(V4, TS, "X", &json!([1, 2])))],
            "object",
        ),
        (
            "bad timestamp",
            vec![("event", wire(V4, "yesterday", "X", &obj))],
            "timestamp",
        ),
        (
            "missing field",
            vec![(
                "event",
                format!(r#"{{"id":"{V4}","event_type":"X","payload":{{}}}}"#),
            )],
            "timestamp",
        ),
    ];

    let good_before = event(1);
    raw_xadd(&admin, &ctx.stream, &[("event", &good_before.to_json())]).await;
    let mut bad_ids = Vec::new();
    for (_, fields, _) in &bad {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        bad_ids.push(raw_xadd(&admin, &ctx.stream, &fields).await);
    }
    let good_after = event(2);
    raw_xadd(&admin, &ctx.stream, &[("event", &good_after.to_json())]).await;

    let got = drain(&backend, 2, Duration::from_secs(5)).await;
    let events: Vec<_> = got.iter().map(|d| d.event.clone()).collect();
    assert_eq!(
        events,
        vec![good_before, good_after],
        "good entries delivered in order"
    );
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "bad ones acked too"
    );

    let dead = backend.dlq().list(100).await.unwrap();
    assert_eq!(dead.len(), bad.len());
    for ((name, fields, needle), (letter, id)) in bad.iter().zip(dead.iter().zip(&bad_ids)) {
        assert_eq!(
            letter.original_id.as_ref().map(|i| i.as_str()),
            Some(id.as_str()),
            "{name}"
        );
        assert_eq!(letter.kind, Some(DeadLetterKind::Malformed), "{name}");
        assert!(letter.reason.contains(needle), "{name}: {}", letter.reason);
        assert!(letter.event.is_none(), "{name}");
        let raw = fields
            .iter()
            .find(|(k, _)| *k == "event")
            .map_or("", |(_, v)| v.as_str());
        assert_eq!(letter.raw_event, raw, "{name}: the raw text is kept");
        let original: Vec<(Vec<u8>, Vec<u8>)> = fields
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(
            letter.original_fields(),
            Some(original),
            "{name}: every field is kept"
        );
    }
    let stats = backend.stats();
    assert_eq!(stats.malformed, bad.len() as u64);
    assert_eq!(stats.dead_lettered, bad.len() as u64);
    assert_eq!(stats.pulled, 2);

    // Replaying a malformed dead letter is refused with a typed error; skipped by replay_all.
    assert!(backend.dlq().replay(dead[0].id.as_str()).await.is_err());
    let report = backend.dlq().replay_all().await.unwrap();
    assert!(report.replayed.is_empty());
    assert_eq!(report.skipped.len(), bad.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_only_garbage_yields_empty_pulls_not_errors() {
    let Some(ctx) = Ctx::shared("garbage") else {
        return;
    };
    let backend = ctx.backend().await;
    let admin = ctx.admin().await;
    for i in 0..150 {
        raw_xadd(&admin, &ctx.stream, &[("event", &format!("garbage {i}"))]).await;
    }
    let mut pulls = 0;
    while backend.dlq().count().await.unwrap() < 150 && pulls < 20 {
        assert!(
            backend
                .pull(100, Duration::from_millis(50))
                .await
                .unwrap()
                .is_empty()
        );
        pulls += 1;
    }
    assert_eq!(backend.dlq().count().await.unwrap(), 150);
    backend.send(event(3)).await.unwrap();
    assert_eq!(
        drain(&backend, 1, Duration::from_secs(5)).await.len(),
        1,
        "the stream flows on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_field_that_is_not_utf8_is_dead_lettered() {
    use fred::interfaces::StreamsInterface;
    use fred::types::Value;
    let Some(ctx) = Ctx::shared("not_utf8") else {
        return;
    };
    let backend = ctx.backend().await;
    let admin = ctx.admin().await;
    let bytes = Value::Bytes(fred::bytes::Bytes::from_static(b"{\"id\":\"\xff\xfe\"}"));
    let _: String = admin
        .xadd(
            ctx.stream.as_str(),
            false,
            None::<()>,
            "*",
            vec![("event", bytes)],
        )
        .await
        .unwrap();
    backend.send(event(5)).await.unwrap();
    let got = drain(&backend, 1, Duration::from_secs(5)).await;
    assert_eq!(got[0].event.payload()["i"], json!(5));
    let dead = backend.dlq().list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, Some(DeadLetterKind::Malformed));
    assert!(
        dead[0].reason.starts_with("malformed entry"),
        "{}",
        dead[0].reason
    );
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}

/// The fields of every entry of a stream as raw bytes, oldest first.
async fn raw_entries(client: &fred::clients::Client, stream: &str) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    use fred::types::Value;
    let bytes = |v: &Value| v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
    let Value::Array(items) = support::cmd(client, "XRANGE", &[stream, "-", "+"]).await else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Array(parts) => match parts.get(1) {
                Some(Value::Array(flat)) => Some(
                    flat.chunks(2)
                        .map(|kv| (bytes(&kv[0]), kv.get(1).map(bytes).unwrap_or_default()))
                        .collect(),
                ),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Raw `XADD stream * field value ...` with values that need not be UTF-8.
async fn raw_xadd_bytes(client: &fred::clients::Client, stream: &str, fields: &[(&str, &[u8])]) {
    use fred::interfaces::StreamsInterface;
    use fred::types::Value;
    let fields: Vec<(String, Value)> = fields
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                Value::Bytes(fred::bytes::Bytes::copy_from_slice(v)),
            )
        })
        .collect();
    let _: String = client
        .xadd(stream, false, None::<()>, "*", fields)
        .await
        .expect("raw XADD");
}

// Issue 10, item 10: bytes that are not UTF-8, in the `event` field or any other, survive the
// dead-letter queue exactly (they used to come out with replacement characters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_fields_keep_their_exact_bytes_in_the_dlq() {
    let Some(ctx) = Ctx::shared("binary_fields") else {
        return;
    };
    let backend = ctx.backend().await;
    let admin = ctx.admin().await;
    let all_bytes: Vec<u8> = (0..=255).collect();
    let original: Vec<(&str, &[u8])> = vec![
        ("event", b"{\"id\":\"\xff\xfe\"}"),
        ("note", "caf\u{e9} \"quoted\"".as_bytes()),
        ("blob", &all_bytes),
    ];
    raw_xadd_bytes(&admin, &ctx.stream, &original).await;
    backend.send(event(5)).await.unwrap();
    assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);

    // Nothing in the stored dead letter is a replacement character: no byte was lost.
    let stored = raw_entries(&admin, &ctx.dlq()).await;
    assert_eq!(stored.len(), 1);
    for (k, v) in &stored[0] {
        assert!(
            !String::from_utf8_lossy(v).contains('\u{fffd}'),
            "field {} holds replacement characters",
            String::from_utf8_lossy(k)
        );
    }

    let dead = backend.dlq().list(10).await.unwrap();
    assert_eq!(dead[0].kind, Some(DeadLetterKind::Malformed));
    let expected: Vec<(Vec<u8>, Vec<u8>)> = original
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
        .collect();
    assert_eq!(
        dead[0].original_fields(),
        Some(expected),
        "decoded byte for byte"
    );
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}

// Issue 10, item 11: a big garbage entry is kept once in its dead letter, not twice (`event`
// and again inside `fields`), and can still be inspected in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_garbage_entry_is_kept_once_in_the_dlq() {
    let Some(ctx) = Ctx::shared("big_garbage") else {
        return;
    };
    let backend = ctx.backend().await;
    let admin = ctx.admin().await;
    let garbage = "not json, just noise ".repeat(2_000_000 / 21);
    let original = [("event", garbage.as_str()), ("source", "fuzzer")];
    raw_xadd(&admin, &ctx.stream, &original).await;
    backend.send(event(6)).await.unwrap();
    assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);

    let size = |fields: &[(Vec<u8>, Vec<u8>)]| {
        fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    };
    let original_size: usize = original.iter().map(|(k, v)| k.len() + v.len()).sum();
    let stored = raw_entries(&admin, &ctx.dlq()).await;
    assert_eq!(stored.len(), 1);
    let stored_size = size(&stored[0]);
    assert!(
        (stored_size as f64) < 1.2 * original_size as f64,
        "the dead letter holds {stored_size} bytes for an entry of {original_size}"
    );

    let dead = backend.dlq().list(10).await.unwrap();
    assert_eq!(dead[0].raw_event, garbage, "the raw text is kept");
    assert!(
        dead[0].reason.starts_with("malformed entry"),
        "{}",
        dead[0].reason
    );
    let expected: Vec<(Vec<u8>, Vec<u8>)> = original
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(dead[0].original_fields(), Some(expected));
    assert!(backend.dlq().replay(dead[0].id.as_str()).await.is_err());
    assert_eq!(backend.dlq().replay_all().await.unwrap().skipped.len(), 1);
}
