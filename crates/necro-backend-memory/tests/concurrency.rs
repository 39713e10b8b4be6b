//! Several producers and consumers on a multi-thread runtime: every event handled once.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, BackendError};
use support::{envelopes, n_of};

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 2_000;
const TOTAL: usize = (PRODUCERS * PER_PRODUCER) as usize;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_is_handled_exactly_once() {
    // Bounded and small, so producers meet `Full` and consumers meet an empty queue.
    let backend = MemoryBackend::builder()
        .capacity(64)
        .max_deliveries(3)
        .build()
        .unwrap();
    let handled = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicUsize::new(0));

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let backend = backend.clone();
        producers.push(tokio::spawn(async move {
            let start = p * PER_PRODUCER;
            let mut next = start;
            while next < start + PER_PRODUCER {
                let end = (next + 7).min(start + PER_PRODUCER);
                match backend.enqueue(envelopes(next..end)).await {
                    Ok(()) => next = end,
                    Err(BackendError::Full { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("enqueue failed: {e}"),
                }
            }
        }));
    }

    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let backend = backend.clone();
        let handled = Arc::clone(&handled);
        let done = Arc::clone(&done);
        consumers.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < TOTAL {
                let batch = backend.pull(16, Duration::from_millis(5)).await.unwrap();
                let mut acks = Vec::with_capacity(batch.len());
                for d in batch {
                    let n = n_of(&d.event);
                    // Every third event fails on its first delivery and is redelivered.
                    if n.is_multiple_of(3) && d.attempt == 1 {
                        backend.nack(d, "first try fails".into()).await.unwrap();
                        continue;
                    }
                    assert!(handled.lock().unwrap().insert(n), "event {n} handled twice");
                    acks.push(d.token);
                }
                let count = acks.len();
                backend.ack(acks).await.unwrap();
                done.fetch_add(count, Ordering::SeqCst);
            }
        }));
    }

    for p in producers {
        p.await.unwrap();
    }
    for c in consumers {
        c.await.unwrap();
    }
    assert_eq!(handled.lock().unwrap().len(), TOTAL);
    assert!(backend.is_idle());
    assert!(backend.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_finish_when_the_backend_closes() {
    let backend = MemoryBackend::new();
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let backend = backend.clone();
        consumers.push(tokio::spawn(async move {
            let mut seen = 0usize;
            loop {
                let batch = backend.pull(8, Duration::from_secs(3600)).await.unwrap();
                if batch.is_empty() {
                    // Only a closed, drained queue returns empty before the (long) timeout.
                    assert!(backend.is_closed());
                    return seen;
                }
                seen += batch.len();
                backend
                    .ack(batch.iter().map(|d| d.token).collect())
                    .await
                    .unwrap();
            }
        }));
    }
    for chunk in 0..100u64 {
        backend
            .enqueue(envelopes(chunk * 10..chunk * 10 + 10))
            .await
            .unwrap();
    }
    backend.close();
    let mut total = 0;
    for c in consumers {
        total += c.await.unwrap();
    }
    assert_eq!(total, 1_000);
    assert!(backend.is_idle());
}
