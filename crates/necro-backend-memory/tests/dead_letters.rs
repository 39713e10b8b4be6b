//! The dead-letter store: bounded, evicts the oldest, lists, drains and replays.

mod support;

use necro_backend_memory::{MemoryBackend, MemoryBuildError, MemoryDeadLetters};
use necro_core::uuid::Uuid;
use necro_core::{Backend, BackendError, DeadLetter, DeadLetterKind, DeadLetterStore, Metadata};
use support::{event, n_of, ns, pull_now, tokens};

fn letter(n: u64) -> DeadLetter {
    DeadLetter::with_reason(
        event(n),
        Metadata::default(),
        DeadLetterKind::HandlerFailed,
        format!("failure {n}"),
        1,
    )
}

fn letter_ns(letters: &[DeadLetter]) -> Vec<u64> {
    letters.iter().map(|l| n_of(&l.event)).collect()
}

#[test]
fn a_zero_capacity_store_is_an_error() {
    assert_eq!(
        MemoryDeadLetters::new(0).unwrap_err(),
        MemoryBuildError::ZeroDeadLetterCapacity
    );
    assert_eq!(MemoryDeadLetters::default().capacity(), 10_000);
}

#[tokio::test]
async fn a_full_store_evicts_the_oldest_and_counts_it() {
    let store = MemoryDeadLetters::new(3).unwrap();
    for n in 0..5 {
        store.store(letter(n)).await.unwrap();
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.dropped(), 2);
    assert_eq!(letter_ns(&store.list()), vec![2, 3, 4]);
    assert_eq!(store.list()[0].reason, "failure 2");
}

#[tokio::test]
async fn drain_empties_the_store_oldest_first_and_keeps_the_dropped_count() {
    let store = MemoryDeadLetters::new(2).unwrap();
    for n in 0..3 {
        store.push(letter(n));
    }
    assert_eq!(letter_ns(&store.drain()), vec![1, 2]);
    assert!(store.is_empty());
    assert!(store.drain().is_empty());
    assert_eq!(store.dropped(), 1);
}

#[tokio::test]
async fn clones_share_one_store() {
    let store = MemoryDeadLetters::new(5).unwrap();
    let clone = store.clone();
    clone.push(letter(0));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn the_backend_stores_letters_in_the_store_it_was_given() {
    let store = MemoryDeadLetters::new(5).unwrap();
    let backend = MemoryBackend::builder()
        .dead_letters(store.clone())
        .build()
        .unwrap();
    DeadLetterStore::store(&backend, letter(0)).await.unwrap();
    assert_eq!(letter_ns(&store.list()), vec![0]);
    assert_eq!(backend.dead_letters().len(), 1);
}

#[tokio::test]
async fn replay_re_enqueues_every_event_with_its_metadata_and_empties_the_store() {
    let store = MemoryDeadLetters::new(10).unwrap();
    let backend = MemoryBackend::builder()
        .max_deliveries(1)
        .dead_letters(store.clone())
        .build()
        .unwrap();
    let meta = Metadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: Some(Uuid::new_v4()),
        headers: necro_core::Headers::new().with("tenant", "acme").unwrap(),
    };
    backend
        .enqueue(vec![
            necro_core::Envelope::with_meta(event(0), meta.clone()),
            event(1).into(),
        ])
        .await
        .unwrap();
    for d in pull_now(&backend, 2).await {
        backend.nack(d, "broken".into()).await.unwrap();
    }
    assert_eq!(store.len(), 2);
    assert!(backend.is_idle());

    assert_eq!(store.replay_into(&backend).unwrap(), 2);
    assert!(store.is_empty());
    let again = pull_now(&backend, 10).await;
    assert_eq!(ns(&again), vec![0, 1], "oldest first");
    assert_eq!(again[0].meta, meta);
    assert!(
        again.iter().all(|d| d.attempt == 1),
        "a replay starts afresh"
    );
    backend.ack(tokens(&again)).await.unwrap();
    assert!(backend.is_idle());

    assert_eq!(
        store.replay_into(&backend).unwrap(),
        0,
        "nothing left to replay"
    );
}

#[tokio::test]
async fn a_replay_that_does_not_fit_keeps_every_letter() {
    let store = MemoryDeadLetters::new(10).unwrap();
    for n in 0..3 {
        store.push(letter(n));
    }
    let backend = MemoryBackend::bounded(2).unwrap();
    let err = store.replay_into(&backend).unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 2 }), "{err:?}");
    assert_eq!(store.len(), 3);
    assert!(backend.is_empty());

    let closed = MemoryBackend::new();
    closed.close();
    assert!(matches!(
        store.replay_into(&closed),
        Err(BackendError::Closed)
    ));
    assert_eq!(store.len(), 3);
}
