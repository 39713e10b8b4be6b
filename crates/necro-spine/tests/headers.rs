//! Headers travel down a chain: every event emitted inherits what its organ passes on (the
//! trace context by default), and every organ, async or blocking, reads the headers of the
//! event it handles.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::sync::{Arc, Mutex};

use necro_backend_memory::MemoryBackend;
use necro_core::{
    Emit, Envelope, Event, IntoOrgan, Metadata, Organ, OrganError, PassOn, SyncOrgan,
};
use necro_spine::Spine;
use serde_json::json;

/// What each organ saw: its name, the event type, the event's metadata.
type Seen = Arc<Mutex<Vec<(String, String, Metadata)>>>;

/// An async organ: records what it handles, emits `next` if any.
struct Step {
    name: &'static str,
    listens: [&'static str; 1],
    next: Option<&'static str>,
    pass_on: PassOn,
    seen: Seen,
}

impl Organ for Step {
    fn name(&self) -> &str {
        self.name
    }
    fn listens_to(&self) -> &[&str] {
        &self.listens
    }
    fn passes_on(&self) -> PassOn {
        self.pass_on.clone()
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let meta = necro_spine::current_metadata().expect("inside an organ call");
        self.seen
            .lock()
            .unwrap()
            .push((self.name.into(), event.event_type().to_string(), meta));
        Ok(match self.next {
            Some(next) => Event::new(next, json!({}))?.into(),
            None => Emit::none(),
        })
    }
}

/// A blocking organ at the end of the chain.
struct Last {
    seen: Seen,
}

impl SyncOrgan for Last {
    fn listens_to(&self) -> &[&str] {
        &["C"]
    }
    fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let meta = necro_spine::current_metadata().expect("inside a blocking organ call");
        assert_eq!(
            necro_spine::current_header("traceparent").as_deref(),
            meta.headers.get("traceparent")
        );
        self.seen
            .lock()
            .unwrap()
            .push(("Last".into(), event.event_type().to_string(), meta));
        Ok(Emit::none())
    }
}

fn step(
    name: &'static str,
    listens: &'static str,
    next: &'static str,
    pass_on: PassOn,
    seen: &Seen,
) -> Step {
    Step {
        name,
        listens: [listens],
        next: Some(next),
        pass_on,
        seen: seen.clone(),
    }
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn root() -> (Event, Metadata) {
    let meta = Metadata::default()
        .with_header("traceparent", TRACEPARENT)
        .unwrap()
        .with_header("tenant", "acme")
        .unwrap();
    (Event::new("A", json!({})).unwrap(), meta)
}

async fn run(a: PassOn, b: PassOn) -> Vec<(String, String, Metadata)> {
    let seen = Seen::default();
    let spine = Spine::builder(MemoryBackend::new())
        .organ(step("StepA", "A", "B", a, &seen))
        .organ(
            step("StepB", "B", "C", PassOn::TraceContext, &seen)
                .into_organ()
                .passing_on(b),
        )
        .organ(Last { seen: seen.clone() })
        .build()
        .unwrap();
    let (event, meta) = root();
    let stats = spine
        .run_event(Envelope::with_meta(event, meta))
        .await
        .unwrap();
    assert_eq!(stats.processed, 3);
    std::mem::take(&mut *seen.lock().unwrap())
}

#[tokio::test]
async fn a_header_set_on_the_root_reaches_every_event_of_its_chain_when_passed_on() {
    let seen = run(PassOn::All, PassOn::trace_context_and(["tenant"])).await;
    let (root_event, root_meta) = root();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].2.headers, root_meta.headers,
        "the root's own headers"
    );
    for (organ, event_type, meta) in &seen {
        assert_eq!(
            meta.headers.get("tenant"),
            Some("acme"),
            "{organ} on {event_type}"
        );
        assert_eq!(
            meta.headers.get("traceparent"),
            Some(TRACEPARENT),
            "{organ}"
        );
    }
    // Correlation stays the root's id all the way down.
    assert!(seen[1..].iter().all(|(_, _, m)| m.correlation_id.is_some()));
    let correlation = seen[1].2.correlation_id;
    assert!(
        seen[1..]
            .iter()
            .all(|(_, _, m)| m.correlation_id == correlation)
    );
    let _ = root_event;
}

#[tokio::test]
async fn by_default_only_the_trace_context_is_passed_on() {
    let seen = run(PassOn::TraceContext, PassOn::TraceContext).await;
    assert_eq!(seen[0].2.headers.get("tenant"), Some("acme"));
    for (organ, _, meta) in &seen[1..] {
        assert_eq!(meta.headers.get("tenant"), None, "{organ}");
        assert_eq!(
            meta.headers.get("traceparent"),
            Some(TRACEPARENT),
            "{organ}"
        );
    }
}

#[tokio::test]
async fn an_organ_that_passes_nothing_on_cuts_the_chain_of_headers() {
    let seen = run(PassOn::All, PassOn::Nothing).await;
    assert_eq!(seen[1].2.headers.get("tenant"), Some("acme"));
    assert!(seen[2].2.headers.is_empty());
    assert!(seen[2].2.correlation_id.is_some(), "ids are always set");
}

#[tokio::test]
async fn no_metadata_outside_an_organ_call() {
    assert!(necro_spine::current_metadata().is_none());
    assert!(necro_spine::current_header("tenant").is_none());
}
