//! Headers across two processes on Redis: a producer process sends a root event with headers
//! and runs the first organ of the chain; this process, another worker group on the same
//! stream, runs the rest and sees the headers on every event, read back from the stream
//! entries' `header:` fields.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};

use necro_core::{Emit, Envelope, Event, Metadata, Organ, OrganError, PassOn};
use necro_spine::Spine;
use serde_json::json;
use support::{Ctx, entries, field};

const URL_VAR: &str = "NECRO_TEST_HEADERS_URL";
const STREAM_VAR: &str = "NECRO_TEST_HEADERS_STREAM";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Handles `listens`, records the event's metadata, emits `next`; passes every header on.
struct Step {
    listens: [&'static str; 1],
    next: Option<&'static str>,
    seen: Arc<Mutex<Vec<(String, Metadata)>>>,
}

impl Organ for Step {
    fn name(&self) -> &str {
        self.listens[0]
    }
    fn listens_to(&self) -> &[&str] {
        &self.listens
    }
    fn passes_on(&self) -> PassOn {
        PassOn::All
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let meta = necro_spine::current_metadata().unwrap_or_default();
        self.seen
            .lock()
            .unwrap()
            .push((event.event_type().to_string(), meta));
        Ok(match self.next {
            Some(next) => Event::new(next, json!({}))?.into(),
            None => Emit::none(),
        })
    }
}

fn step(
    listens: &'static str,
    next: Option<&'static str>,
    seen: &Arc<Mutex<Vec<(String, Metadata)>>>,
) -> Step {
    Step {
        listens: [listens],
        next,
        seen: seen.clone(),
    }
}

/// The producer process: sends `A` with two headers, handles it (emitting `B`) in group
/// `first`, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_header_set_on_a_root_reaches_every_event_across_two_processes"]
async fn headers_producer_child() {
    let url = std::env::var(URL_VAR).expect("run by the parent test");
    let stream = std::env::var(STREAM_VAR).expect("run by the parent test");
    let backend = necro_backend_redis::RedisBackend::builder(url)
        .stream_key(stream)
        .consumer_group("first")
        .connect()
        .await
        .unwrap();
    let seen = Arc::default();
    let spine = Spine::builder(backend.clone())
        .organ(step("A", Some("B"), &seen))
        .build()
        .unwrap();
    let meta = Metadata::default()
        .with_header("traceparent", TRACEPARENT)
        .unwrap()
        .with_header("tenant", "acme")
        .unwrap();
    let root = Event::new("A", json!({"n": 1})).unwrap();
    spine
        .run_event(Envelope::with_meta(root, meta))
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_set_on_a_root_reaches_every_event_across_two_processes() {
    let Some(ctx) = Ctx::shared("headers_two_processes") else {
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "headers_producer_child",
            "--ignored",
            "--nocapture",
        ])
        .env(URL_VAR, &ctx.url)
        .env(STREAM_VAR, &ctx.stream)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the producer process failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // This process: group `second` reads the stream from its start (A, B), runs B → C → end.
    let backend = ctx
        .builder()
        .consumer_group("second")
        .connect()
        .await
        .unwrap();
    let seen = Arc::default();
    let spine = Spine::builder(backend.clone())
        .organ(step("B", Some("C"), &seen))
        .organ(step("C", None, &seen))
        .build()
        .unwrap();
    spine.run_until_drained().await.unwrap();
    backend.close().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["B", "C"]);
    for (event_type, meta) in &seen {
        assert_eq!(meta.headers.get("tenant"), Some("acme"), "{event_type}");
        assert_eq!(
            meta.headers.get("traceparent"),
            Some(TRACEPARENT),
            "{event_type}"
        );
        assert!(meta.correlation_id.is_some(), "{event_type}");
    }

    // On the wire: every entry carries them as `header:` fields beside the `event` field.
    let written = entries(&ctx.admin().await, &ctx.stream).await;
    assert_eq!(
        written.len(),
        3,
        "A, B (from the producer) and C (from here)"
    );
    for (id, fields) in &written {
        assert_eq!(field(fields, "header:tenant"), Some("acme"), "entry {id}");
        assert_eq!(
            field(fields, "header:traceparent"),
            Some(TRACEPARENT),
            "entry {id}"
        );
    }
}
