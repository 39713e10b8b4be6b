//! A bounded queue refuses what does not fit, at once and all-or-nothing.

mod support;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, BackendError, NackOutcome};
use support::{envelopes, event, ns, pull_now, tokens};

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let backend = MemoryBackend::bounded(2).unwrap();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let err = backend.send(event(2)).await.unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 2 }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(backend.len(), 2);
}

#[tokio::test]
async fn a_batch_that_does_not_fit_enqueues_nothing() {
    let backend = MemoryBackend::bounded(5).unwrap();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let err = backend.enqueue(envelopes(3..6)).await.unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 5 }), "{err:?}");
    assert_eq!(backend.len(), 3);

    // A batch that fits exactly is taken whole.
    backend.enqueue(envelopes(3..5)).await.unwrap();
    assert_eq!(ns(&pull_now(&backend, 10).await), vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_batch_larger_than_the_capacity_is_refused() {
    let backend = MemoryBackend::bounded(3).unwrap();
    let err = backend.enqueue(envelopes(0..4)).await.unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 3 }), "{err:?}");
    assert!(backend.is_empty());
}

#[tokio::test]
async fn pulling_frees_capacity() {
    let backend = MemoryBackend::bounded(2).unwrap();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    assert!(backend.send(event(2)).await.is_err());

    let got = pull_now(&backend, 1).await;
    assert_eq!(ns(&got), vec![0]);
    // In-flight events do not count against the capacity.
    backend.send(event(2)).await.unwrap();
    assert_eq!(backend.len(), 2);
    assert_eq!(backend.in_flight(), 1);
}

#[tokio::test]
async fn a_requeue_never_fails_for_capacity() {
    let backend = MemoryBackend::bounded(2).unwrap();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let first = pull_now(&backend, 1).await;
    backend.enqueue(envelopes(2..3)).await.unwrap();
    assert_eq!(backend.len(), 2);

    // The queue is full, yet the nacked event goes back: it may exceed the capacity.
    let delivery = first.into_iter().next().unwrap();
    let outcome = backend.nack(delivery, "retry".into()).await.unwrap();
    assert_eq!(outcome, NackOutcome::Requeued { next_attempt: 2 });
    assert_eq!(backend.len(), 3);
    assert!(matches!(
        backend.send(event(9)).await,
        Err(BackendError::Full { capacity: 2 })
    ));

    // Once drained below the capacity, it accepts again.
    let got = pull_now(&backend, 2).await;
    backend.ack(tokens(&got)).await.unwrap();
    backend.send(event(9)).await.unwrap();
}

#[tokio::test]
async fn a_closed_queue_refuses_new_events() {
    let backend = MemoryBackend::bounded(2).unwrap();
    backend.close();
    assert!(matches!(
        backend.send(event(0)).await,
        Err(BackendError::Closed)
    ));
    assert!(matches!(
        backend.enqueue(Vec::new()).await,
        Err(BackendError::Closed)
    ));
}
