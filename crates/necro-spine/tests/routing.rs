//! Routing: every listening organ, in registration order; unrouted events acked and counted.
mod support;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, Organ, OrganError, Payload, SyncOrgan, TypedOrgan};
use necro_spine::{BuildError, Spine};
use serde::{Deserialize, Serialize};
use support::{CallLog, ev, recorder};

#[tokio::test]
async fn fans_out_in_registration_order() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(recorder("C", &["A"], None, &log))
        .organ(recorder("A1", &["A"], None, &log))
        .organ(recorder("B", &["B"], None, &log))
        .organ(recorder("Z", &["A", "B"], None, &log))
        .build()
        .unwrap();
    spine.send(ev("A")).await.unwrap();
    spine.send(ev("B")).await.unwrap();
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(log.organs(), ["C", "A1", "Z", "B", "Z"]);
    assert_eq!(stats.processed, 2);
    assert!(backend.is_idle());
}

#[tokio::test]
async fn unrouted_events_are_acked_and_counted() {
    let backend = MemoryBackend::new();
    let log = CallLog::default();
    let spine = Spine::builder(backend.clone())
        .organ(recorder("A", &["A"], None, &log))
        .build()
        .unwrap();
    spine.send(ev("NOBODY")).await.unwrap();
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.unrouted, 1);
    assert_eq!(stats.processed, 1);
    assert!(backend.is_idle(), "unrouted event must be acked");
}

#[tokio::test]
async fn chain_runs_to_the_end_and_drains() {
    let log = CallLog::default();
    let spine = Spine::builder(MemoryBackend::new())
        .organ(recorder("Step1", &["START"], Some("STEP2"), &log))
        .organ(recorder("Step2", &["STEP2"], Some("STEP3"), &log))
        .organ(recorder("Step3", &["STEP3"], None, &log))
        .build()
        .unwrap();
    let stats = spine.run_event(ev("START")).await.unwrap();
    assert_eq!(log.organs(), ["Step1", "Step2", "Step3"]);
    assert_eq!(stats.processed, 3);
    assert_eq!(stats.emitted, 2);
}

#[derive(Serialize, Deserialize)]
struct Hello {
    name: String,
}
impl Payload for Hello {
    const EVENT_TYPE: &'static str = "HELLO";
}

struct TypedGreeter;
impl TypedOrgan for TypedGreeter {
    type Input = Hello;
    async fn handle(&self, hello: Hello, _event: &Event) -> Result<Emit, OrganError> {
        Ok(Event::new(
            "GREETED",
            serde_json::json!({ "msg": format!("Hello, {}!", hello.name) }),
        )?
        .into())
    }
}

struct SyncAudit(CallLog);
impl SyncOrgan for SyncAudit {
    fn listens_to(&self) -> &[&str] {
        &["GREETED"]
    }
    fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        self.0.push("SyncAudit", event);
        Ok(Emit::none())
    }
}

struct AsyncAudit(CallLog);
impl Organ for AsyncAudit {
    fn listens_to(&self) -> &[&str] {
        &["GREETED"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        self.0.push(self.name(), event);
        Ok(Emit::none())
    }
}

#[tokio::test]
async fn typed_sync_and_async_organs_mix() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(TypedGreeter)
        .organ(SyncAudit(log.clone()))
        .organ(AsyncAudit(log.clone()))
        .build()
        .unwrap();
    assert_eq!(
        spine.organ_names(),
        ["TypedGreeter", "SyncAudit", "AsyncAudit"]
    );
    spine
        .send(
            Event::from_payload(&Hello {
                name: "World".into(),
            })
            .unwrap(),
        )
        .await
        .unwrap();
    spine.run_until_drained().await.unwrap();
    assert_eq!(log.organs(), ["SyncAudit", "AsyncAudit"]);
}

#[tokio::test]
async fn a_payload_that_does_not_decode_is_a_permanent_failure() {
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(TypedGreeter)
        .handler_failure_mode(necro_spine::HandlerFailureMode::Store)
        .build()
        .unwrap();
    spine
        .send(Event::new("HELLO", serde_json::json!({"name": 42})).unwrap())
        .await
        .unwrap();
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.retries, 0, "decode failures are never retried");
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("HELLO"), "{}", letters[0].reason);
    assert!(letters[0].reason.contains("name"), "{}", letters[0].reason);
}

#[test]
fn build_rejects_bad_configurations() {
    let log = CallLog::default();
    let err = Spine::builder(MemoryBackend::new())
        .organ(recorder("A", &["  "], None, &log))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidEventType { .. }), "{err}");

    let err = Spine::builder(MemoryBackend::new())
        .organ(recorder("A", &[], None, &log))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::NoEventTypes { .. }), "{err}");

    let err = Spine::builder(MemoryBackend::new())
        .max_steps(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Zero {
                option: "max_steps"
            }
        ),
        "{err}"
    );

    let err = Spine::builder(MemoryBackend::new())
        .concurrency(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Zero {
                option: "concurrency"
            }
        ),
        "{err}"
    );

    let err = Spine::builder(MemoryBackend::new())
        .organ(recorder("A", &["X"], None, &log))
        .organ(recorder("A", &["Y"], None, &log))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::DuplicateOrganName(_)), "{err}");
}
