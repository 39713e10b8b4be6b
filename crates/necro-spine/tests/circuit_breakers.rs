//! The per-organ circuit breaker and the backend circuit breaker.
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, OrganError, organ_fn};
use necro_spine::{
    BackendBreakerConfig, CircuitBreakerConfig, CircuitState, OrganOptions, RetryPolicy, RunError,
    Spine,
};
use necro_testkit::fault::{Calls, FaultError, FaultyBackend, Op};
use support::ev;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn organ_breaker_opens_fails_fast_and_recovers_after_cooldown() {
    let healthy = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU32::new(0));
    let (h, c) = (Arc::clone(&healthy), Arc::clone(&calls));
    let smtp = organ_fn("Email", ["SEND"], move |_ev: Event| {
        c.fetch_add(1, Ordering::SeqCst);
        let ok = h.load(Ordering::SeqCst);
        async move {
            if ok {
                Ok(Emit::none())
            } else {
                Err(OrganError::msg("smtp unreachable"))
            }
        }
    });
    let spine = Spine::builder(MemoryBackend::new())
        .organ_with(
            smtp,
            OrganOptions::new()
                .retry(RetryPolicy::none())
                .circuit_breaker(CircuitBreakerConfig::new(2, Duration::from_secs(10))),
        )
        .build()
        .unwrap();
    for _ in 0..4 {
        spine.send(ev("SEND")).await.unwrap();
    }
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "open after two failures");
    assert_eq!(stats.circuit_rejections, 2);
    assert_eq!(
        stats.handler_errors.get("Email"),
        Some(&4),
        "rejections are failures too"
    );
    assert_eq!(spine.circuit_state("Email"), Some(CircuitState::Open));

    // Still open before the cooldown ends.
    tokio::time::advance(Duration::from_secs(5)).await;
    spine.run_event(ev("SEND")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // After the cooldown a trial call goes through; it fails, so the circuit opens again.
    tokio::time::advance(Duration::from_secs(6)).await;
    spine.run_event(ev("SEND")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(spine.circuit_state("Email"), Some(CircuitState::Open));

    // The service is back: the next trial succeeds and closes it.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(11)).await;
    spine.run_event(ev("SEND")).await.unwrap();
    spine.run_event(ev("SEND")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(spine.circuit_state("Email"), Some(CircuitState::Closed));
}

/// A memory backend whose next `n` pulls fail as a refused connection.
fn failing_pulls(n: u64) -> FaultyBackend<MemoryBackend> {
    let backend = support::faulty();
    backend
        .faults()
        .fail(Op::Pull, Calls::next(n), FaultError::unavailable());
    backend
}

#[tokio::test(start_paused = true)]
async fn backend_breaker_backs_off_and_stops_a_drain_run() {
    let backend = failing_pulls(100);
    let spine = Spine::builder(backend.clone())
        .backend_breaker(BackendBreakerConfig {
            failure_threshold: 4,
            cooldown: Duration::from_secs(30),
        })
        .build()
        .unwrap();
    let start = Instant::now();
    let err = spine.run_until_drained().await.unwrap_err();
    assert!(
        matches!(err, RunError::BackendUnavailable { failures: 4, .. }),
        "{err}"
    );
    assert_eq!(backend.faults().calls(Op::Pull), 4);
    // Backoff between failed pulls: 50 + 100 + 200 ms, no tight loop.
    assert_eq!(start.elapsed(), Duration::from_millis(350));
    assert_eq!(spine.stats().backend_errors, 4);
}

#[tokio::test(start_paused = true)]
async fn backend_breaker_in_a_service_waits_out_the_cooldown_and_resumes() {
    let backend = failing_pulls(3);
    let spine = Spine::builder(backend.clone())
        .organ(support::recorder(
            "R",
            &["A"],
            None,
            &support::CallLog::default(),
        ))
        .backend_breaker(BackendBreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(30),
        })
        .build()
        .unwrap();
    spine.send(ev("A")).await.unwrap();
    let runner = {
        let spine = spine.clone();
        tokio::spawn(async move { spine.run().await })
    };
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(spine.stats().processed, 0, "still open");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(spine.stats().processed, 1, "resumed after the cooldown");
    spine.shutdown_handle().shutdown();
    let stats = runner.await.unwrap().unwrap();
    assert_eq!(stats.backend_errors, 3);
    assert!(backend.inner().is_idle());
}
