//! Redis restarted mid-run (own server, AOF on) and killed client connections are survived.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use necro_backend_redis::RedisBackend;
use necro_core::{Backend, Envelope, Event};
use support::{Ctx, RedisServer, event, pending_count};

/// A consumer loop like the spine's: pull, record, ack; on a backend error back off a little
/// and go on (the spine's circuit breaker does this).
struct Consumer {
    seen: Arc<Mutex<Vec<(uuid::Uuid, u32)>>>,
    errors: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Consumer {
    fn start(backend: RedisBackend) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (seen, errors, stop) = (Arc::clone(&seen), Arc::clone(&errors), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let batch = match backend.pull(50, Duration::from_millis(100)).await {
                        Ok(b) => b,
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if batch.is_empty() {
                        continue;
                    }
                    let tokens = batch.iter().map(|d| d.token.clone()).collect();
                    // Handled before the ack: at-least-once means a failed ack may redeliver.
                    seen.lock()
                        .unwrap()
                        .extend(batch.iter().map(|d| (d.event.id(), d.attempt)));
                    if backend.ack(tokens).await.is_err() {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        Self {
            seen,
            errors,
            stop,
            task,
        }
    }

    fn seen_ids(&self) -> HashSet<uuid::Uuid> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| *id)
            .collect()
    }

    async fn wait_for(&self, ids: &HashSet<uuid::Uuid>, within: Duration) {
        let deadline = Instant::now() + within;
        while !ids.is_subset(&self.seen_ids()) {
            assert!(
                Instant::now() < deadline,
                "only {} of {} handled",
                ids.intersection(&self.seen_ids()).count(),
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> Vec<(uuid::Uuid, u32)> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.seen.lock().unwrap().clone()
    }
}

/// Enqueues, retrying while Redis comes back.
async fn enqueue_retrying(backend: &RedisBackend, events: &[Event]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match backend
            .enqueue(events.iter().cloned().map(Envelope::new).collect())
            .await
        {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("enqueue failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("enqueue kept failing: {e}"),
        }
    }
}

async fn backend_on(ctx: &Ctx) -> RedisBackend {
    ctx.builder()
        .claim_min_idle(Duration::from_millis(500))
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_nothing_acknowledged() {
    let Some(mut server) = RedisServer::start(true) else {
        return;
    };
    let ctx = Ctx::on(&server, "restart");
    let producer = backend_on(&ctx).await;
    let consumer_backend = backend_on(&ctx).await;
    let consumer = Consumer::start(consumer_backend.clone());

    let before: Vec<Event> = (0..200).map(event).collect();
    enqueue_retrying(&producer, &before).await;
    let before_ids: HashSet<_> = before.iter().map(Event::id).collect();
    consumer
        .wait_for(&before_ids, Duration::from_secs(10))
        .await;
    // Let the last ack land before pulling the plug.
    let admin = ctx.admin().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while pending_count(&admin, &ctx.stream, "necrostack").await > 0 {
        assert!(Instant::now() < deadline, "acks did not land");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(admin);
    let seen_before_restart = consumer.seen.lock().unwrap().len();

    server.restart(); // kill -9 and start again from the AOF
    let after: Vec<Event> = (200..400).map(event).collect();
    enqueue_retrying(&producer, &after).await;
    let after_ids: HashSet<_> = after.iter().map(Event::id).collect();
    consumer.wait_for(&after_ids, Duration::from_secs(30)).await;
    let errors = consumer.errors.load(Ordering::SeqCst);
    let seen = consumer.stop().await;

    let redelivered_old: Vec<_> = seen[seen_before_restart..]
        .iter()
        .filter(|(id, _)| before_ids.contains(id))
        .collect();
    assert!(
        redelivered_old.is_empty(),
        "events acked before the restart came back: {redelivered_old:?}"
    );
    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, "necrostack").await,
        0,
        "everything acked"
    );
    let reconnections = consumer_backend.stats().reconnections + producer.stats().reconnections;
    assert!(reconnections >= 1, "reconnections were counted");
    eprintln!("pull/ack errors during the restart: {errors}, reconnections: {reconnections}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_client_connections_are_survived() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let ctx = Ctx::on(&server, "client_kill");
    let backend = backend_on(&ctx).await;
    let consumer = Consumer::start(backend.clone());

    let first: Vec<Event> = (0..50).map(event).collect();
    enqueue_retrying(&backend, &first).await;
    consumer
        .wait_for(
            &first.iter().map(Event::id).collect(),
            Duration::from_secs(10),
        )
        .await;

    // Kill every client connection but this one, twice, the blocked reader included.
    for _ in 0..2 {
        let killed = support::raw_command(
            &ctx.url,
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
        )
        .unwrap();
        assert!(
            killed.starts_with(':') && killed != ":0",
            "killed some: {killed}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let second: Vec<Event> = (50..150).map(event).collect();
    enqueue_retrying(&backend, &second).await;
    consumer
        .wait_for(
            &second.iter().map(Event::id).collect(),
            Duration::from_secs(20),
        )
        .await;
    consumer.stop().await;
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
    assert!(backend.stats().reconnections >= 1, "{:?}", backend.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_calls_fail_with_transient_errors_then_recover() {
    use necro_core::Health;
    let Some(mut server) = RedisServer::start(true) else {
        return;
    };
    let ctx = Ctx::on(&server, "outage");
    let backend = ctx
        .builder()
        .command_timeout(Duration::from_millis(700))
        .connect()
        .await
        .unwrap();
    backend.send(event(1)).await.unwrap();

    server.kill();
    let started = Instant::now();
    let err = backend
        .pull(10, Duration::from_millis(100))
        .await
        .expect_err("a pull while Redis is down is an error, not an endless wait");
    assert!(err.is_transient(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(backend.send(event(2)).await.unwrap_err().is_transient());
    let report = backend.health().await;
    assert!(!report.healthy);
    assert!(report.error.is_some());

    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(Instant::now() < deadline, "never recovered");
        match backend.pull(10, Duration::from_millis(100)).await {
            Ok(batch) => got = batch,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(got[0].event.payload()["i"], 1, "the AOF kept the entry");
    backend.ack(vec![got[0].token.clone()]).await.unwrap();
    assert!(backend.health().await.healthy);
}

// A drain run whose Redis dies under it ends with a typed error once the backend circuit
// breaker opens; it neither hangs nor loses what it had not acked (the AOF keeps the entries).
// One worker thread, so one runner: it holds the first 16 (one batch) until they commit, then
// pulls the next 16.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_drain_run_on_a_dead_redis_stops_with_backend_unavailable() {
    use necro_core::{Emit, organ_fn};
    use necro_spine::{BackendBreakerConfig, RunError, Spine};
    let Some(mut server) = RedisServer::start(true) else {
        return;
    };
    let ctx = Ctx::on(&server, "dead_drain");
    let backend = ctx
        .builder()
        .command_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let producer = backend_on(&ctx).await;
    enqueue_retrying(&producer, &(0..32).map(event).collect::<Vec<_>>()).await;
    let handled = Arc::new(AtomicUsize::new(0));
    // Each handled event emits one: a batch commit that fails because Redis is gone must not
    // be retried source by source (16 sources, a timeout each).
    let spine = Spine::builder(backend)
        .organ(organ_fn("Slow", ["TEST"], {
            let handled = Arc::clone(&handled);
            move |ev: Event| {
                handled.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(Emit::one(Event::new("DONE", ev.payload().clone().into())?))
                }
            }
        }))
        .concurrency(16)
        .batch_size(16)
        .backend_breaker(BackendBreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(1),
        })
        .build()
        .unwrap();
    let run = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run_until_drained().await }
    });
    // The first batch of 16 is committed once the second batch has started: Redis dies with
    // some sources acked (their DONE written) and the rest in the works.
    while handled.load(Ordering::SeqCst) < 17 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill();
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the drain run ends instead of hanging")
        .unwrap();
    assert!(
        matches!(
            result,
            Err(RunError::BackendUnavailable { failures: 3, .. })
        ),
        "{result:?}"
    );
    // Three failed pulls of 0.5 s and their backoff, one failed commit: well under 10 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Nothing was lost. A TEST entry the run committed has its DONE in the stream (the commit
    // is one MULTI/EXEC); every other one is still pending or unread, and a fresh worker gets
    // it after the restart (the AOF kept the stream).
    server.start_again();
    let backend = backend_on(&ctx).await;
    let admin = ctx.admin().await;
    let i_of = |e: &Event| e.payload()["i"].as_u64();
    let mut covered: HashSet<u64> = support::entries(&admin, &ctx.stream)
        .await
        .iter()
        .filter_map(|(_, f)| support::field(f, "event"))
        .filter_map(|json| Event::from_json(json).ok())
        .filter(|e| e.event_type() == "DONE")
        .filter_map(|e| i_of(&e))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while covered.len() < 32 {
        assert!(
            Instant::now() < deadline,
            "lost: {:?}",
            (0..32).filter(|i| !covered.contains(i)).collect::<Vec<_>>()
        );
        match backend.pull(100, Duration::from_millis(100)).await {
            Ok(batch) => covered.extend(
                batch
                    .iter()
                    .filter(|d| d.event.event_type() == "TEST")
                    .filter_map(|d| i_of(&d.event)),
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// Issue 10, item 8: a MULTI/EXEC that times out was sent; Redis may still run it. The error
// says the outcome is unknown, and indeed the commit is applied once Redis answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_commit_says_its_outcome_is_unknown() {
    let Some(server) = RedisServer::start(false) else {
        return;
    };
    let ctx = Ctx::on(&server, "commit_timeout");
    let backend = ctx
        .builder()
        .command_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    backend.send(event(0)).await.unwrap();
    let input = support::pull_n(&backend, 1, Duration::from_secs(5))
        .await
        .remove(0);

    // Every client is paused for a while: the commit is sent, and not answered in time.
    let reply = support::raw_command(&server.url(), &["CLIENT", "PAUSE", "1500", "ALL"]).unwrap();
    assert_eq!(reply, "+OK");
    let err = backend
        .commit(vec![Envelope::new(event(1))], vec![input.token.clone()])
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    let chain = necro_core::error_chain(&err);
    assert!(chain.contains("outcome is unknown"), "{chain}");
    assert!(chain.contains("may still"), "{chain}");

    // Once Redis resumes it runs the transaction: the output is there and the input acked.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let len = support::raw_command(&server.url(), &["XLEN", &ctx.stream]).unwrap_or_default();
        if len == ":2" {
            break;
        }
        assert!(Instant::now() < deadline, "XLEN {len}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, "necrostack").await, 0);
}
