//! Acks finish deliveries; nacks redeliver, then dead-letter after `max_deliveries`.

mod support;

use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
use necro_core::uuid::Uuid;
use necro_core::{Backend, BackendError, DeadLetterKind, Envelope, Metadata, NackOutcome};
use support::{envelopes, event, ns, pull_now, tokens};

#[tokio::test]
async fn ack_finishes_deliveries() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let got = pull_now(&backend, 3).await;
    assert_eq!(backend.in_flight(), 3);
    assert!(!backend.is_idle());

    backend.ack(tokens(&got)).await.unwrap();
    assert_eq!(backend.in_flight(), 0);
    assert!(backend.is_idle());
    assert!(pull_now(&backend, 3).await.is_empty());
}

#[tokio::test]
async fn a_nacked_event_is_redelivered_at_the_back_with_its_attempt_raised() {
    let backend = MemoryBackend::new();
    let meta = Metadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: None,
        headers: necro_core::Headers::new().with("traceparent", "t").unwrap(),
    };
    backend
        .enqueue(vec![
            Envelope::with_meta(event(0), meta.clone()),
            Envelope::new(event(1)),
        ])
        .await
        .unwrap();
    let first = pull_now(&backend, 1).await.into_iter().next().unwrap();
    let first_token = first.token;

    let outcome = backend.nack(first, "try again".into()).await.unwrap();
    assert_eq!(outcome, NackOutcome::Requeued { next_attempt: 2 });
    assert_eq!(backend.in_flight(), 0);

    let got = pull_now(&backend, 10).await;
    assert_eq!(ns(&got), vec![1, 0], "requeued at the back");
    let again = &got[1];
    assert_eq!(again.attempt, 2);
    assert_eq!(again.meta, meta);
    assert_ne!(
        again.token, first_token,
        "every delivery gets a fresh token"
    );
}

#[tokio::test]
async fn after_max_deliveries_a_nack_dead_letters_with_the_reason() {
    let store = MemoryDeadLetters::new(10).unwrap();
    let backend = MemoryBackend::builder()
        .max_deliveries(3)
        .dead_letters(store.clone())
        .build()
        .unwrap();
    let meta = Metadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: Some(Uuid::new_v4()),
        headers: necro_core::Headers::new(),
    };
    let ev = event(0);
    backend
        .enqueue(vec![Envelope::with_meta(ev.clone(), meta.clone())])
        .await
        .unwrap();

    for attempt in 1..=2 {
        let d = pull_now(&backend, 1).await.into_iter().next().unwrap();
        assert_eq!(d.attempt, attempt);
        let outcome = backend.nack(d, format!("fail {attempt}")).await.unwrap();
        assert_eq!(
            outcome,
            NackOutcome::Requeued {
                next_attempt: attempt + 1
            }
        );
    }
    let last = pull_now(&backend, 1).await.into_iter().next().unwrap();
    assert_eq!(last.attempt, 3);
    let outcome = backend.nack(last, "card declined".into()).await.unwrap();
    assert_eq!(outcome, NackOutcome::DeadLettered);

    assert!(backend.is_idle());
    let letters = store.list();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.event, ev);
    assert_eq!(letter.meta, meta);
    assert_eq!(letter.kind, DeadLetterKind::MaxDeliveries);
    assert_eq!(letter.reason, "card declined");
    assert_eq!(letter.attempts, 3);
    assert_eq!(
        backend.dead_letters().len(),
        1,
        "the store passed in is the one used"
    );
}

#[tokio::test]
async fn max_deliveries_of_one_dead_letters_on_the_first_nack() {
    let backend = MemoryBackend::builder().max_deliveries(1).build().unwrap();
    backend.send(event(0)).await.unwrap();
    let d = pull_now(&backend, 1).await.into_iter().next().unwrap();
    assert_eq!(
        backend.nack(d, "no".into()).await.unwrap(),
        NackOutcome::DeadLettered
    );
    assert_eq!(backend.dead_letters().len(), 1);
}

#[tokio::test]
async fn a_double_ack_is_an_unknown_token_but_known_tokens_are_still_acked() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let got = pull_now(&backend, 3).await;
    backend.ack(vec![got[0].token]).await.unwrap();

    let err = backend.ack(tokens(&got)).await.unwrap_err();
    match err {
        BackendError::UnknownToken(list) => assert_eq!(list, got[0].token.to_string()),
        other => panic!("expected UnknownToken, got {other:?}"),
    }
    assert_eq!(backend.in_flight(), 0, "the two known tokens were acked");
}

#[tokio::test]
async fn nack_of_a_delivery_not_in_flight_is_an_unknown_token() {
    let backend = MemoryBackend::new();
    backend.send(event(0)).await.unwrap();
    let d = pull_now(&backend, 1).await.into_iter().next().unwrap();
    backend.ack(vec![d.token]).await.unwrap();

    let err = backend.nack(d.clone(), "late".into()).await.unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");
    assert!(backend.is_idle());
    assert!(backend.dead_letters().is_empty());

    // Nacking twice: the second is unknown too.
    backend.send(event(1)).await.unwrap();
    let d = pull_now(&backend, 1).await.into_iter().next().unwrap();
    backend.nack(d.clone(), "once".into()).await.unwrap();
    assert!(matches!(
        backend.nack(d, "twice".into()).await,
        Err(BackendError::UnknownToken(_))
    ));
    assert_eq!(backend.len(), 1, "requeued exactly once");
}

#[tokio::test]
async fn acks_and_nacks_still_work_after_close() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..2)).await.unwrap();
    let got = pull_now(&backend, 2).await;
    backend.close();
    backend.ack(vec![got[0].token]).await.unwrap();
    let outcome = backend.nack(got[1].clone(), "retry".into()).await.unwrap();
    assert_eq!(outcome, NackOutcome::Requeued { next_attempt: 2 });
    assert_eq!(ns(&pull_now(&backend, 2).await), vec![1]);
}

#[tokio::test]
async fn abandoned_deliveries_can_be_given_back() {
    let backend = MemoryBackend::builder().max_deliveries(2).build().unwrap();
    backend.enqueue(envelopes(0..3)).await.unwrap();
    let first = pull_now(&backend, 2).await;
    assert_eq!(ns(&first), vec![0, 1]);

    // The consumer holding 0 and 1 died: give them back behind 2.
    assert_eq!(backend.requeue_in_flight(), 2);
    assert_eq!(backend.in_flight(), 0);
    let again = pull_now(&backend, 10).await;
    assert_eq!(ns(&again), vec![2, 0, 1]);
    assert_eq!(
        again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![1, 2, 2]
    );
    // Their old tokens are no longer valid.
    assert!(matches!(
        backend.ack(tokens(&first)).await,
        Err(BackendError::UnknownToken(_))
    ));

    // At their last delivery, abandoned deliveries become dead letters.
    assert_eq!(backend.requeue_in_flight(), 3);
    assert_eq!(ns(&pull_now(&backend, 10).await), vec![2]);
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.kind == DeadLetterKind::MaxDeliveries)
    );
}

#[tokio::test]
async fn released_deliveries_come_back_first_in_order_with_their_attempt() {
    let backend = MemoryBackend::new();
    backend.enqueue(envelopes(0..4)).await.unwrap();
    let got = pull_now(&backend, 2).await;
    assert_eq!(ns(&got), vec![0, 1]);
    backend.release(got).await.unwrap();
    assert_eq!(backend.in_flight(), 0);
    let again = pull_now(&backend, 10).await;
    assert_eq!(ns(&again), vec![0, 1, 2, 3], "back at the front, in order");
    assert!(again.iter().all(|d| d.attempt == 1), "no attempt counted");
    // A token released twice is unknown the second time; the known ones still come back.
    let first = again[0].clone();
    backend.release(vec![first.clone()]).await.unwrap();
    let err = backend.release(vec![first]).await.unwrap_err();
    assert!(matches!(err, BackendError::UnknownToken(_)), "{err:?}");
}

/// Generic code closes through the `Backend` trait: that must close the queue like the
/// inherent `close` (the trait's default does nothing).
#[tokio::test]
async fn closing_through_the_backend_trait_closes_the_queue() {
    async fn close_generically<B: Backend>(backend: &B) {
        Backend::close(backend).await.unwrap();
    }
    let backend = MemoryBackend::new();
    close_generically(&backend).await;
    assert!(backend.is_closed());
}
