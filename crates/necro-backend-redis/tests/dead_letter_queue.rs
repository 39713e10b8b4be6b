//! The Redis backend passes the dead-letter queue conformance suite of `necro-testkit`, each
//! scenario on a fresh stream and group of the shared Redis (skipped without one, failed under
//! `CI=true`); and what only Redis has: unreadable entries and entries the Python original
//! wrote, the scan bound of filtered listings, and purging by filter past the first chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};

use necro_backend_redis::RedisBackend;
use necro_core::{
    DeadLetter, DeadLetterFilter, DeadLetterKind, DeadLetterQuery, DeadLetterQueue,
    DeadLetterSelection, DeadLetterStore, Metadata,
};
use necro_testkit::dead_letter_queue_conformance;
use support::{Ctx, event, raw_xadd};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_dead_letter_queue_conformance_suite() {
    if Ctx::shared("dlq_conformance").is_none() {
        return;
    }
    // Every scenario's streams live until the end of the test, then are deleted.
    let contexts: Arc<Mutex<Vec<Ctx>>> = Arc::default();
    dead_letter_queue_conformance(|| {
        let contexts = Arc::clone(&contexts);
        async move { Ctx::for_conformance("dlq_conformance", &contexts).await }
    })
    .await
    .unwrap();
}

fn letter(n: usize, organ: &str) -> DeadLetter {
    let failures = vec![necro_core::Failure::new(Some(organ.to_owned()), "boom")];
    DeadLetter::new(
        event(n),
        Metadata::default(),
        DeadLetterKind::HandlerFailed,
        failures,
        1,
    )
}

async fn backend(ctx: &Ctx) -> RedisBackend {
    ctx.backend().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_python_written_entries_are_listed_skipped_and_purged() {
    let Some(ctx) = Ctx::shared("dlq_unreadable") else {
        return;
    };
    let backend = backend(&ctx).await;
    let admin = ctx.admin().await;
    let sent = event(1);
    let python_event = sent.to_json();
    // As the Python original writes dead letters: four fields.
    let python = raw_xadd(
        &admin,
        &ctx.dlq(),
        &[
            ("original_id", "1-0"),
            ("event", &python_event),
            ("reason", "max retries exceeded"),
            ("failed_at", "2024-01-15T10:30:45.123456+00:00"),
        ],
    )
    .await;
    let broken = raw_xadd(
        &admin,
        &ctx.dlq(),
        &[
            ("event", "{not json"),
            ("reason", "malformed"),
            ("kind", "malformed"),
        ],
    )
    .await;

    let page = backend
        .dead_letter_page(&DeadLetterQuery::new(10))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 2);
    let letter = page.entries[0].letter.as_ref().unwrap();
    assert_eq!(page.entries[0].id.as_str(), python);
    assert_eq!(letter.event, sent);
    assert_eq!(letter.kind, DeadLetterKind::MaxDeliveries);
    assert_eq!(letter.attempts, 0);
    assert_eq!(
        necro_core::format_timestamp(letter.failed_at),
        "2024-01-15T10:30:45.123456+00:00"
    );
    let unreadable = page.entries[1].letter.as_ref().unwrap_err();
    assert_eq!(page.entries[1].id.as_str(), broken);
    assert_eq!(unreadable.raw_event, "{not json");
    assert_eq!(unreadable.kind, Some(DeadLetterKind::Malformed));
    assert!(unreadable.failed_at.is_some(), "the entry id's time");

    let malformed = DeadLetterQuery::new(10).kind(DeadLetterKind::Malformed);
    let page = backend.dead_letter_page(&malformed).await.unwrap();
    assert_eq!(page.entries.len(), 1);

    let report = backend
        .replay_dead_letters(&DeadLetterSelection::All)
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(report.replayed[0].as_str(), python);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0.as_str(), broken);
    assert!(
        report.skipped[0].1.contains("malformed"),
        "{:?}",
        report.skipped
    );
    let one = DeadLetterSelection::one(broken.as_str());
    let report = backend.replay_dead_letters(&one).await.unwrap();
    assert!(
        report.replayed.is_empty() && report.skipped.len() == 1,
        "{report:?}"
    );

    let report = backend.purge_dead_letters(&one).await.unwrap();
    assert_eq!(report.purged, 1);
    assert_eq!(backend.dead_letter_count().await.unwrap(), 0);
}

/// A filter matching nothing in a stream longer than the scan bound: the first call reads
/// 10,000 entries and ends with an empty page and a cursor; the walk then ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_listing_reads_at_most_ten_thousand_entries_a_call() {
    let Some(ctx) = Ctx::shared("dlq_scan_bound") else {
        return;
    };
    let backend = backend(&ctx).await;
    let admin = ctx.admin().await;
    let body = event(0).to_json();
    for chunk in 0..11 {
        let pipeline = admin.pipeline();
        for _ in 0..1_000 {
            let _: () = fred::interfaces::StreamsInterface::xadd(
                &pipeline,
                ctx.dlq(),
                false,
                None::<()>,
                "*",
                vec![("event", body.as_str()), ("reason", "filler")],
            )
            .await
            .unwrap();
        }
        let ids: Vec<String> = pipeline.all().await.unwrap();
        assert_eq!(ids.len(), 1_000, "chunk {chunk}");
    }
    let query = DeadLetterQuery::new(5).organ("Nobody");
    let first = backend.dead_letter_page(&query).await.unwrap();
    assert!(first.entries.is_empty());
    let next = first
        .next
        .expect("the scan stopped at its bound with a cursor");
    let second = backend
        .dead_letter_page(&query.clone().after(Some(next)))
        .await
        .unwrap();
    assert!(second.entries.is_empty());
    assert_eq!(second.next, None, "the rest (1,000 entries) fits one call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_replay_by_filter_walk_past_the_first_chunk() {
    let Some(ctx) = Ctx::shared("dlq_walk") else {
        return;
    };
    let backend = backend(&ctx).await;
    for n in 0..250 {
        let organ = if n % 2 == 0 { "Even" } else { "Odd" };
        backend.store(letter(n, organ)).await.unwrap();
    }
    let odd = DeadLetterFilter::new().organ("Odd");
    let report = backend
        .purge_dead_letters(&DeadLetterSelection::Matching(odd))
        .await
        .unwrap();
    assert_eq!(report.purged, 125);
    assert!(report.missing.is_empty());
    let report = backend
        .replay_dead_letters(&DeadLetterSelection::Matching(
            DeadLetterFilter::new().organ("Even"),
        ))
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 125);
    assert_eq!(backend.dead_letter_count().await.unwrap(), 0);
    let replayed = support::drain(&backend, 125, std::time::Duration::from_secs(10)).await;
    let ns: Vec<u64> = replayed
        .iter()
        .map(|d| d.event.payload()["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ns,
        (0..250).step_by(2).collect::<Vec<u64>>(),
        "oldest first"
    );
}
