//! `FaultyBackend` around the in-memory backend: forwarding, call windows, error kinds,
//! failing after the inner call, latency, and the split (non-atomic) commit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::serde_json::json;
use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterKind, DeadLetterQueue, DeadLetterStore, Envelope,
    Event, Health, Metadata,
};
use necro_testkit::fault::{Calls, FaultError, Faults, FaultyBackend, InjectedFault, Op};

fn ev(t: &str) -> Event {
    Event::new(t, json!({})).unwrap()
}

fn env(t: &str) -> Envelope {
    Envelope::new(ev(t))
}

fn wrapped() -> (FaultyBackend<MemoryBackend>, Faults) {
    let backend = FaultyBackend::new(MemoryBackend::new());
    let faults = backend.faults().clone();
    (backend, faults)
}

#[tokio::test]
async fn without_rules_every_call_is_forwarded_and_counted() {
    let (backend, faults) = wrapped();
    let memory = backend.inner().clone();
    assert!(backend.atomic_commit(), "the inner backend's answer");
    backend.enqueue(vec![env("A"), env("A")]).await.unwrap();
    backend.send(ev("A")).await.unwrap();
    let got = backend.pull(3, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 3);
    let mut got = got.into_iter();
    backend.ack(vec![got.next().unwrap().token]).await.unwrap();
    backend
        .nack(got.next().unwrap(), "no".into())
        .await
        .unwrap();
    backend.release(vec![got.next().unwrap()]).await.unwrap();
    let two = backend.pull(2, Duration::ZERO).await.unwrap();
    backend
        .commit(vec![env("B")], two.into_iter().map(|d| d.token).collect())
        .await
        .unwrap();
    backend
        .store(DeadLetter::with_reason(
            ev("C"),
            Metadata::default(),
            DeadLetterKind::HandlerFailed,
            "test",
            1,
        ))
        .await
        .unwrap();
    assert_eq!(backend.dead_letter_count().await.unwrap(), 1);
    assert!(backend.health().await.healthy);
    Backend::close(&backend).await.unwrap();
    assert!(memory.is_closed(), "close reached the inner backend");
    assert_eq!(memory.len(), 1, "B");
    assert_eq!(memory.in_flight(), 0);
    assert_eq!(
        faults.counts(),
        vec![
            (Op::Enqueue, 1),
            (Op::Send, 1),
            (Op::Pull, 2),
            (Op::Ack, 1),
            (Op::Nack, 1),
            (Op::Release, 1),
            (Op::Commit, 1),
            (Op::Close, 1),
            (Op::Store, 1),
            (Op::DeadLetterQueue, 1),
            (Op::Health, 1),
        ]
    );
    assert!(Op::ALL.iter().all(|&op| faults.injected(op) == 0));
}

/// Which of the next `n` enqueues fail (1-based call numbers).
async fn failing_enqueues(backend: &FaultyBackend<MemoryBackend>, n: u64) -> Vec<u64> {
    let mut failed = Vec::new();
    for _ in 0..n {
        if backend.enqueue(vec![env("A")]).await.is_err() {
            failed.push(backend.faults().calls(Op::Enqueue));
        }
    }
    failed
}

#[tokio::test]
async fn call_windows_pick_the_calls_that_fail() {
    let (backend, faults) = wrapped();
    faults.fail(Op::Enqueue, Calls::nth(2), FaultError::unavailable());
    assert_eq!(failing_enqueues(&backend, 4).await, vec![2]);
    faults.clear();
    faults.fail(Op::Enqueue, Calls::from(7), FaultError::permanent());
    assert_eq!(failing_enqueues(&backend, 4).await, vec![7, 8]);
    faults.clear_op(Op::Enqueue);
    // Counted from the rule's addition: calls 9 and 10.
    faults.fail(Op::Enqueue, Calls::next(2), FaultError::full(1));
    assert_eq!(failing_enqueues(&backend, 4).await, vec![9, 10]);
    faults.fail(Op::Enqueue, Calls::always(), FaultError::closed());
    assert_eq!(failing_enqueues(&backend, 2).await, vec![13, 14]);
    assert_eq!(faults.injected(Op::Enqueue), 7);
    assert_eq!(backend.inner().len(), 7, "the calls that went through");
    // A rule for another operation leaves enqueue alone.
    faults.clear();
    faults.fail(Op::Commit, Calls::always(), FaultError::unavailable());
    assert!(failing_enqueues(&backend, 2).await.is_empty());
}

#[tokio::test]
async fn the_error_kinds_are_what_the_spine_tells_apart() {
    let kinds = [
        (FaultError::unavailable(), true, true, true),
        (
            FaultError::timeout(Duration::from_secs(2)),
            true,
            true,
            false,
        ),
        (FaultError::full(8), true, false, false),
        (FaultError::closed(), false, true, false),
        (FaultError::permanent(), false, false, true),
        (FaultError::command("NOSCRIPT"), false, false, true),
    ];
    for (fault, transient, unreachable, injected) in kinds {
        let err = fault.error();
        assert_eq!(err.is_transient(), transient, "{err}");
        assert_eq!(err.is_unreachable(), unreachable, "{err}");
        assert_eq!(FaultError::is_injected(&err), injected, "{err}");
    }
    let err = FaultError::command("NOSCRIPT").error();
    assert!(matches!(err, BackendError::Command(_)));
    assert_eq!(
        necro_core::error_chain(&err),
        "backend command failed: NOSCRIPT"
    );
    let custom = FaultError::with(|| BackendError::UnknownToken("t-1".into()));
    assert!(matches!(custom.error(), BackendError::UnknownToken(t) if t == "t-1"));
    assert_eq!(InjectedFault("x".into()).to_string(), "x");
}

#[tokio::test]
async fn the_first_matching_failure_wins_and_is_reported() {
    let (backend, faults) = wrapped();
    faults
        .fail(
            Op::Ack,
            Calls::nth(1),
            FaultError::timeout(Duration::from_secs(1)),
        )
        .fail(Op::Ack, Calls::always(), FaultError::closed());
    let err = backend.ack(Vec::new()).await.unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err}");
    let err = backend.ack(Vec::new()).await.unwrap_err();
    assert!(matches!(err, BackendError::Closed), "{err}");
}

#[tokio::test]
async fn a_commit_can_fail_after_it_applied() {
    let (backend, faults) = wrapped();
    let memory = backend.inner().clone();
    backend.send(ev("A")).await.unwrap();
    let a = backend.pull(1, Duration::ZERO).await.unwrap();
    faults.fail_after(
        Op::Commit,
        Calls::next(1),
        FaultError::timeout(Duration::from_secs(2)),
    );
    let err = backend
        .commit(vec![env("B")], vec![a[0].token])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err}");
    assert_eq!(faults.injected(Op::Commit), 1);
    // It applied all the same: B is queued, A is acked.
    assert_eq!(memory.len(), 1);
    assert_eq!(memory.in_flight(), 0);
    let b = backend.pull(1, Duration::ZERO).await.unwrap();
    assert_eq!(b[0].event.event_type(), "B");
}

#[tokio::test]
async fn fail_after_reports_the_inner_error_when_the_inner_call_fails() {
    let backend = FaultyBackend::new(MemoryBackend::bounded(1).unwrap());
    let faults = backend.faults().clone();
    faults.fail_after(Op::Enqueue, Calls::always(), FaultError::unavailable());
    let err = backend.enqueue(vec![env("A"), env("A")]).await.unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 1 }), "{err}");
    assert_eq!(faults.injected(Op::Enqueue), 0);
    let err = backend.enqueue(vec![env("A")]).await.unwrap_err();
    assert!(FaultError::is_injected(&err), "{err}");
    assert_eq!(backend.inner().len(), 1, "applied, then failed");
    assert_eq!(faults.injected(Op::Enqueue), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_is_added_on_tokio_time_and_delays_add_up() {
    let (backend, faults) = wrapped();
    faults
        .delay(Op::Pull, Calls::nth(1), Duration::from_millis(250))
        .delay(Op::Pull, Calls::always(), Duration::from_millis(50));
    backend.send(ev("A")).await.unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(backend.pull(1, Duration::ZERO).await.unwrap().len(), 1);
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let start = tokio::time::Instant::now();
    backend.pull(1, Duration::ZERO).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    // A delayed call can still fail, after its delay.
    faults.fail(Op::Pull, Calls::next(1), FaultError::unavailable());
    let start = tokio::time::Instant::now();
    backend.pull(1, Duration::ZERO).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test]
async fn a_failed_health_check_is_an_unhealthy_report() {
    let (backend, faults) = wrapped();
    faults.fail(Op::Health, Calls::next(1), FaultError::unavailable());
    let report = backend.health().await;
    assert!(!report.healthy);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "{report:?}"
    );
    assert!(backend.health().await.healthy);
}

#[tokio::test]
async fn the_dead_letter_capabilities_can_fail_too() {
    let (backend, faults) = wrapped();
    faults
        .fail(Op::Store, Calls::always(), FaultError::closed())
        .fail(
            Op::DeadLetterQueue,
            Calls::nth(2),
            FaultError::unavailable(),
        );
    let letter = DeadLetter::with_reason(
        ev("C"),
        Metadata::default(),
        DeadLetterKind::HandlerFailed,
        "test",
        1,
    );
    let err = backend.store(letter).await.unwrap_err();
    assert!(matches!(err, BackendError::Closed));
    assert!(backend.inner().dead_letters().is_empty());
    assert_eq!(backend.dead_letter_count().await.unwrap(), 0);
    let query = necro_core::DeadLetterQuery::new(10);
    backend.dead_letter_page(&query).await.unwrap_err();
    assert!(
        backend
            .dead_letter_page(&query)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

#[tokio::test]
async fn a_split_commit_failing_between_its_steps_enqueues_without_acking() {
    let memory = MemoryBackend::new();
    let faults = Faults::new();
    let backend = FaultyBackend::with_faults(memory.clone(), faults.clone()).split_commit();
    assert!(!backend.atomic_commit());
    backend.send(ev("A")).await.unwrap();
    let a = backend.pull(1, Duration::ZERO).await.unwrap();
    faults.fail(Op::Ack, Calls::next(1), FaultError::unavailable());
    let err = backend
        .commit(vec![env("B")], vec![a[0].token])
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert_eq!(memory.len(), 1, "B was enqueued");
    assert_eq!(memory.in_flight(), 1, "A was not acked");
    assert_eq!(
        (
            faults.calls(Op::Commit),
            faults.calls(Op::Enqueue),
            faults.calls(Op::Ack)
        ),
        (1, 1, 1)
    );
    // The same commit on the atomic path applies nothing when it fails.
    let atomic = FaultyBackend::with_faults(memory.clone(), faults.clone());
    assert!(atomic.atomic_commit());
    faults.fail(Op::Commit, Calls::next(1), FaultError::unavailable());
    atomic
        .commit(vec![env("B")], vec![a[0].token])
        .await
        .unwrap_err();
    assert_eq!((memory.len(), memory.in_flight()), (1, 1), "unchanged");
}

#[test]
fn the_wrapper_is_send_sync_clone_and_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    check::<FaultyBackend<MemoryBackend>>();
    check::<Faults>();
    check::<FaultError>();
    let faults = Faults::new();
    faults.fail(Op::Commit, Calls::nth(1), FaultError::closed());
    assert!(format!("{faults:?}").contains("Closed"), "{faults:?}");
}
