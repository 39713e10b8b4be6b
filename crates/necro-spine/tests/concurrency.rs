//! Concurrency above one: no loss, no duplicate, on a multi-thread runtime.
mod support;

use std::collections::HashMap;
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::Spine;
use support::{CallLog, ev_n};

fn stage(
    name: &'static str,
    input: &'static str,
    output: Option<&'static str>,
    log: &CallLog,
) -> necro_core::BoxedOrgan {
    let log = log.clone();
    organ_fn(name, [input], move |ev: Event| {
        log.push(name, &ev);
        async move {
            // Vary the time each event takes so completions interleave.
            let n = ev.get("n").and_then(serde_json::Value::as_u64).unwrap_or(0);
            tokio::time::sleep(Duration::from_micros(n % 7 * 50)).await;
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
