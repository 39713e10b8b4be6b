//! Concurrency above one: no loss, no duplicate, on a multi-thread runtime.
mod support;

use std::collections::HashMap;
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::Spine;
use support::{CallLog, ev_n};

/// A chain stage that waits a little (varied per event, so completions interleave): every
/// event becomes a task of its own.
fn stage(
    name: &'static str,
    input: &'static str,
    output: Option<&'static str>,
    log: &CallLog,
) -> necro_core::BoxedOrgan {
    chain_stage(name, input, output, log, true)
}

/// A chain stage that finishes on its first poll (no await): the runners dispatch it inline.
fn instant_stage(
    name: &'static str,
    input: &'static str,
    output: Option<&'static str>,
    log: &CallLog,
) -> necro_core::BoxedOrgan {
    chain_stage(name, input, output, log, false)
}

fn chain_stage(
    name: &'static str,
    input: &'static str,
    output: Option<&'static str>,
    log: &CallLog,
    waits: bool,
) -> necro_core::BoxedOrgan {
    let log = log.clone();
    organ_fn(name, [input], move |ev: Event| {
        log.push(name, &ev);
        async move {
            if waits {
                let n = ev.get("n").and_then(serde_json::Value::as_u64).unwrap_or(0);
                tokio::time::sleep(Duration::from_micros(n % 7 * 50)).await;
            }
            match output {
                Some(t) => Ok(Emit::one(Event::new(t, ev.payload().clone().into())?)),
                None => Ok(Emit::none()),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_in_flight_lose_nothing_and_duplicate_nothing() {
    const N: u64 = 2_000;
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(stage("A", "A", Some("B"), &log))
        .organ(stage("B", "B", Some("C"), &log))
        .organ(stage("C", "C", None, &log))
        .concurrency(16)
        .max_steps(3 * N)
        .build()
        .unwrap();
    for n in 0..N {
        spine.send(ev_n("A", n)).await.unwrap();
    }
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.processed, 3 * N);
    assert_eq!(stats.emitted, 2 * N);
    assert!(backend.is_idle());

    let mut per_organ: HashMap<String, Vec<u64>> = HashMap::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (organ, _t, id) in log.calls() {
        assert!(seen_ids.insert(id), "event {id} handled twice");
        per_organ.entry(organ).or_default().push(0);
    }
    for organ in ["A", "B", "C"] {
        assert_eq!(per_organ[organ].len() as u64, N, "organ {organ}");
    }
}

// Four worker threads and concurrency 8: four runners share the backend. A drain run must
// still end only once every chain is complete (a runner that finds the queue empty while
// another holds events that will emit more has to wait for them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_runners_drain_every_chain_exactly_once() {
    const ROOTS: u64 = 50;
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(instant_stage("A", "A", Some("B"), &log))
        .organ(instant_stage("B", "B", Some("C"), &log))
        .organ(instant_stage("C", "C", Some("D"), &log))
        .organ(instant_stage("D", "D", None, &log))
        .concurrency(8)
        .batch_size(16)
        .max_steps(4 * ROOTS)
        .build()
        .unwrap();
    for round in 1..=3 {
        // Few roots for their steps: queues run empty while chains are still going.
        for n in 0..ROOTS {
            spine.send(ev_n("A", n)).await.unwrap();
        }
        let stats = spine.run_until_drained().await.unwrap();
        assert_eq!(stats.processed, 4 * ROOTS * round, "round {round}");
        assert!(backend.is_idle(), "round {round}");
        let calls = log.calls();
        let ids: std::collections::HashSet<_> = calls.iter().map(|c| c.2).collect();
        assert_eq!(ids.len(), calls.len(), "no event handled twice");
        assert_eq!(calls.len() as u64, 4 * ROOTS * round);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_steps_stops_every_runner_and_loses_nothing() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(instant_stage("A", "A", Some("B"), &log))
        .organ(instant_stage("B", "B", None, &log))
        .concurrency(8)
        .batch_size(4)
        .max_steps(100)
        .build()
        .unwrap();
    for n in 0..200 {
        spine.send(ev_n("A", n)).await.unwrap();
    }
    let err = spine.run_until_drained().await.unwrap_err();
    assert!(
        matches!(
            err,
            necro_spine::RunError::MaxStepsExceeded { max_steps: 100 }
        ),
        "{err}"
    );
    assert_eq!(
        backend.in_flight(),
        0,
        "every runner gave back what it held"
    );
    let processed = spine.stats().processed;
    assert!(processed <= 100, "{processed}");
    // Nothing was lost: what was not processed is still queued, and a later run finishes it.
    let again = Spine::builder(backend.clone())
        .organ(instant_stage("A", "A", Some("B"), &log))
        .organ(instant_stage("B", "B", None, &log))
        .concurrency(8)
        .max_steps(1_000)
        .build()
        .unwrap();
    again.run_until_drained().await.unwrap();
    assert!(backend.is_idle());
    let a = log.calls().iter().filter(|c| c.0 == "A").count();
    let b = log.calls().iter().filter(|c| c.0 == "B").count();
    assert_eq!((a, b), (200, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_runners_shut_down_gracefully() {
    let log = CallLog::default();
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(stage("A", "A", Some("B"), &log))
        .organ(stage("B", "B", None, &log))
        .concurrency(8)
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let runner = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run().await }
    });
    for n in 0..500 {
        spine.send(ev_n("A", n)).await.unwrap();
    }
    while !backend.is_idle() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    spine.shutdown_handle().shutdown();
    let stats = tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .expect("every runner stops")
        .unwrap()
        .unwrap();
    assert_eq!(stats.processed, 1_000);
    assert_eq!(backend.in_flight(), 0);
}

// A run whose future is dropped (here by a timeout around it) stops every runner, and the
// spine can run again: nothing goes on in the background after the caller gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_run_stops_its_runners_and_the_spine_runs_again() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .organ(organ_fn("Slow", ["A"], {
            let calls = std::sync::Arc::clone(&calls);
            move |_ev: Event| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Emit::none())
                }
            }
        }))
        .concurrency(8)
        .max_steps(1_000_000)
        .build()
        .unwrap();
    for n in 0..400 {
        spine.send(ev_n("A", n)).await.unwrap();
    }
    let cut = tokio::time::timeout(Duration::from_millis(100), spine.run_until_drained()).await;
    assert!(cut.is_err(), "the run was still going");
    let at_drop = calls.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        at_drop,
        "no organ ran after the run was dropped"
    );
    // Not AlreadyRunning: the spine runs again, and what the dropped run held comes back.
    backend.requeue_in_flight();
    let stats = spine.run_until_drained().await.unwrap();
    assert!(stats.processed >= 400, "{stats:?}");
    assert!(backend.is_idle());
}
