//! The organ harness: records what flowed, in order, with its metadata; decodes and filters;
//! follows causation; reports dead letters, handler errors and retries per run; and its
//! assertions panic with a listing of what flowed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use necro_backend_memory::MemoryBackend;
use necro_core::serde_json::json;
use necro_core::{
    DeadLetterKind, Emit, Envelope, Event, Metadata, OrganError, PassOn, Payload, TypedOrgan,
    organ_fn,
};
use necro_spine::{EnqueueFailureMode, HandlerFailureMode, RunError, Spine};
use necro_testkit::harness::{Harness, HarnessError, Origin, RecordingBackend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "HELLO")]
struct Hello {
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "GREETED")]
struct Greeted {
    msg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "LOGGED")]
struct Logged {
    line: String,
    tenant: Option<String>,
}

struct Greeter;
impl TypedOrgan for Greeter {
    type Input = Hello;
    fn passes_on(&self) -> PassOn {
        PassOn::All
    }
    async fn handle(&self, hello: Hello, _event: &Event) -> Result<Emit, OrganError> {
        Ok(Event::from_payload(&Greeted {
            msg: format!("Hello, {}!", hello.name),
        })?
        .into())
    }
}

/// Logs every greeting with the tenant header of the event it handles.
struct Logger;
impl TypedOrgan for Logger {
    type Input = Greeted;
    async fn handle(&self, greeted: Greeted, _event: &Event) -> Result<Emit, OrganError> {
        let tenant = necro_spine::current_header("tenant");
        Ok(Event::from_payload(&Logged {
            line: greeted.msg,
            tenant,
        })?
        .into())
    }
}

fn hello(name: &str) -> Event {
    Event::from_payload(&Hello { name: name.into() }).unwrap()
}

/// An organ failing `fails` times (transiently) before it succeeds, counting its calls.
fn flaky(fails: u32, calls: Arc<AtomicU32>) -> necro_core::BoxedOrgan {
    organ_fn("Flaky", ["HELLO"], move |_event: Event| {
        let calls = Arc::clone(&calls);
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) < fails {
                Err(OrganError::msg("downstream unavailable"))
            } else {
                Ok(Event::new("FLAKY_DONE", json!({}))?.into())
            }
        }
    })
}

#[tokio::test]
async fn records_the_root_and_everything_it_caused_in_order_with_metadata() {
    let harness = Harness::builder()
        .organ(Greeter)
        .organ(Logger)
        .build()
        .unwrap();
    let root = hello("World");
    let meta = Metadata::default().with_header("tenant", "acme").unwrap();
    let stats = harness
        .send(Envelope::with_meta(root.clone(), meta))
        .await
        .unwrap();
    assert_eq!((stats.processed, stats.emitted), (3, 2));

    harness.assert_event_types(&["HELLO", "GREETED", "LOGGED"]);
    let records = harness.records();
    assert_eq!(
        records.iter().map(|r| r.origin).collect::<Vec<_>>(),
        [Origin::Sent, Origin::Emitted, Origin::Emitted]
    );
    let (greeted, logged) = (&records[1], &records[2]);
    assert_eq!(greeted.causation_id(), Some(root.id()));
    assert_eq!(logged.causation_id(), Some(greeted.event.id()));
    for r in &records {
        assert_eq!(r.correlation_id(), root.id(), "{r:?}");
    }
    // Greeter passes every header on; Logger only the trace context (the default).
    assert_eq!(greeted.header("tenant"), Some("acme"));
    assert_eq!(logged.header("tenant"), None);
    assert_eq!(
        harness.emitted::<Logged>().unwrap(),
        [Logged {
            line: "Hello, World!".into(),
            tenant: Some("acme".into()),
        }]
    );
    assert_eq!(
        harness
            .metadata_of(&greeted.event)
            .unwrap()
            .headers
            .get("tenant"),
        Some("acme")
    );
}

#[tokio::test]
async fn emitted_excludes_roots_and_filters_by_type_and_cause() {
    let harness = Harness::builder().organ(Greeter).build().unwrap();
    let (ada, bob) = (hello("Ada"), hello("Bob"));
    let stats = harness.send_all([ada.clone(), bob.clone()]).await.unwrap();
    assert_eq!(stats.processed, 4);

    assert!(harness.emitted::<Hello>().unwrap().is_empty());
    assert_eq!(harness.emitted_events().len(), 2);
    let greeted = harness.assert_emitted::<Greeted>(2);
    assert_eq!(greeted[0].msg, "Hello, Ada!");
    assert_eq!(greeted[1].msg, "Hello, Bob!");
    assert_eq!(harness.emitted_of_type("GREETED").len(), 2);
    assert!(harness.emitted_of_type("NOTHING").is_empty());

    let from_bob = harness.caused_by(&bob);
    assert_eq!(from_bob.len(), 1);
    assert_eq!(from_bob[0].get("msg"), Some(&json!("Hello, Bob!")));
    let chain = harness.chain_of(&ada);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].event.id(), ada.id());
    assert!(harness.caused_by(&from_bob[0]).is_empty());
}

#[tokio::test]
async fn send_payload_sends_a_typed_root() {
    let harness = Harness::builder().organ(Greeter).build().unwrap();
    harness
        .send_payload(&Hello {
            name: "typed".into(),
        })
        .await
        .unwrap();
    harness.assert_emitted_where(|g: &Greeted| g.msg == "Hello, typed!");
}

#[tokio::test]
async fn each_send_returns_its_own_stats_and_stats_accumulate() {
    let harness = Harness::builder().organ(Greeter).build().unwrap();
    let first = harness.send(hello("a")).await.unwrap();
    let second = harness.send(hello("b")).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(second.processed, 2);
    assert_eq!(harness.stats().processed, 4);
    let idle = harness.run_until_drained().await.unwrap();
    assert_eq!(idle.processed, 0);
}

#[tokio::test]
async fn transient_failures_are_retried_and_counted() {
    let calls = Arc::new(AtomicU32::new(0));
    let harness = Harness::builder()
        .organ(flaky(2, Arc::clone(&calls)))
        .build()
        .unwrap();
    let stats = harness.send(hello("x")).await.unwrap();
    assert_eq!(stats.retries, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    harness.assert_no_handler_errors();
    harness.assert_emitted_of_type("FLAKY_DONE", 1);
}

#[tokio::test]
async fn failures_under_store_are_dead_letters_and_handler_errors() {
    let harness = Harness::builder()
        .organ(flaky(u32::MAX, Arc::new(AtomicU32::new(0))))
        .organ(Greeter)
        .handler_failure_mode(HandlerFailureMode::Store)
        .build()
        .unwrap();
    let stats = harness.send(hello("x")).await.unwrap();
    assert_eq!(stats.handler_errors.get("Flaky"), Some(&1));
    assert_eq!(stats.retries, 3);
    assert_eq!(harness.handler_errors().get("Flaky"), Some(&1));
    assert_eq!(harness.retries(), 3);

    let letters = harness.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::HandlerFailed);
    assert_eq!(letters[0].organ.as_deref(), Some("Flaky"));
    // The other organ's output still went out.
    harness.assert_emitted::<Greeted>(1);

    harness.clear();
    assert!(harness.records().is_empty());
    harness.assert_no_dead_letters();
    assert_eq!(
        harness.stats().retries,
        3,
        "clear keeps the cumulative stats"
    );
}

#[tokio::test]
async fn nacked_attempts_record_nothing_they_emitted() {
    let memory = MemoryBackend::builder().max_deliveries(2).build().unwrap();
    let harness = Harness::builder_on(memory)
        .organ(Greeter)
        .organ(flaky(u32::MAX, Arc::new(AtomicU32::new(0))))
        .handler_failure_mode(HandlerFailureMode::Nack)
        .no_retries()
        .build()
        .unwrap();
    let stats = harness.send(hello("x")).await.unwrap();
    assert_eq!(stats.nack_dead_lettered, 1);
    // Greeter ran on both deliveries, but a NACKed attempt's output is discarded.
    harness.assert_event_types(&["HELLO"]);
    harness.assert_emitted::<Greeted>(0);
    let letters = harness.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::MaxDeliveries);
    assert_eq!(letters[0].attempts, 2);
}

#[tokio::test]
async fn events_a_full_queue_refused_are_not_recorded() {
    let memory = MemoryBackend::bounded(1).unwrap();
    let fan_out = organ_fn("FanOut", ["HELLO"], |_event: Event| async move {
        Ok(Emit::many(vec![
            Event::new("A", json!({}))?,
            Event::new("B", json!({}))?,
        ]))
    });
    let harness = Harness::builder_on(memory)
        .organ(fan_out)
        .enqueue_failure_mode(EnqueueFailureMode::Store)
        .build()
        .unwrap();
    let stats = harness.send(hello("x")).await.unwrap();
    assert_eq!(stats.total_enqueue_failures(), 2);
    harness.assert_event_types(&["HELLO"]);
    assert_eq!(harness.dead_letters().len(), 2);
}

#[tokio::test]
async fn a_runaway_chain_is_an_error_and_the_records_keep_what_flowed() {
    let ping = organ_fn("Pinger", ["PING"], |_event: Event| async move {
        Ok(Event::new("PING", json!({}))?.into())
    });
    let harness = Harness::builder().organ(ping).max_steps(5).build().unwrap();
    let err = harness
        .send(Event::new("PING", json!({})).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HarnessError::Run(RunError::MaxStepsExceeded { max_steps: 5 })
        ),
        "{err:?}"
    );
    assert!(harness.records().len() >= 5);
}

#[tokio::test]
async fn a_bad_configuration_is_a_build_error() {
    let err = Harness::builder()
        .organ(Greeter)
        .organ(Greeter)
        .build()
        .unwrap_err();
    assert!(matches!(err, HarnessError::Build(_)), "{err:?}");
    assert!(err.to_string().contains("Greeter"), "{err}");
}

#[tokio::test]
async fn a_spine_built_elsewhere_can_be_wrapped() {
    let spine = Spine::builder(RecordingBackend::new())
        .organ(Greeter)
        .build()
        .unwrap();
    let harness = Harness::from_spine(spine);
    harness.send(hello("wrapped")).await.unwrap();
    harness.assert_emitted::<Greeted>(1);
    assert_eq!(harness.spine().organ_names(), ["Greeter"]);
    assert!(harness.backend().memory().is_idle());
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap()
}

#[tokio::test]
async fn failed_assertions_list_what_flowed() {
    let harness = Harness::builder()
        .organ(Greeter)
        .organ(flaky(u32::MAX, Arc::new(AtomicU32::new(0))))
        .handler_failure_mode(HandlerFailureMode::Store)
        .no_retries()
        .build()
        .unwrap();
    harness.send(hello("World")).await.unwrap();

    let msg = panic_message(|| {
        harness.assert_emitted::<Greeted>(2);
    });
    assert!(
        msg.starts_with("expected 2 GREETED event(s) emitted, found 1\nevents, in order:\n"),
        "{msg}"
    );
    assert!(
        msg.contains("  #0 sent    HELLO {\"name\":\"World\"}\n"),
        "{msg}"
    );
    assert!(
        msg.contains("  #1 emitted GREETED {\"msg\":\"Hello, World!\"} (from #0)\n"),
        "{msg}"
    );
    assert!(
        msg.contains("dead letters:\n  HELLO HandlerFailed"),
        "{msg}"
    );
    assert!(msg.contains("downstream unavailable"), "{msg}");

    let msg = panic_message(|| {
        harness.assert_emitted_where(|g: &Greeted| g.msg.is_empty());
    });
    assert!(
        msg.starts_with("no emitted GREETED event matches the predicate (1 emitted)"),
        "{msg}"
    );
    let msg = panic_message(|| harness.assert_no_dead_letters());
    assert!(
        msg.starts_with("expected no dead letters, found 1"),
        "{msg}"
    );
    let msg = panic_message(|| harness.assert_no_handler_errors());
    assert!(msg.contains("\"Flaky\": 1"), "{msg}");
    let msg = panic_message(|| harness.assert_event_types(&["HELLO"]));
    assert!(msg.contains("found [\"HELLO\", \"GREETED\"]"), "{msg}");
    // An emitted event that does not fit the type asked for.
    let msg = panic_message(|| {
        harness.assert_emitted::<WrongGreeted>(1);
    });
    assert!(
        msg.starts_with("an emitted GREETED event does not decode into"),
        "{msg}"
    );
    assert!(harness.emitted::<WrongGreeted>().is_err());
}

#[derive(Debug, Serialize, Deserialize, Payload)]
#[payload(event_type = "GREETED")]
struct WrongGreeted {
    msg: u64,
}
