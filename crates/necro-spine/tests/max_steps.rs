//! `max_steps`: exactly max_steps events is a clean run; one more is a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, Emit, Event, organ_fn};
use necro_spine::{RunError, Spine};
use support::{CallLog, ev, recorder};

fn chain(log: &CallLog, max_steps: u64) -> (MemoryBackend, Spine<MemoryBackend>) {
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(recorder("S1", &["START"], Some("STEP2"), log))
        .organ(recorder("S2", &["STEP2"], Some("STEP3"), log))
        .organ(recorder("S3", &["STEP3"], None, log))
        .max_steps(max_steps)
        .build()
        .unwrap();
    (backend, spine)
}

#[tokio::test]
async fn exactly_max_steps_is_a_clean_run() {
    let log = CallLog::default();
    let (backend, spine) = chain(&log, 3);
    let stats = spine.run_event(ev("START")).await.unwrap();
    assert_eq!(stats.processed, 3);
    assert!(backend.is_idle());
}

#[tokio::test]
async fn one_more_is_an_error_and_the_event_is_kept() {
    let log = CallLog::default();
    let (backend, spine) = chain(&log, 2);
    let err = spine.run_event(ev("START")).await.unwrap_err();
    assert!(
        matches!(err, RunError::MaxStepsExceeded { max_steps: 2 }),
        "{err}"
    );
    assert_eq!(log.organs(), ["S1", "S2"]);
    // STEP3 was not processed and not lost: it is back in the queue.
    assert_eq!(backend.len(), 1);
    assert_eq!(backend.in_flight(), 0);
    // A later run picks it up.
    spine.run_until_drained().await.unwrap();
    assert_eq!(log.organs(), ["S1", "S2", "S3"]);
}

#[tokio::test]
async fn a_runaway_loop_stops_with_a_typed_error() {
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(organ_fn("Loop", ["PING"], |_ev: Event| async {
            Ok(Emit::one(support::ev("PING")))
        }))
        .max_steps(500)
        .build()
        .unwrap();
    let err = spine.run_event(ev("PING")).await.unwrap_err();
    assert!(
        matches!(err, RunError::MaxStepsExceeded { max_steps: 500 }),
        "{err}"
    );
    assert_eq!(spine.stats().processed, 500);
}

#[tokio::test]
async fn what_max_steps_left_unhandled_keeps_its_attempt() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(recorder("S", &["START"], None, &log))
        .max_steps(2)
        .build()
        .unwrap();
    for _ in 0..10 {
        spine.send(ev("START")).await.unwrap();
    }
    // Three runs in a row stop at max_steps; the events they pulled but never handled are
    // given back as unhandled, so no attempt is counted against them (three nacks would have
    // dead-lettered them at the default max_deliveries).
    for _ in 0..3 {
        let err = spine.run_until_drained().await.unwrap_err();
        assert!(matches!(err, RunError::MaxStepsExceeded { .. }), "{err}");
    }
    let left = backend.pull(10, std::time::Duration::ZERO).await.unwrap();
    assert!(!left.is_empty());
    assert!(
        left.iter().all(|d| d.attempt == 1),
        "{:?}",
        left.iter().map(|d| d.attempt).collect::<Vec<_>>()
    );
    assert_eq!(backend.dead_letters().len(), 0);
}
