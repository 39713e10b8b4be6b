//! Several workers on one group share the work: each event handled once, all acked.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use necro_core::{Backend, Envelope, Event};
use support::{Ctx, event, pending_count};

const EVENTS: usize = 10_000;
const WORKERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_ten_thousand_events_exactly_once() {
    let Some(ctx) = Ctx::shared("workers") else {
        return;
    };
    let handled = Arc::new(Mutex::new(Vec::<uuid::Uuid>::with_capacity(EVENTS)));
    let total = Arc::new(AtomicUsize::new(0));

    let mut workers = Vec::new();
    let mut names = HashSet::new();
    for _ in 0..WORKERS {
        // Each with the default, unique-per-process consumer name.
        let backend = ctx.backend().await;
        assert!(
            names.insert(backend.consumer_name().to_owned()),
            "names differ"
        );
        let handled = Arc::clone(&handled);
        let total = Arc::clone(&total);
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut mine = 0usize;
            while total.load(Ordering::SeqCst) < EVENTS && Instant::now() < deadline {
                let batch = backend
                    .pull(100, Duration::from_millis(100))
                    .await
                    .expect("pull");
                if batch.is_empty() {
                    continue;
                }
                let tokens = batch.iter().map(|d| d.token.clone()).collect();
                handled
                    .lock()
                    .unwrap()
                    .extend(batch.iter().map(|d| d.event.id()));
                backend.ack(tokens).await.expect("ack");
                mine += batch.len();
                total.fetch_add(batch.len(), Ordering::SeqCst);
            }
            (mine, backend.stats())
        }));
    }

    let producer = ctx.backend().await;
    let produced: Vec<Event> = (0..EVENTS).map(event).collect();
    for chunk in produced.chunks(500) {
        producer
            .enqueue(chunk.iter().cloned().map(Envelope::new).collect())
            .await
            .unwrap();
    }

    let mut shares = Vec::new();
    for w in workers {
        let (mine, stats) = w.await.unwrap();
        assert_eq!(stats.pulled as usize, mine);
        assert_eq!(stats.acked as usize, mine);
        shares.push(mine);
    }
    eprintln!("shares: {shares:?}");

    let handled = handled.lock().unwrap().clone();
    let unique: HashSet<_> = handled.iter().copied().collect();
    assert_eq!(handled.len(), EVENTS, "no duplicates, nothing missing");
    assert_eq!(unique.len(), EVENTS);
    let expected: HashSet<_> = produced.iter().map(Event::id).collect();
    assert_eq!(unique, expected, "handled set == produced set");
    assert!(
        shares.iter().filter(|s| **s > 0).count() >= 2,
        "work was shared: {shares:?}"
    );

    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "all acked"
    );
}
