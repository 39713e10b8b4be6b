//! The commit under injected failures (`necro_testkit::FaultyBackend`): on an atomic backend a
//! failing commit applies neither the emitted events nor the acks, whatever the enqueue
//! failure mode; a non-atomic commit failing between its enqueue and its ack, or a commit
//! whose answer is lost after it applied, duplicates output (at-least-once).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, DeadLetterKind};
use necro_spine::{EnqueueFailureMode, RetryPolicy, RunError, Spine};
use necro_testkit::fault::{Calls, FaultError, FaultyBackend, Op};
use support::{CallLog, emits_b, ev, faulty, recorder};

/// Sends three As, runs them in one batch through `EmitsB` on `backend` with `mode`, and
/// returns the run's result.
async fn run_three(
    backend: &FaultyBackend<MemoryBackend>,
    mode: EnqueueFailureMode,
) -> Result<necro_spine::Stats, RunError> {
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .enqueue_failure_mode(mode)
        .retry_policy(RetryPolicy::exponential(2, Duration::from_millis(10)).with_jitter(false))
        .build()
        .unwrap();
    for _ in 0..3 {
        spine.send(ev("A")).await.unwrap();
    }
    spine.run_until_drained().await
}

// Issue 13: the atomic-commit conformance case at the spine's level. The commit fails
// before it reaches the backend, refused or unreachable; in every mode the queue then holds
// the three sources and nothing else, none of them acked, none of the output enqueued.
#[tokio::test(start_paused = true)]
async fn a_failing_commit_on_an_atomic_backend_applies_neither_the_output_nor_the_acks() {
    let errors = [
        FaultError::permanent(),
        FaultError::unavailable(),
        FaultError::timeout(Duration::from_secs(2)),
    ];
    for error in errors {
        for mode in [EnqueueFailureMode::Fail, EnqueueFailureMode::Retry] {
            let backend = faulty();
            assert!(backend.atomic_commit());
            let faults = backend.faults();
            faults.fail(Op::Commit, Calls::always(), error.clone());
            let err = run_three(&backend, mode).await.unwrap_err();
            let case = format!("{error:?} under {mode:?}");
            assert!(matches!(err, RunError::Enqueue { .. }), "{case}: {err}");
            let memory = backend.inner();
            assert_eq!(memory.in_flight(), 0, "{case}: every source given back");
            let left = memory.pull(10, Duration::ZERO).await.unwrap();
            assert_eq!(left.len(), 3, "{case}: the sources, and only them");
            assert!(left.iter().all(|d| d.event.event_type() == "A"), "{case}");
            assert_eq!(
                faults.calls(Op::Enqueue),
                3,
                "{case}: the three sends, no enqueue on the side"
            );
            assert_eq!(faults.calls(Op::Ack), 0, "{case}: no ack on the side");
            assert!(memory.dead_letters().is_empty(), "{case}");
        }
    }
}

/// Runs one A through `EmitsB` under RETRY and counts the Bs handled.
async fn bs_handled_under_retry(backend: FaultyBackend<MemoryBackend>) -> usize {
    let log = CallLog::default();
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .organ(recorder("B", &["B"], None, &log))
        .enqueue_failure_mode(EnqueueFailureMode::Retry)
        .retry_policy(RetryPolicy::exponential(2, Duration::from_millis(10)).with_jitter(false))
        .build()
        .unwrap();
    spine.run_event(ev("A")).await.unwrap();
    assert!(backend.inner().is_idle());
    log.len()
}

// A retried commit on an atomic backend enqueues the output once; on a backend whose commit is
// an enqueue then an ack, a failed ack leaves the output enqueued, and the retry enqueues it
// again.
#[tokio::test(start_paused = true)]
async fn a_retried_commit_duplicates_output_only_when_the_commit_is_not_atomic() {
    let atomic = faulty();
    atomic
        .faults()
        .fail(Op::Commit, Calls::nth(1), FaultError::unavailable());
    assert_eq!(bs_handled_under_retry(atomic).await, 1);

    let split = faulty().split_commit();
    assert!(!split.atomic_commit());
    split
        .faults()
        .fail(Op::Ack, Calls::nth(1), FaultError::unavailable());
    assert_eq!(bs_handled_under_retry(split).await, 2, "B twice");
}

// A commit that applied but whose answer was lost (a timeout after the fact): under STORE the
// spine dead-letters the output it believes failed, so B is both enqueued (and handled) and
// dead-lettered, as docs/failure-handling.md warns; A, acked by the lost commit, is not left
// unsettled.
#[tokio::test(start_paused = true)]
async fn a_commit_whose_answer_is_lost_leaves_the_output_both_enqueued_and_dead_lettered() {
    let backend = faulty();
    let faults = backend.faults();
    faults.fail_after(
        Op::Commit,
        Calls::nth(1),
        FaultError::timeout(Duration::from_secs(2)),
    );
    let log = CallLog::default();
    let spine = Spine::builder(backend.clone())
        .organ(emits_b())
        .organ(recorder("B", &["B"], None, &log))
        .build()
        .unwrap();
    let result = spine.run_event(ev("A")).await;
    assert_eq!(log.len(), 1, "B was enqueued and handled");
    let memory = backend.inner();
    let letters = memory.dead_letters().list();
    assert_eq!(letters.len(), 1, "and dead-lettered: {letters:?}");
    assert_eq!(letters[0].kind, DeadLetterKind::EnqueueFailed);
    assert_eq!(letters[0].event.event_type(), "B");
    assert!(memory.is_idle(), "A was acked by the commit that applied");
    // The spine's own ack of A, and giving A back, are refused as unknown tokens (the lost
    // commit acked it): A is settled, so the run ends well.
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(faults.injected(Op::Commit), 1);
}
