//! `commit` enqueues the emitted events and acks the sources as one step.

mod support;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, BackendError};
use support::{envelopes, event, ns, pull_now, tokens};

#[tokio::test]
async fn commit_is_atomic() {
    let backend = MemoryBackend::new();
    assert!(backend.atomic_commit());
}

#[tokio::test]
async fn commit_enqueues_everything_and_acks_everything() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let sources = pull_now(&backend, 2).await;

    backend
        .commit(envelopes(10..13), tokens(&sources))
        .await
        .unwrap();
    assert_eq!(backend.in_flight(), 0);
    assert_eq!(ns(&pull_now(&backend, 10).await), vec![10, 11, 12]);
}

#[tokio::test]
async fn a_commit_that_does_not_fit_acks_nothing() {
    let backend = MemoryBackend::bounded(3).unwrap();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let sources = pull_now(&backend, 1).await;
    assert_eq!(backend.len(), 2);

    // Two emitted events do not fit beside the two still queued.
    let err = backend
        .commit(envelopes(10..12), tokens(&sources))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 3 }), "{err:?}");
    assert_eq!(backend.in_flight(), 1, "the source was not acked");
    assert_eq!(backend.len(), 2, "nothing was enqueued");

    // One does.
    backend
        .commit(envelopes(10..11), tokens(&sources))
        .await
        .unwrap();
    assert_eq!(backend.in_flight(), 0);
    assert_eq!(ns(&pull_now(&backend, 10).await), vec![1, 2, 10]);
}

#[tokio::test]
async fn a_commit_on_a_closed_backend_acks_nothing_unless_it_emits_nothing() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let sources = pull_now(&backend, 2).await;
    backend.close();

    let err = backend
        .commit(envelopes(10..11), vec![sources[0].token])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Closed), "{err:?}");
    assert_eq!(backend.in_flight(), 2);

    // A handler that emitted nothing can still finish its source.
    backend.commit(Vec::new(), tokens(&sources)).await.unwrap();
    assert!(backend.is_idle());
}

#[tokio::test]
async fn a_commit_with_an_unknown_token_still_enqueues_and_acks_the_known_ones() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let sources = pull_now(&backend, 2).await;
    backend.ack(vec![sources[0].token]).await.unwrap();

    let err = backend
        .commit(vec![event(10).into()], tokens(&sources))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");
    assert_eq!(backend.in_flight(), 0);
    assert_eq!(ns(&pull_now(&backend, 10).await), vec![10]);
}
