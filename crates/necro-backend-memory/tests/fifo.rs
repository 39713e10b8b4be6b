//! Events come out in the order they went in, in batches of at most `max`.

mod support;

use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::uuid::Uuid;
use necro_core::{Backend, Envelope, Metadata};
use support::{envelopes, event, ns, pull_now};

#[tokio::test]
async fn events_come_out_in_enqueue_order() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    backend.enqueue(envelopes(3..5)).await.unwrap();
    backend.send(event(5)).await.unwrap();

    let got = pull_now(&backend, 100).await;
    assert_eq!(ns(&got), vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn pull_returns_at_most_max_and_keeps_the_rest_in_order() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..10)).await.unwrap();

    assert_eq!(ns(&pull_now(&backend, 3).await), vec![0, 1, 2]);
    assert_eq!(backend.len(), 7);
    assert_eq!(ns(&pull_now(&backend, 4).await), vec![3, 4, 5, 6]);
    assert_eq!(ns(&pull_now(&backend, 100).await), vec![7, 8, 9]);
    assert!(pull_now(&backend, 100).await.is_empty());
    assert!(backend.is_empty());
    assert_eq!(backend.in_flight(), 10);
}

#[tokio::test]
async fn pull_of_zero_returns_nothing_and_takes_nothing() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    assert!(
        backend
            .pull(0, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(backend.len(), 2);
    assert_eq!(backend.in_flight(), 0);
}

#[tokio::test]
async fn first_delivery_is_attempt_one_with_its_metadata_and_a_fresh_token() {
    let backend = MemoryBackend::new();
    let meta = Metadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: Some(Uuid::new_v4()),
        headers: necro_core::Headers::try_from_pairs([("tenant", "acme"), ("traceparent", "t")])
            .unwrap(),
    };
    let ev = event(7);
    backend
        .enqueue(vec![
            Envelope::with_meta(ev.clone(), meta.clone()),
            Envelope::new(event(8)),
        ])
        .await
        .unwrap();

    let got = pull_now(&backend, 2).await;
    assert_eq!(got[0].event, ev);
    assert_eq!(got[0].meta, meta);
    assert_eq!(got[1].meta, Metadata::default());
    assert!(got.iter().all(|d| d.attempt == 1));
    assert_ne!(got[0].token, got[1].token);
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op() {
    let backend = MemoryBackend::new();
    backend.enqueue(Vec::new()).await.unwrap();
    assert!(backend.is_idle());
}
