//! Resource bounds under hostile input (issue 17), against the shared Redis: an entry with
//! 5,000 fields, header fields past every bound, a payload nested past the depth limit, a
//! payload past the size limit, and a flood of 10,000 malformed entries, interleaved with good
//! events. Each bad entry is dead-lettered with its reason (bounded in size) or its bad header
//! fields are left out, the good events all arrive, every refusal is counted in a metric, and
//! the process's memory (VmRSS) stays bounded: the figures are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::{Duration, Instant};

use fred::interfaces::StreamsInterface;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;
use necro_core::telemetry::redis as names;
use necro_core::{Backend, DeadLetterKind, Headers};
use support::{Ctx, event};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A counter's value in a snapshot (taking a snapshot resets the debugging recorder's
/// counters, so one snapshot serves every read).
fn counter(snapshot: &Snapshot, name: &str, stream: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| {
            key.key().name() == name
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "stream" && l.value() == stream)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

async fn xadd(admin: &fred::clients::Client, stream: &str, fields: Vec<(String, String)>) {
    let _: String = admin
        .xadd(stream, false, None::<()>, "*", fields)
        .await
        .unwrap();
}

fn wire(payload: &str) -> String {
    format!(
        r#"{{"id":"{}","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"HOSTILE","payload":{payload}}}"#,
        uuid::Uuid::new_v4()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_entries_are_refused_counted_and_bounded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let Some(ctx) = Ctx::shared("hostile") else {
        return;
    };
    let backend = ctx.builder().batch_size(500).connect().await.unwrap();
    let admin = ctx.admin().await;
    let stream = ctx.stream.clone();
    let rss_before = rss_kib();
    let mut good = 0usize;
    let mut send_good = async |backend: &necro_backend_redis::RedisBackend| {
        good += 1;
        backend.send(event(good)).await.unwrap();
    };

    // 5,000 fields and no `event`.
    let many: Vec<(String, String)> = (0..5_000)
        .map(|i| (format!("field-{i:04}-{}", "x".repeat(40)), "v".to_owned()))
        .collect();
    xadd(&admin, &stream, many).await;
    send_good(&backend).await;
    // A good event with 5,000 header fields: past the count, one past the value length, one
    // with a control character. The event is delivered with the headers that fit.
    let mut fields = vec![("event".to_owned(), event(0).to_json())];
    fields.extend((0..5_000).map(|i| (format!("header:h{i}"), "v".to_owned())));
    fields.push((
        "header:aaa-long".to_owned(),
        "x".repeat(Headers::MAX_VALUE_LEN + 1),
    ));
    xadd(&admin, &stream, fields).await;
    send_good(&backend).await;
    // Nested one past the depth limit; over the size limit.
    let deep = format!(
        "{}1{}",
        r#"{"a":"#.repeat(necro_core::MAX_PAYLOAD_DEPTH + 1),
        "}".repeat(necro_core::MAX_PAYLOAD_DEPTH + 1)
    );
    xadd(&admin, &stream, vec![("event".to_owned(), wire(&deep))]).await;
    let huge = format!(
        r#"{{"x":"{}"}}"#,
        "y".repeat(necro_core::MAX_PAYLOAD_BYTES + 10)
    );
    xadd(&admin, &stream, vec![("event".to_owned(), wire(&huge))]).await;
    send_good(&backend).await;
    // A flood of malformed entries, a good event every 1,000.
    const FLOOD: usize = 10_000;
    for chunk in 0..FLOOD / 1_000 {
        let mut pipe = Vec::new();
        for i in 0..1_000 {
            pipe.push(format!("not json {chunk}-{i} {}", "{".repeat(50)));
        }
        let p = admin.pipeline();
        for text in pipe {
            let _: () = p
                .xadd(stream.as_str(), false, None::<()>, "*", ("event", text))
                .await
                .unwrap();
        }
        let _: Vec<fred::types::Value> = p.all().await.unwrap();
        send_good(&backend).await;
    }
    let bad = 1 + 2 + FLOOD;

    // Drain: every good event arrives; every bad entry is dead-lettered.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = Vec::new();
    let mut rss_peak = rss_kib();
    while (got.len() < good + 1 || backend.dlq().count().await.unwrap() < bad as u64)
        && Instant::now() < deadline
    {
        let batch = backend.pull(500, Duration::from_millis(100)).await.unwrap();
        backend
            .ack(batch.iter().map(|d| d.token.clone()).collect())
            .await
            .unwrap();
        got.extend(batch);
        rss_peak = rss_peak.max(rss_kib());
    }
    let rss_after = rss_kib();
    assert_eq!(got.len(), good + 1, "the consumer kept flowing");
    let with_headers = got
        .iter()
        .find(|d| !d.meta.headers.is_empty())
        .expect("the event with 5,000 header fields was delivered");
    assert_eq!(with_headers.meta.headers.len(), Headers::MAX_COUNT);
    assert_eq!(backend.dlq().count().await.unwrap(), bad as u64);

    // Every dead letter says why, in bounded words.
    let letters = backend.dlq().list(20).await.unwrap();
    for letter in &letters {
        assert_eq!(letter.kind, Some(DeadLetterKind::Malformed));
        assert!(
            letter.reason.starts_with("malformed entry"),
            "{}",
            letter.reason
        );
        assert!(
            letter.reason.len() <= 1_024,
            "a reason of {} bytes",
            letter.reason.len()
        );
    }
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("no `event` field")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("deep")), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("too large") || r.contains("bytes")),
        "{reasons:?}"
    );

    // Counted: malformed entries, and header fields left out.
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(&snapshot, names::MALFORMED.name, &stream),
        bad as u64
    );
    assert_eq!(backend.stats().malformed, bad as u64);
    assert_eq!(
        backend.stats().headers_ignored,
        (5_000 - Headers::MAX_COUNT as u64) + 1
    );
    let ignored = counter(&snapshot, names::HEADERS_IGNORED.name, &stream);
    assert_eq!(
        ignored,
        (5_000 - Headers::MAX_COUNT as u64) + 1,
        "header fields left out"
    );

    println!(
        "hostile input: {bad} bad entries and {} good; VmRSS before {} KiB, peak {} KiB, after {} KiB (+{} KiB)",
        good + 1,
        rss_before,
        rss_peak,
        rss_after,
        rss_after.saturating_sub(rss_before)
    );
    // Generous: the 1 MB payload is read and refused, the 5,000-field entries are read whole;
    // nothing of the flood should stay behind.
    assert!(
        rss_peak.saturating_sub(rss_before) < 256 * 1024,
        "memory grew by {} KiB",
        rss_peak - rss_before
    );
    backend.delete_streams().await.unwrap();
}
