//! Crash recovery: a consumer that pulls and dies leaves its entries pending; another claims
//! them after `claim_min_idle`; after `max_retries` deliveries the entry is a dead letter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::Duration;

use necro_backend_redis::RedisBackend;
use necro_core::{Backend, DeadLetterKind};
use support::{Ctx, drain, event, pending_count, pull_n};

const IDLE: Duration = Duration::from_millis(300);

async fn worker(ctx: &Ctx, name: &str) -> RedisBackend {
    ctx.builder()
        .consumer_name(name)
        .claim_min_idle(IDLE)
        .max_retries(3)
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entries_are_reclaimed_by_another() {
    let Some(ctx) = Ctx::shared("reclaim") else {
        return;
    };
    let crashed = worker(&ctx, "crashed").await;
    crashed.send(event(1)).await.unwrap();
    crashed.send(event(2)).await.unwrap();
    let lost = pull_n(&crashed, 2, Duration::from_secs(5)).await;
    assert_eq!(lost.len(), 2);
    drop(crashed); // dies without acking

    let survivor = worker(&ctx, "survivor").await;
    // Not before the idle time: the entries may still be in the works.
    assert!(survivor.pull(10, Duration::ZERO).await.unwrap().is_empty());
    let got = drain(&survivor, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    for (d, l) in got.iter().zip(&lost) {
        assert_eq!(d.event, l.event);
        assert_eq!(d.token, l.token, "the same stream entry, claimed");
        assert_eq!(d.attempt, 2, "Redis's delivery count");
    }
    assert_eq!(survivor.stats().recovered, 2);
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_retries_deliveries_the_entry_is_dead_lettered() {
    let Some(ctx) = Ctx::shared("max_retries") else {
        return;
    };
    let first = worker(&ctx, "w1").await;
    let ev = event(7);
    first.send(ev.clone()).await.unwrap();
    let d = pull_n(&first, 1, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    assert_eq!(d.attempt, 1);
    let original_id = d.token.clone();
    drop(first);

    // Two more consumers take it and die too: deliveries 2 and 3.
    for (name, attempt) in [("w2", 2), ("w3", 3)] {
        let w = worker(&ctx, name).await;
        let d = pull_n(&w, 1, Duration::from_secs(5))
            .await
            .pop()
            .expect("reclaimed");
        assert_eq!((d.attempt, &d.token), (attempt, &original_id));
        drop(w);
    }

    // The fourth finds it delivered max_retries times: dead letter, not a delivery.
    let last = worker(&ctx, "w4").await;
    let got = pull_n(&last, 1, Duration::from_millis(1_500)).await;
    assert!(got.is_empty(), "{got:?}");
    let dead = last.dlq().list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.original_id.as_ref(), Some(&original_id));
    assert_eq!(letter.event.as_ref(), Some(&ev));
    assert_eq!(letter.kind, Some(DeadLetterKind::MaxDeliveries));
    assert_eq!(letter.attempts, Some(3));
    assert!(
        letter.reason.contains("delivered 3 times"),
        "{}",
        letter.reason
    );
    assert!(!letter.failed_at.is_empty());
    assert_eq!(last.stats().dead_lettered, 1);
    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "acked"
    );
}

// A released entry (pulled, never handled) is claimable at once and comes back with the same
// attempt: its delivery count is set back, so it never counts towards max_retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_entries_come_back_with_their_attempt() {
    let Some(ctx) = Ctx::shared("release") else {
        return;
    };
    let w = worker(&ctx, "w1").await;
    w.send(event(1)).await.unwrap();
    w.send(event(2)).await.unwrap();
    let mut held = pull_n(&w, 2, Duration::from_secs(5)).await;
    assert!(held.iter().all(|d| d.attempt == 1));
    // More releases than max_retries (3): none of them counts.
    for _ in 0..4 {
        w.release(held).await.unwrap();
        held = pull_n(&w, 2, Duration::from_secs(5)).await;
        assert_eq!(held.len(), 2);
        for d in &held {
            assert_eq!(d.attempt, 1, "released, not failed");
        }
    }
    w.ack(held.iter().map(|d| d.token.clone()).collect())
        .await
        .unwrap();
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}
