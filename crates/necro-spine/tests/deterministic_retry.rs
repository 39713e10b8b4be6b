//! Reproducible retry timing: tokio's paused clock (`start_paused`) runs the spine's backoff
//! on virtual time, and a seeded jitter makes each delay a pure function of (seed, retry), so
//! a test can assert the exact instants an organ was called at.
//!
//! tokio's timer counts whole milliseconds: a sleep of 73.94 ms ends at the next millisecond
//! tick, 74 ms on the paused clock. The gaps an organ sees are its policy's delays rounded
//! up to the millisecond, exactly and in every run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, OrganError, organ_fn};
use necro_spine::{EnqueueFailureMode, OrganOptions, RetryPolicy, Spine};
use necro_testkit::fault::{Calls, FaultError, Op};
use support::ev;
use tokio::time::Instant;

/// Runs one event through an organ that fails transiently three times, then succeeds, and
/// returns the gaps between its calls (virtual time).
async fn gaps_under(policy: RetryPolicy) -> Vec<Duration> {
    let calls: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let organ = {
        let calls = Arc::clone(&calls);
        organ_fn("Flaky", ["A"], move |_ev: Event| {
            let n = {
                let mut calls = calls.lock().unwrap();
                calls.push(Instant::now());
                calls.len()
            };
            async move {
                if n <= 3 {
                    Err(OrganError::msg("transient"))
                } else {
                    Ok(Emit::none())
                }
            }
        })
    };
    let spine = Spine::builder(MemoryBackend::new())
        .organ_with(organ, OrganOptions::new().retry(policy))
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(stats.processed, 1);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 4, "three failures, then success");
    calls.windows(2).map(|w| w[1] - w[0]).collect()
}

/// `d` rounded up to a whole millisecond: when a tokio sleep of `d` ends on the paused clock.
fn tick(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_seeded_jitter_gives_exact_reproducible_delays_on_virtual_time() {
    let policy = RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter_seed(2026);
    let expected: Vec<Duration> = (0..3).map(|r| tick(policy.delay(r))).collect();
    let wall = std::time::Instant::now();
    let first = gaps_under(policy).await;
    assert_eq!(first, expected, "the organ saw exactly the policy's delays");
    let second = gaps_under(policy).await;
    assert_eq!(second, first, "the same seed, the same delays");
    for (retry, gap) in (0u32..).zip(&first) {
        let full = Duration::from_millis(100) * 2u32.pow(retry);
        assert!(*gap >= full / 2 && *gap <= full, "retry {retry}: {gap:?}");
    }
    assert_ne!(
        first,
        vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ],
        "jittered, not the bare exponential"
    );
    assert!(
        wall.elapsed() < Duration::from_millis(300),
        "virtual time: the ~1.4 s of backoff took no wall-clock time"
    );
}

#[tokio::test(start_paused = true)]
async fn without_jitter_the_delays_are_the_bare_exponential() {
    let policy = RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter(false);
    let gaps = gaps_under(policy).await;
    assert_eq!(
        gaps,
        vec![
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );
}

// The RETRY enqueue mode backs off with the spine's policy: with a seed, a commit that fails
// twice (injected) succeeds on the third try after exactly the policy's first two delays.
#[tokio::test(start_paused = true)]
async fn a_retried_commit_waits_the_seeded_delays() {
    let policy = RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter_seed(99);
    let backend = support::faulty();
    backend
        .faults()
        .fail(Op::Commit, Calls::next(2), FaultError::unavailable());
    let spine = Spine::builder(backend.clone())
        .organ(support::emits_b())
        .enqueue_failure_mode(EnqueueFailureMode::Retry)
        .retry_policy(policy)
        .build()
        .unwrap();
    let start = Instant::now();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(
        start.elapsed(),
        tick(policy.delay(0)) + tick(policy.delay(1))
    );
    assert_eq!(stats.enqueue_retries, 2);
    assert_eq!(stats.emitted, 1);
    assert_eq!(
        backend.faults().calls(Op::Commit),
        4,
        "A's three tries, then B's"
    );
}
