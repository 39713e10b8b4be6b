//! Service runs and graceful shutdown with events in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, Emit, Event, organ_fn};
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

/// A service spine on `backend` whose organ takes `takes` per JOB, logging each it finished.
fn service(
    backend: &MemoryBackend,
    takes: Duration,
    concurrency: usize,
    finished: &CallLog,
) -> Spine<MemoryBackend> {
    let finished = finished.clone();
    let organ = organ_fn("Worker", ["JOB"], move |ev: Event| {
        let finished = finished.clone();
        async move {
            tokio::time::sleep(takes).await;
            finished.push("Worker", &ev);
            Ok(Emit::none())
        }
    });
    Spine::builder(backend.clone())
        .organ(organ)
        .concurrency(concurrency)
        .batch_size(8)
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Sends `n` JOBs, starts a service run and asks it to stop `after` that. Returns the run's
/// result, how long it took to stop, and how many events were back in the queue 10 ms after
/// the request.
async fn stop_while_busy(
    spine: &Spine<MemoryBackend>,
    n: u64,
    after: Duration,
) -> (Result<necro_spine::Stats, RunError>, Duration, usize) {
    for i in 0..n {
        spine.send(ev_n("JOB", i)).await.unwrap();
    }
    let runner = {
        let spine = spine.clone();
        tokio::spawn(async move { spine.run().await })
    };
    tokio::time::sleep(after).await;
    let asked = tokio::time::Instant::now();
    spine.shutdown_handle().shutdown();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let back_at_once = spine.backend().len();
    let result = tokio::time::timeout(Duration::from_secs(60), runner)
        .await
        .expect("the run stops at the shutdown deadline")
        .unwrap();
    (result, asked.elapsed(), back_at_once)
}

// Issue 10 item 9: events pulled but not started are given back at once on shutdown, not
// handled first (one slot: the rest of the batch waits in the runner's queue).
#[tokio::test(start_paused = true)]
async fn shutdown_gives_back_what_was_pulled_but_not_started() {
    for concurrency in [1, 2] {
        let backend = MemoryBackend::new();
        let finished = CallLog::default();
        let spine = service(&backend, Duration::from_millis(100), concurrency, &finished);
        let (result, took, back_at_once) =
            stop_while_busy(&spine, 6, Duration::from_millis(50)).await;
        let stats = result.unwrap();
        assert_eq!(back_at_once, 6 - concurrency, "given back at once");
        assert_eq!(
            finished.len(),
            concurrency,
            "only the events in flight finish"
        );
        assert_eq!(stats.processed as usize, concurrency);
        assert_eq!(stats.released as usize, 6 - concurrency, "{stats:?}");
        assert!(took <= Duration::from_millis(60), "{took:?}");
        assert_eq!(backend.in_flight(), 0);
        assert_eq!(backend.len(), 6 - concurrency, "given back, not lost");
        // Given back in order and without an attempt counted.
        let back = backend.pull(10, Duration::ZERO).await.unwrap();
        let ns: Vec<u64> = back
            .iter()
            .map(|d| d.event.payload()["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (concurrency as u64..6).collect::<Vec<_>>());
        assert!(back.iter().all(|d| d.attempt == 1));
    }
}

// Issue 10 item 9: an organ that would take far longer than the shutdown timeout does not
// hold the run: at the deadline its event is given back and the run returns.
#[tokio::test(start_paused = true)]
async fn the_shutdown_deadline_gives_back_events_still_being_handled() {
    for concurrency in [1, 4] {
        let backend = MemoryBackend::new();
        let finished = CallLog::default();
        let spine = service(&backend, Duration::from_secs(3600), concurrency, &finished);
        let (result, took, back_at_once) =
            stop_while_busy(&spine, 6, Duration::from_millis(50)).await;
        let stats = result.unwrap();
        assert_eq!(
            back_at_once,
            6 - concurrency,
            "not started: given back at once"
        );
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_millis(2100),
            "stopped {took:?} after the request, not at the 2 s deadline"
        );
        assert_eq!(finished.len(), 0);
        assert_eq!(stats.released, 6, "{stats:?}");
        assert_eq!(backend.in_flight(), 0, "concurrency {concurrency}");
        assert_eq!(backend.len(), 6, "every event is back in the queue");
        let back = backend.pull(10, Duration::ZERO).await.unwrap();
        assert!(back.iter().all(|d| d.attempt == 1));
        // The spine can run again and takes them up.
        assert!(!spine.shutdown_handle().is_requested());
    }
}

// Issue 10 item 9, with one runner per worker thread: each gives back what it holds at the
// deadline (real time: a 200 ms deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_deadline_holds_for_every_runner() {
    let backend = MemoryBackend::new();
    let finished = CallLog::default();
    let organ = {
        let finished = finished.clone();
        organ_fn("Stuck", ["JOB"], move |ev: Event| {
            let finished = finished.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                finished.push("Stuck", &ev);
                Ok(Emit::none())
            }
        })
    };
    let spine = Spine::builder(backend.clone())
        .organ(organ)
        .concurrency(4)
        .batch_size(2)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    for n in 0..10 {
        spine.send(ev_n("JOB", n)).await.unwrap();
    }
    let runner = {
        let spine = spine.clone();
        tokio::spawn(async move { spine.run().await })
    };
    // Wait until four are being handled (both runners have pulled).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backend.in_flight() < 4 {
        assert!(std::time::Instant::now() < deadline, "never busy");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    spine.shutdown_handle().shutdown();
    let stats = tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .expect("the run stops at the shutdown deadline")
        .unwrap()
        .unwrap();
    assert_eq!(finished.len(), 0);
    assert_eq!(backend.in_flight(), 0, "{stats:?}");
    assert_eq!(backend.len(), 10, "every event is back in the queue");
    assert_eq!(stats.released, stats.processed, "{stats:?}");
}
