//! Enqueue failure modes FAIL, RETRY, STORE, on a real bounded in-memory queue.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, DeadLetterKind, Emit, Event, organ_fn};
use necro_spine::{EnqueueFailureMode, RetryPolicy, RunError, Spine};
use necro_testkit::fault::{Calls, FaultError, FaultyBackend, Op};
use support::{emits_b, ev, faulty, partition};

/// An organ that emits two events for every A.
fn splitter() -> necro_core::BoxedOrgan {
    organ_fn("Splitter", ["A"], |_ev: Event| async {
        Ok(Emit::many(vec![support::ev("B"), support::ev("B")]))
    })
}

fn full_backend() -> MemoryBackend {
    MemoryBackend::builder()
        .capacity(1)
        .max_deliveries(10)
        .build()
        .unwrap()
}

/// A memory backend whose every commit fails as closed: unreachable.
fn closed_commits() -> FaultyBackend<MemoryBackend> {
    let backend = faulty();
    let faults = backend.faults();
    faults.fail(Op::Commit, Calls::always(), FaultError::closed());
    backend
}

#[tokio::test]
async fn fail_mode_stops_and_gives_the_source_back() {
    let backend = full_backend();
    let spine = Spine::builder(backend.clone())
        .organ(splitter())
        .enqueue_failure_mode(EnqueueFailureMode::Fail)
        .build()
        .unwrap();
    let source = ev("A");
    let err = spine.run_event(source.clone()).await.unwrap_err();
    assert!(matches!(err, RunError::Enqueue { count: 2, .. }), "{err}");
    // Nothing half-enqueued, source not acked: it is queued again for redelivery.
    assert_eq!(backend.len(), 1);
    assert_eq!(backend.in_flight(), 0);
    let again = backend.pull(1, Duration::ZERO).await.unwrap();
    assert_eq!(again[0].event.id(), source.id());
    assert_eq!(again[0].attempt, 2);
    assert_eq!(spine.stats().enqueue_failures.get("B"), Some(&2));
    assert_eq!(spine.stats().emitted, 0);
}

#[tokio::test(start_paused = true)]
async fn retry_mode_retries_then_fails() {
    let backend = full_backend();
    let spine = Spine::builder(backend.clone())
        .organ(splitter())
        .enqueue_failure_mode(EnqueueFailureMode::Retry)
        .retry_policy(RetryPolicy::exponential(2, Duration::from_millis(100)).with_jitter(false))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = spine.run_event(ev("A")).await.unwrap_err();
    assert!(matches!(err, RunError::Enqueue { .. }), "{err}");
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(spine.stats().enqueue_retries, 2);
    assert_eq!(backend.len(), 1, "the source is back in the queue");
}

#[tokio::test(start_paused = true)]
async fn retry_mode_success_counts_as_emitted_not_failed() {
    // Capacity 2: A and X fill it. While the spine retries A's output, another consumer
    // takes X, making room.
    let backend = MemoryBackend::builder().capacity(2).build().unwrap();
    let spine = Spine::builder(backend.clone())
        .organ(splitter())
        .batch_size(1)
        .enqueue_failure_mode(EnqueueFailureMode::Retry)
        .retry_policy(RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter(false))
        .build()
        .unwrap();
    spine.send(ev("A")).await.unwrap();
    spine.send(ev("X")).await.unwrap();
    let other = backend.clone();
    let consumer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let got = other.pull(1, Duration::ZERO).await.unwrap();
        other
            .ack(got.into_iter().map(|d| d.token).collect())
            .await
            .unwrap();
    });
    let stats = spine.run_until_drained().await.unwrap();
    consumer.await.unwrap();
    assert_eq!(stats.enqueue_retries, 1);
    assert!(
        stats.enqueue_failures.is_empty(),
        "{:?}",
        stats.enqueue_failures
    );
    assert_eq!(stats.emitted, 2);
    assert_eq!(stats.processed, 3, "A and its two Bs");
}

#[tokio::test]
async fn store_mode_dead_letters_the_emitted_events_and_goes_on() {
    let backend = full_backend();
    let spine = Spine::builder(backend.clone())
        .organ(splitter())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(stats.dead_lettered, 2);
    assert_eq!(stats.enqueue_failures.get("B"), Some(&2));
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.kind == DeadLetterKind::EnqueueFailed)
    );
    assert!(letters.iter().all(|l| l.event.event_type() == "B"));
    assert!(letters[0].reason.contains("full"), "{}", letters[0].reason);
    assert!(backend.is_idle(), "the source is acked");
}

#[tokio::test]
async fn a_full_bounded_queue_refuses_at_once() {
    let backend = MemoryBackend::bounded(2).unwrap();
    let spine = Spine::builder(backend.clone()).build().unwrap();
    spine.send(ev("A")).await.unwrap();
    spine.send(ev("A")).await.unwrap();
    let err = spine.send(ev("A")).await.unwrap_err();
    assert!(
        matches!(
            err,
            RunError::Send(necro_core::BackendError::Full { capacity: 2 })
        ),
        "{err}"
    );
    // Draining frees room.
    spine.run_until_drained().await.unwrap();
    spine.send(ev("A")).await.unwrap();
}

// Issue 10 item 6: under STORE, an unreachable commit dead-letters the output and acks the
// source, as a refused one does; items 7: the failed events are counted.
#[tokio::test]
async fn store_mode_on_an_unreachable_backend_dead_letters_the_output_and_acks() {
    let backend = closed_commits();
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    let memory = backend.inner();
    assert_eq!(memory.in_flight(), 0, "the source is settled");
    assert_eq!(memory.len(), 0);
    let letters = memory.dead_letters().list();
    assert_eq!(letters.len(), 1, "the output is kept: {letters:?}");
    assert_eq!(letters[0].kind, DeadLetterKind::EnqueueFailed);
    assert_eq!(letters[0].event.event_type(), "B");
    assert!(
        letters[0].reason.contains("closed"),
        "{}",
        letters[0].reason
    );
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(stats.enqueue_failures.get("B"), Some(&1), "{stats:?}");
    assert_eq!(stats.emitted, 0);
}

// Issue 10 item 6: when the output cannot be dead-lettered either, the source is given back
// (released, no attempt counted) and redelivered.
#[tokio::test(start_paused = true)]
async fn store_mode_gives_the_source_back_when_the_output_cannot_be_dead_lettered() {
    let backend = faulty();
    let faults = backend.faults();
    faults
        .fail(Op::Commit, Calls::nth(1), FaultError::closed())
        .fail(Op::Store, Calls::always(), FaultError::closed());
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(
        stats.processed, 3,
        "A handled, given back, handled again, then its B: {stats:?}"
    );
    assert_eq!(stats.released, 1);
    assert_eq!(stats.enqueue_failures.get("B"), Some(&1));
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(faults.calls(Op::Release), 1);
    assert!(backend.inner().is_idle(), "the redelivered A was acked");
}

// Issue 10 item 6: when the source can be neither committed, dead-lettered nor given back,
// the run does not end `Ok` as if nothing had happened.
#[tokio::test(start_paused = true)]
async fn store_mode_run_fails_when_a_delivery_cannot_be_settled_at_all() {
    let backend = faulty();
    partition(backend.faults(), &FaultError::connection("partitioned"));
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .build()
        .unwrap();
    spine.send(ev("A")).await.unwrap();
    let err = spine.run_until_drained().await.unwrap_err();
    assert!(
        matches!(err, RunError::Unsettled { deliveries: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("partitioned"), "{err}");
    assert_eq!(
        backend.inner().in_flight(),
        1,
        "still held by the backend, not lost"
    );
    assert_eq!(spine.stats().enqueue_failures.get("B"), Some(&1));
}

// Issue 10 item 7: FAIL on an unreachable backend counts the failed events too, and gives the
// batch back in one call.
#[tokio::test]
async fn fail_mode_on_an_unreachable_backend_counts_and_gives_back() {
    let backend = closed_commits();
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .enqueue_failure_mode(EnqueueFailureMode::Fail)
        .build()
        .unwrap();
    let err = spine.run_event(ev("A")).await.unwrap_err();
    assert!(matches!(err, RunError::Enqueue { count: 1, .. }), "{err}");
    assert_eq!(spine.stats().enqueue_failures.get("B"), Some(&1));
    assert_eq!(backend.faults().calls(Op::Release), 1, "in one call");
    let memory = backend.inner();
    assert_eq!(memory.in_flight(), 0, "given back");
    assert_eq!(memory.len(), 1);
    let again = memory.pull(1, Duration::ZERO).await.unwrap();
    assert_eq!(again[0].attempt, 1, "a release counts no attempt");
}

// Issue 10 item 7, through a real metrics recorder: the failed events are in
// `necro_enqueue_failures_total`, the unreachable commit in `necro_backend_errors_total`.
#[test]
fn unreachable_enqueue_failures_reach_the_metrics() {
    let text = support::render_metrics_of(|| async {
        let backend = closed_commits();
        let spine = Spine::builder(backend).organ(emits_b()).build().unwrap();
        spine.run_event(ev("A")).await.unwrap();
    });
    assert!(
        text.contains(r#"necro_enqueue_failures_total{event_type="B"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"necro_backend_errors_total{op="commit"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"necro_dead_letters_total{kind="enqueue_failed",event_type="B"} 1"#),
        "{text}"
    );
}
