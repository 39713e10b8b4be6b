//! Handler failure modes LOG, STORE, NACK; retry with backoff; panics and timeouts.
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{DeadLetterKind, Emit, Event, OrganError, organ_fn, sync_organ_fn};
use necro_spine::{HandlerFailureMode, OrganOptions, RetryPolicy, Spine};
use support::{CallLog, ev, failing, flaky, recorder};
use tokio::time::Instant;

fn no_retry() -> RetryPolicy {
    RetryPolicy::none()
}

#[tokio::test]
async fn log_mode_acks_and_keeps_other_organs_output() {
    let calls = Arc::new(AtomicU32::new(0));
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(failing("Bad", &["A"], &calls))
        .organ(recorder("Good", &["A"], Some("B"), &log))
        .organ(recorder("Sink", &["B"], None, &log))
        .retry_policy(no_retry())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(stats.handler_errors.get("Bad"), Some(&1));
    assert_eq!(log.organs(), ["Good", "Sink"]);
    assert_eq!(stats.dead_lettered, 0);
    assert!(backend.is_idle());
    assert!(backend.dead_letters().is_empty());
}

#[tokio::test]
async fn store_mode_dead_letters_with_every_organs_error() {
    let c1 = Arc::new(AtomicU32::new(0));
    let c2 = Arc::new(AtomicU32::new(0));
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(failing("First", &["A"], &c1))
        .organ(failing("Second", &["A"], &c2))
        .handler_failure_mode(HandlerFailureMode::Store)
        .retry_policy(no_retry())
        .build()
        .unwrap();
    let source = ev("A");
    let stats = spine.run_event(source.clone()).await.unwrap();
    assert_eq!(stats.dead_lettered, 1);
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.event.id(), source.id());
    assert_eq!(letter.kind, DeadLetterKind::HandlerFailed);
    assert_eq!(letter.organ.as_deref(), Some("First"));
    assert_eq!(letter.failures.len(), 2);
    assert!(letter.reason.contains("First is down"), "{}", letter.reason);
    assert!(
        letter.reason.contains("Second is down"),
        "{}",
        letter.reason
    );
    assert_eq!(letter.attempts, 1);
    assert!(backend.is_idle(), "the source is acked");
}

#[tokio::test]
async fn nack_mode_redelivers_then_the_backend_dead_letters() {
    let calls = Arc::new(AtomicU32::new(0));
    let backend = MemoryBackend::builder().max_deliveries(3).build().unwrap();
    let spine = Spine::builder(backend.clone())
        .organ(failing("Bad", &["A"], &calls))
        .handler_failure_mode(HandlerFailureMode::Nack)
        .retry_policy(no_retry())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "delivered three times");
    assert_eq!(stats.nacked, 2);
    assert_eq!(stats.nack_dead_lettered, 1);
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::MaxDeliveries);
    assert_eq!(letters[0].attempts, 3);
    assert!(
        letters[0].reason.contains("Bad is down"),
        "{}",
        letters[0].reason
    );
    assert!(backend.is_idle());
}

#[tokio::test]
async fn nack_mode_discards_other_organs_output_until_it_succeeds() {
    let calls = Arc::new(AtomicU32::new(0));
    let log = CallLog::default();
    let backend = MemoryBackend::builder().max_deliveries(5).build().unwrap();
    let spine = Spine::builder(backend.clone())
        .organ(recorder("Good", &["A"], Some("B"), &log))
        .organ(flaky("Flaky", &["A"], 2, &calls))
        .organ(recorder("Sink", &["B"], None, &log))
        .handler_failure_mode(HandlerFailureMode::Nack)
        .retry_policy(no_retry())
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(stats.nacked, 2);
    // Good ran three times, but only the successful delivery's output was enqueued.
    assert_eq!(log.organs(), ["Good", "Good", "Good", "Sink"]);
    assert_eq!(stats.emitted, 1);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_retry_with_exponential_backoff() {
    let calls = Arc::new(AtomicU32::new(0));
    let spine = Spine::builder(MemoryBackend::new())
        .organ(flaky("Flaky", &["A"], 3, &calls))
        .retry_policy(RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter(false))
        .build()
        .unwrap();
    let start = Instant::now();
    let stats = spine.run_event(ev("A")).await.unwrap();
    // 100 + 200 + 400 ms of backoff on tokio's paused clock.
    assert_eq!(start.elapsed(), Duration::from_millis(700));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(stats.retries, 3);
    assert!(stats.handler_errors.is_empty());
}

#[tokio::test(start_paused = true)]
async fn jittered_backoff_stays_within_bounds_and_cap() {
    let calls = Arc::new(AtomicU32::new(0));
    let spine = Spine::builder(MemoryBackend::new())
        .organ(failing("Down", &["A"], &calls))
        .retry_policy(
            RetryPolicy::exponential(4, Duration::from_millis(100))
                .with_max_delay(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    let start = Instant::now();
    let stats = spine.run_event(ev("A")).await.unwrap();
    // Full delays 100, 200, 300 (capped), 300; jitter draws each from its upper half.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed <= Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(stats.handler_errors.get("Down"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn per_organ_retry_policy_overrides_the_default() {
    let a = Arc::new(AtomicU32::new(0));
    let b = Arc::new(AtomicU32::new(0));
    let spine = Spine::builder(MemoryBackend::new())
        .organ(failing("Default", &["A"], &a))
        .organ_with(
            failing("Patient", &["A"], &b),
            OrganOptions::new().retry(RetryPolicy::exponential(6, Duration::from_millis(1))),
        )
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    spine.run_event(ev("A")).await.unwrap();
    assert_eq!(a.load(Ordering::SeqCst), 1);
    assert_eq!(b.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let spine = Spine::builder(MemoryBackend::new())
        .organ(organ_fn("Strict", ["A"], move |_ev: Event| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Err(OrganError::permanent_msg("invalid card")) }
        }))
        .build()
        .unwrap();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(stats.retries, 0);
}

#[tokio::test]
async fn a_panicking_organ_fails_alone_and_the_spine_keeps_running() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(organ_fn("Panics", ["A"], |_ev: Event| async {
            if true {
                panic!("boom");
            }
            Ok(Emit::none())
        }))
        .organ(sync_organ_fn("SyncPanics", ["A"], |_ev| {
            panic!("sync boom")
        }))
        .organ(recorder("Fine", &["A"], None, &log))
        .handler_failure_mode(HandlerFailureMode::Store)
        .build()
        .unwrap();
    spine.send(ev("A")).await.unwrap();
    spine.send(ev("A")).await.unwrap();
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.panics, 4, "panics are not retried");
    assert_eq!(log.len(), 2);
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 2);
    assert!(letters[0].reason.contains("boom"), "{}", letters[0].reason);
    assert!(
        letters[0].reason.contains("sync boom"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_organ_that_hangs_times_out() {
    let spine = Spine::builder(MemoryBackend::new())
        .organ(organ_fn("Hangs", ["A"], |_ev: Event| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Emit::none())
        }))
        .handler_timeout(Duration::from_secs(2))
        .retry_policy(RetryPolicy::exponential(1, Duration::from_millis(10)).with_jitter(false))
        .build()
        .unwrap();
    let start = Instant::now();
    let stats = spine.run_event(ev("A")).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(4010));
    assert_eq!(stats.timeouts, 2, "timeouts are retried");
    assert_eq!(stats.handler_errors.get("Hangs"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_sync_organ_times_out_without_stalling_the_runtime() {
    let spine = Spine::builder(MemoryBackend::new())
        .organ(sync_organ_fn("Blocks", ["A"], |_ev| {
            std::thread::sleep(Duration::from_millis(400));
            Ok(Emit::none())
        }))
        .handler_timeout(Duration::from_millis(50))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    // A ticker keeps running on the runtime while the organ blocks.
    let ticks = Arc::new(AtomicU32::new(0));
    let t = Arc::clone(&ticks);
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    let stats = spine.run_event(ev("A")).await.unwrap();
    ticker.abort();
    assert_eq!(stats.timeouts, 1);
    assert!(ticks.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn the_dead_letter_store_the_caller_passes_is_the_one_used() {
    let calls = Arc::new(AtomicU32::new(0));
    let backend = MemoryBackend::new();
    let store = necro_backend_memory::MemoryDeadLetters::new(5).unwrap();
    assert!(necro_backend_memory::MemoryDeadLetters::new(0).is_err());
    let spine = Spine::builder(backend.clone())
        .organ(failing("Bad", &["A"], &calls))
        .handler_failure_mode(HandlerFailureMode::Store)
        .retry_policy(no_retry())
        .dead_letters(store.clone())
        .build()
        .unwrap();
    spine.run_event(ev("A")).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(backend.dead_letters().is_empty());
}
