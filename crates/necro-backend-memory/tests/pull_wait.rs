//! How pull waits: up to its timeout for the first event, woken as soon as one arrives.

mod support;

use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::Backend;
use support::{envelopes, event, ns};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn pull_waits_the_whole_timeout_then_returns_empty() {
    let backend = MemoryBackend::new();
    let start = Instant::now();
    let got = backend.pull(10, Duration::from_secs(5)).await.unwrap();
    assert!(got.is_empty());
    // Virtual time: the pull slept exactly its timeout.
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn zero_wait_returns_at_once() {
    let backend = MemoryBackend::new();
    let start = Instant::now();
    assert!(backend.pull(10, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn queued_events_are_returned_without_waiting() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let start = Instant::now();
    let got = backend.pull(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ns(&got), vec![0, 1, 2]);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_pull_wakes_when_another_task_enqueues() {
    let backend = MemoryBackend::new();
    let producer = backend.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        producer.send(event(1)).await.unwrap();
    });

    let got = backend.pull(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(ns(&got), vec![1]);
    // Woken at the enqueue, not at the timeout.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn several_waiting_pullers_share_a_batch_without_duplicates() {
    let backend = MemoryBackend::new();
    let mut pullers = Vec::new();
    for _ in 0..3 {
        let b = backend.clone();
        pullers.push(tokio::spawn(async move {
            b.pull(2, Duration::from_secs(10)).await.unwrap()
        }));
    }
    tokio::task::yield_now().await;
    backend.enqueue(envelopes(0..6)).await.unwrap();

    let mut all = Vec::new();
    for p in pullers {
        let got = p.await.unwrap();
        assert_eq!(got.len(), 2, "each waiting puller is handed its share");
        all.extend(ns(&got));
    }
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_huge_wait_does_not_overflow() {
    let backend = MemoryBackend::new();
    let producer = backend.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        producer.send(event(1)).await.unwrap();
    });
    let got = backend.pull(1, Duration::MAX).await.unwrap();
    assert_eq!(ns(&got), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn close_wakes_a_waiting_pull_with_an_empty_batch() {
    let backend = MemoryBackend::new();
    let closer = backend.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        closer.close();
    });
    let got = backend.pull(10, Duration::from_secs(60)).await.unwrap();
    assert!(got.is_empty());
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn after_close_queued_events_drain_then_pull_returns_empty_at_once() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    backend.close();
    assert!(backend.is_closed());

    assert_eq!(
        ns(&backend.pull(10, Duration::from_secs(5)).await.unwrap()),
        vec![0, 1]
    );
    let start = Instant::now();
    assert!(
        backend
            .pull(10, Duration::from_secs(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}
