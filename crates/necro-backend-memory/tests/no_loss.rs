//! Property: under any sequence of operations no event is lost or duplicated.
//!
//! A model of the queue runs beside the backend. After every operation each enqueued event is
//! in exactly one of: queued, in flight, acked, dead-lettered; and the backend agrees with the
//! model on what is queued (order and attempts), in flight and dead-lettered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryDeadLetters, MemoryToken};
use necro_core::uuid::Uuid;
use necro_core::{Backend, BackendError, Delivery, Envelope, NackOutcome};
use proptest::prelude::*;
use proptest::sample::Index;
use support::event;

#[derive(Debug, Clone)]
enum Op {
    Enqueue(usize),
    Pull(usize),
    Ack(Index),
    AckAll,
    Nack(Index),
    Commit(usize, Option<Index>),
    AckSpent(Index),
    RequeueInFlight,
    Replay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..5).prop_map(Op::Enqueue),
        4 => (0usize..6).prop_map(Op::Pull),
        3 => any::<Index>().prop_map(Op::Ack),
        1 => Just(Op::AckAll),
        3 => any::<Index>().prop_map(Op::Nack),
        2 => ((0usize..4), proptest::option::of(any::<Index>()))
            .prop_map(|(k, i)| Op::Commit(k, i)),
        1 => any::<Index>().prop_map(Op::AckSpent),
        1 => Just(Op::RequeueInFlight),
        1 => Just(Op::Replay),
    ]
}

#[derive(Default)]
struct Model {
    capacity: Option<usize>,
    max_deliveries: u32,
    next_n: u64,
    all: Vec<Uuid>,
    /// (id, attempt of its next delivery)
    queue: VecDeque<(Uuid, u32)>,
    held: Vec<Delivery<MemoryToken>>,
    /// Deliveries already acked or nacked: their tokens must be unknown now.
    spent: Vec<Delivery<MemoryToken>>,
    acked: HashSet<Uuid>,
    dead: Vec<Uuid>,
}

impl Model {
    fn fits(&self, n: usize) -> bool {
        n == 0 || self.capacity.is_none_or(|c| self.queue.len() + n <= c)
    }

    fn new_batch(&mut self, k: usize) -> Vec<Envelope> {
        (0..k)
            .map(|_| {
                self.next_n += 1;
                Envelope::new(event(self.next_n))
            })
            .collect()
    }

    fn accept(&mut self, batch: &[Envelope]) {
        for e in batch {
            self.all.push(e.event.id());
            self.queue.push_back((e.event.id(), 1));
        }
    }

    fn give_back(&mut self, d: Delivery<MemoryToken>) {
        let id = d.event.id();
        if d.attempt >= self.max_deliveries {
            self.dead.push(id);
        } else {
            self.queue.push_back((id, d.attempt + 1));
        }
        self.spent.push(d);
    }

    fn check(&self, backend: &MemoryBackend, store: &MemoryDeadLetters) {
        // Each event in exactly one place.
        let mut places: HashMap<Uuid, usize> = HashMap::new();
        let held = self.held.iter().map(|d| d.event.id());
        let queued = self.queue.iter().map(|(id, _)| *id);
        for id in queued
            .chain(held)
            .chain(self.acked.iter().copied())
            .chain(self.dead.iter().copied())
        {
            *places.entry(id).or_default() += 1;
        }
        assert_eq!(places.len(), self.all.len(), "an event was lost");
        assert!(
            places.values().all(|&c| c == 1),
            "an event is in two places"
        );

        // The backend agrees.
        assert_eq!(backend.len(), self.queue.len());
        assert_eq!(backend.in_flight(), self.held.len());
        let dead: Vec<Uuid> = store.list().iter().map(|l| l.event.id()).collect();
        assert_eq!(dead, self.dead);
        assert_eq!(
            backend.is_idle(),
            self.queue.is_empty() && self.held.is_empty()
        );
    }
}

async fn run(capacity: Option<usize>, max_deliveries: u32, ops: Vec<Op>) {
    let store = MemoryDeadLetters::new(100_000).unwrap();
    let mut builder = MemoryBackend::builder()
        .max_deliveries(max_deliveries)
        .dead_letters(store.clone());
    if let Some(c) = capacity {
        builder = builder.capacity(c);
    }
    let backend = builder.build().unwrap();
    let mut m = Model {
        capacity,
        max_deliveries,
        ..Model::default()
    };

    for op in ops {
        match op {
            Op::Enqueue(k) => {
                let batch = m.new_batch(k);
                let fits = m.fits(k);
                let result = backend.enqueue(batch.clone()).await;
                if fits {
                    result.unwrap();
                    m.accept(&batch);
                } else {
                    assert!(matches!(result, Err(BackendError::Full { .. })));
                }
            }
            Op::Pull(max) => {
                let got = backend.pull(max, Duration::ZERO).await.unwrap();
                let expected: Vec<(Uuid, u32)> = m.queue.drain(..max.min(m.queue.len())).collect();
                let actual: Vec<(Uuid, u32)> =
                    got.iter().map(|d| (d.event.id(), d.attempt)).collect();
                assert_eq!(
                    actual, expected,
                    "pull must return the model's front, in order"
                );
                m.held.extend(got);
            }
            Op::Ack(i) => {
                if !m.held.is_empty() {
                    let d = m.held.swap_remove(i.index(m.held.len()));
                    backend.ack(vec![d.token]).await.unwrap();
                    m.acked.insert(d.event.id());
                    m.spent.push(d);
                }
            }
            Op::AckAll => {
                let held = std::mem::take(&mut m.held);
                backend
                    .ack(held.iter().map(|d| d.token).collect())
                    .await
                    .unwrap();
                for d in held {
                    m.acked.insert(d.event.id());
                    m.spent.push(d);
                }
            }
            Op::Nack(i) => {
                if !m.held.is_empty() {
                    let d = m.held.swap_remove(i.index(m.held.len()));
                    let outcome = backend.nack(d.clone(), "nope".into()).await.unwrap();
                    let expected = if d.attempt >= max_deliveries {
                        NackOutcome::DeadLettered
                    } else {
                        NackOutcome::Requeued {
                            next_attempt: d.attempt + 1,
                        }
                    };
                    assert_eq!(outcome, expected);
                    m.give_back(d);
                }
            }
            Op::Commit(k, ack) => {
                let batch = m.new_batch(k);
                let fits = m.fits(k);
                let ack = ack.filter(|_| !m.held.is_empty());
                let token: Vec<MemoryToken> = ack
                    .iter()
                    .map(|i| m.held[i.index(m.held.len())].token)
                    .collect();
                let result = backend.commit(batch.clone(), token).await;
                if fits {
                    result.unwrap();
                    m.accept(&batch);
                    if let Some(i) = ack {
                        let d = m.held.swap_remove(i.index(m.held.len()));
                        m.acked.insert(d.event.id());
                        m.spent.push(d);
                    }
                } else {
                    assert!(matches!(result, Err(BackendError::Full { .. })));
                }
            }
            Op::AckSpent(i) => {
                if !m.spent.is_empty() {
                    let d = m.spent[i.index(m.spent.len())].clone();
                    let result = backend.ack(vec![d.token]).await;
                    assert!(matches!(result, Err(BackendError::UnknownToken(_))));
                    let result = backend.nack(d, "again".into()).await;
                    assert!(matches!(result, Err(BackendError::UnknownToken(_))));
                }
            }
            Op::RequeueInFlight => {
                let mut held = std::mem::take(&mut m.held);
                held.sort_by_key(|d| d.token);
                assert_eq!(backend.requeue_in_flight(), held.len());
                for d in held {
                    m.give_back(d);
                }
            }
            Op::Replay => {
                let k = m.dead.len();
                let fits = m.fits(k);
                let result = store.replay_into(&backend);
                if fits {
                    assert_eq!(result.unwrap(), k);
                    for id in m.dead.drain(..) {
                        m.queue.push_back((id, 1));
                    }
                } else {
                    assert!(matches!(result, Err(BackendError::Full { .. })));
                }
            }
        }
        m.check(&backend, &store);
    }

    // Drain: what is left queued comes out exactly once, as the model says.
    let rest = backend.pull(usize::MAX, Duration::ZERO).await.unwrap();
    let rest_ids: Vec<Uuid> = rest.iter().map(|d| d.event.id()).collect();
    let model_ids: Vec<Uuid> = m.queue.iter().map(|(id, _)| *id).collect();
    assert_eq!(rest_ids, model_ids);
    let mut tokens: Vec<MemoryToken> = rest.iter().map(|d| d.token).collect();
    tokens.extend(m.held.iter().map(|d| d.token));
    backend.ack(tokens).await.unwrap();
    assert!(backend.is_idle());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_event_is_lost_or_duplicated(
        capacity in proptest::option::of(1usize..8),
        max_deliveries in 1u32..4,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run(capacity, max_deliveries, ops));
    }
}
