//! The spine end to end on Redis: a three-step chain (START → STEP2 → STEP3) of ordinary
//! organs, unchanged from what runs on the in-memory backend; and NACK mode dead-lettering
//! through Redis redelivery.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_core::{DeadLetterKind, Emit, Event, Organ, OrganError};
use necro_spine::{HandlerFailureMode, RetryPolicy, Spine};
use serde_json::{Value, json};
use support::{Ctx, entries, field, pending_count};

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

/// The START → STEP2 → STEP3 chain on the test's own stream; STEP3 payloads land in `seen`.
async fn chain(
    ctx: &Ctx,
    seen: &Arc<Mutex<Vec<Value>>>,
) -> necro_spine::SpineBuilder<necro_backend_redis::RedisBackend> {
    Spine::builder(ctx.backend().await)
        .organ(Start)
        .organ(Step2)
        .organ(Step3(Arc::clone(seen)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_step_chain_runs_to_the_end_on_redis() {
    let Some(ctx) = Ctx::shared("spine_chain") else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spine = chain(&ctx, &seen).await.build().unwrap();
    let mut starts = Vec::new();
    for n in 0..20 {
        let ev = Event::new("START", json!({"n": n})).unwrap();
        starts.push(ev.id().to_string());
        spine.send(ev).await.unwrap();
    }
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.processed, 60);
    assert_eq!(stats.emitted, 40);
    assert_eq!(stats.total_handler_errors(), 0);

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
    assert_eq!(ns, (0..20).collect::<Vec<_>>());

    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "all acked"
    );
    // Chain metadata rode along in the entry fields: every STEP3 names its START.
    let written = entries(&admin, &ctx.stream).await;
    let step3: Vec<_> = written
        .iter()
        .filter(|(_, f)| field(f, "event").is_some_and(|e| e.contains(r#""event_type":"STEP3""#)))
        .collect();
    assert_eq!(step3.len(), 20);
    for (_, f) in step3 {
        let correlation = field(f, "correlation_id").expect("correlation id");
        assert!(starts.iter().any(|s| s == correlation));
        assert!(field(f, "causation_id").is_some());
    }
    let redis = spine.backend().stats();
    assert_eq!((redis.enqueued, redis.pulled, redis.acked), (60, 60, 60));
}

struct Flaky;
impl Organ for Flaky {
    fn listens_to(&self) -> &[&str] {
        &["FLAKY"]
    }
    async fn handle(&self, _event: &Event) -> Result<Emit, OrganError> {
        Err(OrganError::msg("downstream is down"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_mode_redelivers_through_redis_then_dead_letters() {
    let Some(ctx) = Ctx::shared("spine_nack") else {
        return;
    };
    let backend = ctx.builder().max_retries(3).connect().await.unwrap();
    let spine = Spine::builder(backend)
        .organ(Flaky)
        .handler_failure_mode(HandlerFailureMode::Nack)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let ev = Event::new("FLAKY", json!({"k": 1})).unwrap();
    spine.send(ev.clone()).await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), spine.run_until_drained())
        .await
        .expect("drains")
        .unwrap();
    assert_eq!(stats.processed, 3, "delivered max_retries times");

    let dlq = spine.backend().dlq().list(10).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].event.as_ref(), Some(&ev));
    assert_eq!(dlq[0].kind, Some(DeadLetterKind::MaxDeliveries));
    assert_eq!(dlq[0].attempts, Some(3));
    assert!(
        dlq[0].reason.contains("downstream is down"),
        "{}",
        dlq[0].reason
    );
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}

// Concurrency 8 on four worker threads: four runners share one backend (one consumer). Each
// chain completes exactly once, everything is acked, and a service run with idle runners
// blocking in XREADGROUP still stops promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_runners_share_one_redis_backend() {
    let Some(ctx) = Ctx::shared("spine_runners") else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spine = chain(&ctx, &seen)
        .await
        .concurrency(8)
        .batch_size(8)
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let runner = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run().await }
    });
    for n in 0..300 {
        spine
            .send(Event::new("START", json!({"n": n})).unwrap())
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chains did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    spine.shutdown_handle().shutdown();
    let stats = tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .expect("every runner stops within a poll interval or two")
        .unwrap()
        .unwrap();
    assert_eq!(stats.processed, 900);
    let mut ns: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| p["n"].as_u64().unwrap())
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..300).collect::<Vec<_>>(), "each chain exactly once");
    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "all acked"
    );
}
