//! The dead-letter API: store (the spine's letters), list, get, replay one or all, purge one or all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::Duration;

use necro_core::{
    Backend, DeadLetter, DeadLetterKind, DeadLetterStore, Event, Failure, Metadata, NackOutcome,
};
use serde_json::json;
use support::{Ctx, drain, event, pull_n};

async fn dead_letter_by_nack(
    backend: &necro_backend_redis::RedisBackend,
    ev: &Event,
    reason: &str,
) {
    backend.send(ev.clone()).await.unwrap();
    let d = pull_n(backend, 1, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    assert_eq!(
        backend.nack(d, reason.to_owned()).await.unwrap(),
        NackOutcome::DeadLettered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_replay_and_purge() {
    let Some(ctx) = Ctx::shared("dlq") else {
        return;
    };
    let backend = ctx.builder().max_retries(1).connect().await.unwrap();
    let dlq = backend.dlq();
    assert_eq!(dlq.count().await.unwrap(), 0);
    assert!(dlq.list(10).await.unwrap().is_empty());

    let events: Vec<Event> = (0..5).map(event).collect();
    for (i, ev) in events.iter().enumerate() {
        dead_letter_by_nack(&backend, ev, &format!("failure {i}")).await;
    }
    assert_eq!(dlq.count().await.unwrap(), 5);
    let listed = dlq.list(10).await.unwrap();
    let reasons: Vec<&str> = listed.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "failure 0",
            "failure 1",
            "failure 2",
            "failure 3",
            "failure 4"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|e| e.original_id.is_some() && e.kind == Some(DeadLetterKind::MaxDeliveries))
    );

    // Paging.
    let first = dlq.list(2).await.unwrap();
    let next = dlq.page(Some(&first[1].id), 2).await.unwrap();
    assert_eq!(next[0].id, listed[2].id);
    assert_eq!(
        dlq.get(listed[3].id.as_str()).await.unwrap().as_ref(),
        Some(&listed[3])
    );
    assert!(dlq.get("0-1").await.unwrap().is_none());

    // Replay one: back on the main stream (first delivery again), gone from the DLQ.
    let new_id = dlq
        .replay(listed[0].id.as_str())
        .await
        .unwrap()
        .expect("replayed");
    assert_ne!(Some(&new_id), listed[0].original_id.as_ref());
    assert_eq!(dlq.count().await.unwrap(), 4);
    let again = drain(&backend, 1, Duration::from_secs(5)).await;
    assert_eq!(again[0].event, events[0]);
    assert_eq!(again[0].attempt, 1);
    assert_eq!(again[0].token, new_id);
    assert!(
        dlq.replay(listed[0].id.as_str()).await.unwrap().is_none(),
        "already replayed"
    );

    // Purge one.
    assert!(dlq.purge(listed[1].id.as_str()).await.unwrap());
    assert!(!dlq.purge(listed[1].id.as_str()).await.unwrap());
    assert_eq!(dlq.count().await.unwrap(), 3);

    // Replay all.
    let report = dlq.replay_all().await.unwrap();
    assert_eq!(report.replayed.len(), 3);
    assert!(report.skipped.is_empty());
    assert_eq!(dlq.count().await.unwrap(), 0);
    let replayed = drain(&backend, 3, Duration::from_secs(5)).await;
    let got: Vec<&Event> = replayed.iter().map(|d| &d.event).collect();
    assert_eq!(got, [&events[2], &events[3], &events[4]]);

    // Purge all.
    for ev in &events[..2] {
        dead_letter_by_nack(&backend, ev, "again").await;
    }
    assert_eq!(dlq.purge_all().await.unwrap(), 2);
    assert_eq!(dlq.count().await.unwrap(), 0);
    assert_eq!(dlq.purge_all().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spines_dead_letters_keep_every_failure_and_the_metadata() {
    let Some(ctx) = Ctx::shared("dlq_store") else {
        return;
    };
    let backend = ctx.backend().await;
    let root = event(0);
    let ev = Event::new("PAY", json!({"amount": 10})).unwrap();
    let meta = Metadata::child_of(&root, &Metadata::default())
        .with_header("tenant", "acme")
        .unwrap();
    let failures = vec![
        Failure::new(Some("Charge".into()), "card declined")
            .with_kind(necro_core::FailureKind::Permanent),
        Failure::new(Some("Notify".into()), "smtp down: connection refused").with_retries(3),
    ];
    let letter = DeadLetter::new(
        ev.clone(),
        meta.clone(),
        DeadLetterKind::HandlerFailed,
        failures.clone(),
        1,
    );
    backend.store(letter.clone()).await.unwrap();

    let listed = backend.dlq().list(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    let e = &listed[0];
    assert_eq!(e.event.as_ref(), Some(&ev));
    assert_eq!(e.original_id, None);
    assert_eq!(e.kind, Some(DeadLetterKind::HandlerFailed));
    assert_eq!(e.reason, letter.reason);
    assert_eq!(e.organ.as_deref(), Some("Charge"));
    assert_eq!(e.failures, failures, "every organ's error is kept");
    assert_eq!(e.meta, meta);
    assert_eq!(e.attempts, Some(1));
    assert_eq!(e.failed_at, necro_core::format_timestamp(letter.failed_at));
    assert_eq!(backend.stats().dead_lettered, 1);

    // Replay keeps the chain metadata.
    backend.dlq().replay(e.id.as_str()).await.unwrap().unwrap();
    let d = drain(&backend, 1, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    assert_eq!((d.event, d.meta), (ev, meta));
}

/// Two operators (or two tabs of the live page) replaying the same dead letter at once: the
/// event goes back onto the main stream once, whoever wins; every loser gets `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_one_entry_put_it_back_once() {
    const RACERS: usize = 16;
    let Some(ctx) = Ctx::shared("dlq_race") else {
        return;
    };
    let backend = ctx.backend().await;
    for round in 0..5 {
        let ev = event(round);
        let letter = DeadLetter::with_reason(
            ev.clone(),
            Metadata::default(),
            DeadLetterKind::HandlerFailed,
            "boom",
            1,
        );
        backend.store(letter).await.unwrap();
        let id = backend.dlq().list(1).await.unwrap().pop().unwrap().id;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let backend = backend.clone();
                let barrier = std::sync::Arc::clone(&barrier);
                let id = id.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    backend.dlq().replay(id.as_str()).await
                })
            })
            .collect();
        let mut won = 0;
        for racer in racers {
            if racer.await.unwrap().unwrap().is_some() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "round {round}: replays that report success");
        assert_eq!(backend.dlq().count().await.unwrap(), 0);
        let admin = ctx.admin().await;
        let copies = support::entries(&admin, &ctx.stream)
            .await
            .iter()
            .filter(|(_, fields)| {
                support::field(fields, "event").is_some_and(|e| e.contains(&ev.id().to_string()))
            })
            .count();
        assert_eq!(
            copies, 1,
            "round {round}: copies of the event on the main stream"
        );
    }
}
