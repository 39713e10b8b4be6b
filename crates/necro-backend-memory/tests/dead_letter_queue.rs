//! The in-memory backend passes the dead-letter queue conformance suite of `necro-testkit`,
//! and what is particular to it: ids are the store's sequence numbers, never reused (evicted
//! letters' included), and a replay that does not fit the queue changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
use necro_core::{
    BackendError, DeadLetter, DeadLetterId, DeadLetterKind, DeadLetterQuery, DeadLetterQueue,
    DeadLetterSelection, DeadLetterStore, Metadata,
};
use necro_testkit::dead_letter_queue_conformance;
use support::event;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_dead_letter_queue_conformance_suite() {
    dead_letter_queue_conformance(|| async { MemoryBackend::new() })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_store_with_a_small_queue_passes_too() {
    dead_letter_queue_conformance(|| async {
        MemoryBackend::builder()
            .capacity(100)
            .dead_letters(MemoryDeadLetters::new(30).unwrap())
            .build()
            .unwrap()
    })
    .await
    .unwrap();
}

fn letter(n: u64) -> DeadLetter {
    DeadLetter::with_reason(
        event(n),
        Metadata::default(),
        DeadLetterKind::HandlerFailed,
        format!("failure {n}"),
        1,
    )
}

async fn ids(backend: &MemoryBackend) -> Vec<String> {
    let page = backend
        .dead_letter_page(&DeadLetterQuery::new(100))
        .await
        .unwrap();
    page.entries.iter().map(|e| e.id.to_string()).collect()
}

#[tokio::test]
async fn ids_are_sequence_numbers_never_reused_after_eviction_or_purge() {
    let backend = MemoryBackend::builder()
        .dead_letters(MemoryDeadLetters::new(3).unwrap())
        .build()
        .unwrap();
    for n in 0..5 {
        backend.store(letter(n)).await.unwrap();
    }
    assert_eq!(ids(&backend).await, ["3", "4", "5"]); // 1 and 2 were evicted
    let report = backend
        .purge_dead_letters(&DeadLetterSelection::All)
        .await
        .unwrap();
    assert_eq!(report.purged, 3);
    backend.store(letter(5)).await.unwrap();
    assert_eq!(ids(&backend).await, ["6"]);
    // Other spellings of a held id are not held.
    for id in ["06", "+6", " 6", "6.0", ""] {
        assert_eq!(
            backend.dead_letter(&DeadLetterId::new(id)).await.unwrap(),
            None,
            "{id:?}"
        );
    }
    assert!(backend.dead_letter(&"6".into()).await.unwrap().is_some());
}

#[tokio::test]
async fn a_replay_that_does_not_fit_the_queue_changes_nothing() {
    let backend = MemoryBackend::bounded(2).unwrap();
    for n in 0..3 {
        backend.store(letter(n)).await.unwrap();
    }
    let err = backend
        .replay_dead_letters(&DeadLetterSelection::All)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Full { capacity: 2 }), "{err:?}");
    assert_eq!(ids(&backend).await, ["1", "2", "3"]);
    assert!(backend.is_empty());

    let two = DeadLetterSelection::Ids(vec!["3".into(), "1".into()]);
    let report = backend.replay_dead_letters(&two).await.unwrap();
    assert_eq!(
        report.replayed,
        [DeadLetterId::new("3"), DeadLetterId::new("1")]
    );
    assert_eq!(ids(&backend).await, ["2"]);
    assert_eq!(backend.len(), 2);

    backend.close();
    let err = backend
        .replay_dead_letters(&DeadLetterSelection::All)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Closed), "{err:?}");
    assert_eq!(ids(&backend).await, ["2"]);
}
