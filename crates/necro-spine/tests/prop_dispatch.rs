//! Property: for random acyclic organ graphs, every event is processed exactly once and
//! every event reaches its organs in registration order.
mod support;

use std::collections::HashMap;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::Spine;
use proptest::prelude::*;
use support::CallLog;

/// An organ: the types it listens to, and the types it emits (always of a higher index,
/// so the graph has no cycle).
#[derive(Debug, Clone)]
struct OrganSpec {
    listens: Vec<usize>,
    emits: Vec<usize>,
}

fn graph() -> impl Strategy<Value = (usize, Vec<OrganSpec>, Vec<usize>, usize)> {
    (2usize..6).prop_flat_map(|types| {
        let organ = (0..types)
            .prop_flat_map(move |lo| (Just(lo), lo..types))
            .prop_flat_map(move |(lo, hi)| {
                (
                    Just(lo),
                    Just(hi),
                    proptest::collection::vec((hi + 1)..=types, 0..=2),
                )
            })
            .prop_map(move |(lo, hi, emits)| OrganSpec {
                listens: if lo == hi { vec![lo] } else { vec![lo, hi] },
                // Index `types` means "emit nothing" here; drop those.
                emits: emits.into_iter().filter(|&t| t < types).collect(),
            });
        (
            Just(types),
            proptest::collection::vec(organ, 1..5),
            proptest::collection::vec(0..types, 1..4),
            1usize..4,
        )
    })
}

fn ty(i: usize) -> String {
    format!("T{i}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_event_once_in_organ_order((types, organs, roots, concurrency) in graph()) {
        let _ = types;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let log = CallLog::default();
            let backend = MemoryBackend::new();
            let mut builder = Spine::builder(backend.clone()).concurrency(concurrency).max_steps(1_000_000);
            for (i, spec) in organs.iter().enumerate() {
                let name = format!("O{i}");
                let emits: Vec<String> = spec.emits.iter().map(|&t| ty(t)).collect();
                let log = log.clone();
                let n2 = name.clone();
                builder = builder.organ(organ_fn(name, spec.listens.iter().map(|&t| ty(t)), move |ev: Event| {
                    log.push(&n2, &ev);
                    let emits = emits.clone();
                    async move {
                        emits.iter().map(|t| Event::new(t, serde_json::json!({}))).collect::<Result<Vec<_>, _>>()
                            .map(Emit::many)
                            .map_err(Into::into)
                    }
                }));
            }
            let spine = builder.build().unwrap();
            for &r in &roots {
                spine.send(Event::new(ty(r), serde_json::json!({})).unwrap()).await.unwrap();
            }
            let stats = tokio::time::timeout(std::time::Duration::from_secs(20), spine.run_until_drained())
                .await
                .expect("run hung")
                .unwrap();

            // Expected: simulate the flow by counting events per type.
            let mut count_per_type: HashMap<usize, u64> = HashMap::new();
            let mut frontier: Vec<usize> = roots.clone();
            let mut total = 0u64;
            while let Some(t) = frontier.pop() {
                total += 1;
                *count_per_type.entry(t).or_default() += 1;
                for spec in &organs {
                    if spec.listens.contains(&t) {
                        frontier.extend(spec.emits.iter().copied());
                    }
                }
            }
            prop_assert_eq!(stats.processed, total);
            prop_assert!(backend.is_idle());

            let calls = log.calls();
            // Each (organ, event) exactly once, and per event the organ order is registration order.
            let mut per_event: HashMap<uuid::Uuid, Vec<usize>> = HashMap::new();
            for (organ, _t, id) in &calls {
                let idx: usize = organ[1..].parse().unwrap();
                per_event.entry(*id).or_default().push(idx);
            }
            for (id, organs_seen) in &per_event {
                let mut sorted = organs_seen.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(&sorted, organs_seen, "event {} out of order or duplicated", id);
            }
            // Per organ: calls equal the events of the types it listens to.
            for (i, spec) in organs.iter().enumerate() {
                let expected: u64 = spec.listens.iter().map(|t| count_per_type.get(t).copied().unwrap_or(0)).sum();
                let got = calls.iter().filter(|c| c.0 == format!("O{i}")).count() as u64;
                prop_assert_eq!(got, expected, "organ O{}", i);
            }
            Ok(())
        })?;
    }
}
