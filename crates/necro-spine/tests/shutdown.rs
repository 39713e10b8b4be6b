//! Service runs and graceful shutdown with events in flight.
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::{RunError, Spine};
use support::{CallLog, ev_n};

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_and_acks_events_in_flight() {
    let backend = MemoryBackend::new();
    let started = Arc::new(AtomicU32::new(0));
    let finished = CallLog::default();
    let (s, f) = (Arc::clone(&started), finished.clone());
    let slow = organ_fn("Slow", ["JOB"], move |ev: Event| {
        s.fetch_add(1, Ordering::SeqCst);
        let f = f.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.push("Slow", &ev);
            Ok(Emit::none())
        }
    });
    let spine = Spine::builder(backend.clone())
        .organ(slow)
        .concurrency(4)
        .batch_size(4)
        .build()
        .unwrap();
    for n in 0..40 {
        spine.send(ev_n("JOB", n)).await.unwrap();
    }
    let runner = {
        let spine = spine.clone();
        tokio::spawn(async move { spine.run().await })
    };
    // Let a few batches start, then ask to stop while four are in flight.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        started.load(Ordering::SeqCst) as usize > finished.len(),
        "events are in flight"
    );
    spine.shutdown_handle().shutdown();
    let stats = runner.await.unwrap().unwrap();

    // Everything started finished and was acked; nothing else was taken.
    assert_eq!(started.load(Ordering::SeqCst) as usize, finished.len());
    assert_eq!(stats.processed as usize, finished.len());
    assert_eq!(backend.in_flight(), 0);
    assert_eq!(backend.len() + finished.len(), 40, "nothing lost");
    assert!(finished.len() < 40);

    // The rest is still there for the next run.
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.processed, 40);
    let ids: HashSet<_> = finished.calls().into_iter().map(|c| c.2).collect();
    assert_eq!(ids.len(), 40, "no duplicates");
}

#[tokio::test(start_paused = true)]
async fn run_until_a_signal_stops_gracefully() {
    let backend = MemoryBackend::new();
    let log = CallLog::default();
    let spine = Spine::builder(backend.clone())
        .organ(support::recorder("R", &["JOB"], None, &log))
        .build()
        .unwrap();
    let producer = {
        let spine = spine.clone();
        tokio::spawn(async move {
            for n in 0..10 {
                spine.send(ev_n("JOB", n)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let stats = spine
        .run_until(tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    producer.await.unwrap();
    assert_eq!(stats.processed, 10);
    assert_eq!(log.len(), 10);
    assert!(backend.is_idle());
}

#[tokio::test]
async fn a_spine_runs_once_at_a_time() {
    let spine = Spine::builder(MemoryBackend::new()).build().unwrap();
    let handle = spine.shutdown_handle();
    let first = {
        let spine = spine.clone();
        tokio::spawn(async move { spine.run().await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = spine.run_until_drained().await.unwrap_err();
    assert!(matches!(err, RunError::AlreadyRunning), "{err}");
    handle.shutdown();
    first.await.unwrap().unwrap();
}
