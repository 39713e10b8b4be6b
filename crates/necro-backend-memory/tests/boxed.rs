//! The in-memory backend behind a `BoxBackend` (necro-core's erased backend): a spine runs a
//! chain on it, the dead-letter queue works through it (and passes the conformance suite of
//! `necro-testkit`), the backend's own `release`, `commit`, `atomic_commit` and `close` are the
//! ones that run, and a token of another backend is refused with a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::serde_json::{Value, json};
use necro_core::{
    Backend, BackendError, BoxBackend, BoxToken, DeadLetterFilter, DeadLetterKind, DeadLetterQuery,
    DeadLetterQueue, DeadLetterSelection, Emit, Envelope, Event, Health, Organ, OrganError,
};
use necro_spine::{HandlerFailureMode, RetryPolicy, Spine};
use necro_testkit::dead_letter_queue_conformance;
use support::{envelopes, event, n_of};

/// START → STEP2 → STEP3, each step adding its name to the payload's trail; STEP3 payloads
/// land in the shared list. A START whose `n` is 13 fails in `Step2`.
struct Start;
impl Organ for Start {
    fn listens_to(&self) -> &[&str] {
        &["START"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let n = event.get("n").cloned().unwrap_or(Value::Null);
        Ok(Event::new("STEP2", json!({"n": n, "trail": ["START"]}))?.into())
    }
}

struct Step2;
impl Organ for Step2 {
    fn listens_to(&self) -> &[&str] {
        &["STEP2"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        if event.get("n") == Some(&json!(13)) {
            return Err(OrganError::permanent_msg("thirteen"));
        }
        let mut payload = event.payload().clone();
        if let Some(Value::Array(trail)) = payload.get_mut("trail") {
            trail.push(json!("STEP2"));
        }
        Ok(Event::new("STEP3", Value::Object(payload))?.into())
    }
}

struct Step3(Arc<Mutex<Vec<Value>>>);
impl Organ for Step3 {
    fn listens_to(&self) -> &[&str] {
        &["STEP3"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        self.0
            .lock()
            .unwrap()
            .push(Value::Object(event.payload().clone()));
        Ok(Emit::none())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spine_runs_a_chain_on_a_boxed_memory_backend() {
    for concurrency in [1, 4] {
        let memory = MemoryBackend::new();
        let backend = BoxBackend::new(memory.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spine = Spine::builder(backend.clone())
            .organ(Start)
            .organ(Step2)
            .organ(Step3(Arc::clone(&seen)))
            .handler_failure_mode(HandlerFailureMode::Store)
            .retry_policy(RetryPolicy::none())
            .concurrency(concurrency)
            .build()
            .unwrap();
        for n in 0..20 {
            spine
                .send(Event::new("START", json!({"n": n})).unwrap())
                .await
                .unwrap();
        }
        let stats = spine.run_until_drained().await.unwrap();
        assert_eq!(
            stats.processed, 59,
            "c={concurrency}: 19 full chains, one cut short"
        );
        let mut ns: Vec<u64> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["trail"], json!(["START", "STEP2"]));
                p["n"].as_u64().unwrap()
            })
            .collect();
        ns.sort_unstable();
        assert_eq!(ns, (0..20).filter(|&n| n != 13).collect::<Vec<u64>>());
        // Everything was acked through the box, and the failure reached the backend's store.
        assert!(memory.is_idle(), "c={concurrency}: {memory:?}");
        assert_eq!(backend.dead_letter_count().await.unwrap(), 1);
        let page = backend
            .dead_letter_page(&DeadLetterQuery::new(10))
            .await
            .unwrap();
        assert_eq!(page.entries[0].organ(), Some("Step2"));
        backend.close().await.unwrap();
        assert!(memory.is_closed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_boxed_memory_backend_passes_the_dead_letter_queue_conformance_suite() {
    dead_letter_queue_conformance(|| async { BoxBackend::new(MemoryBackend::new()) })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dead_letter_queue_works_through_the_box() {
    let memory = MemoryBackend::builder().max_deliveries(1).build().unwrap();
    let backend = BoxBackend::new(memory.clone());
    backend.enqueue(envelopes(0..3)).await.unwrap();
    for d in backend.pull(3, Duration::ZERO).await.unwrap() {
        backend.nack(d, "boom".into()).await.unwrap();
    }
    assert_eq!(backend.dead_letter_count().await.unwrap(), 3);
    let page = backend
        .dead_letter_page(&DeadLetterQuery::new(2))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0].kind(), Some(DeadLetterKind::MaxDeliveries));
    let first = page.entries[0].id.clone();
    let got = backend.dead_letter(&first).await.unwrap().unwrap();
    assert_eq!(got.reason(), page.entries[0].reason());

    let report = backend
        .replay_dead_letters(&DeadLetterSelection::one(first.clone()))
        .await
        .unwrap();
    assert_eq!(report.replayed, std::slice::from_ref(&first));
    let back = backend.pull(10, Duration::ZERO).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((n_of(&back[0].event), back[0].attempt), (0, 1));
    backend.ack(vec![back[0].token.clone()]).await.unwrap();

    let report = backend
        .purge_dead_letters(&DeadLetterSelection::Matching(DeadLetterFilter::new()))
        .await
        .unwrap();
    assert_eq!(report.purged, 2);
    assert_eq!(backend.dead_letter_count().await.unwrap(), 0);
    assert!(memory.is_idle() && memory.dead_letters().is_empty());
}

#[tokio::test]
async fn release_commit_atomic_commit_close_and_health_are_the_backends_own() {
    let memory = MemoryBackend::bounded(3).unwrap();
    let backend = BoxBackend::new(memory.clone());
    assert!(backend.atomic_commit(), "MemoryBackend's commit is atomic");

    // The memory backend's release puts deliveries back at the front with their attempt
    // unchanged; the trait's default would nack them (attempt raised, at the back).
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let two = backend.pull(2, Duration::ZERO).await.unwrap();
    backend.release(two).await.unwrap();
    let all = backend.pull(3, Duration::ZERO).await.unwrap();
    let order: Vec<(u64, u32)> = all.iter().map(|d| (n_of(&d.event), d.attempt)).collect();
    assert_eq!(order, [(0, 1), (1, 1), (2, 1)]);

    // Its commit, all-or-nothing: with the queue full (the bound counts queued events, not
    // those in flight), an emitted event that does not fit fails the commit and acks nothing.
    // (That the call is forwarded at all, and not the trait's default, is what necro-core's
    // own unit test of `BoxBackend` shows with a backend that records its calls.)
    backend.enqueue(envelopes(10..13)).await.unwrap();
    let tokens: Vec<BoxToken> = all.iter().map(|d| d.token.clone()).collect();
    let err = backend
        .commit(envelopes(20..21), tokens.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 3 }), "{err:?}");
    assert_eq!(memory.in_flight(), 3, "a failed atomic commit acks nothing");
    backend.commit(Vec::new(), tokens).await.unwrap();
    assert_eq!(memory.in_flight(), 0);

    assert!(backend.health().await.healthy);
    backend.close().await.unwrap();
    assert!(memory.is_closed(), "the backend's own close ran");
    let err = backend.send(event(99)).await.unwrap_err();
    assert!(matches!(err, BackendError::Closed), "{err:?}");
    let health = backend.health().await;
    assert!(!health.healthy);
    assert_eq!(health.details["depth"], 3);
}

#[tokio::test]
async fn a_token_of_another_backend_is_refused_with_a_typed_error() {
    let memory = MemoryBackend::new();
    let backend = BoxBackend::new(memory.clone());
    backend.enqueue(envelopes(0..1)).await.unwrap();
    let mut batch = backend.pull(1, Duration::ZERO).await.unwrap();
    let mine = batch[0].token.clone();
    assert!(mine.is::<MemoryToken>());

    // Another type of backend's token, even one with the same number inside.
    let number = mine.downcast_ref::<MemoryToken>().unwrap().get();
    let foreign = BoxToken::new(number);
    let err = backend.ack(vec![foreign.clone()]).await.unwrap_err();
    let BackendError::UnknownToken(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("u64") && msg.contains("MemoryToken"), "{msg}");
    let mut wrong = batch[0].clone();
    wrong.token = foreign.clone();
    let err = backend.nack(wrong.clone(), "x".into()).await.unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");
    let err = backend.release(vec![wrong]).await.unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");
    let err = backend
        .commit(vec![Envelope::new(event(1))], vec![mine.clone(), foreign])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");

    // Nothing happened: the delivery is still in flight, nothing was enqueued.
    assert_eq!((memory.in_flight(), memory.len()), (1, 0));
    let outcome = backend.nack(batch.remove(0), "x".into()).await.unwrap();
    assert_eq!(
        outcome,
        necro_core::NackOutcome::Requeued { next_attempt: 2 }
    );
}
