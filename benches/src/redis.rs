//! Redis scenarios: the A→B→C chain with a batch size, and single-event latency, each with its
//! raw fred baseline. Every run uses fresh stream keys and deletes them afterwards.

use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::{
    Builder, Client, ClientLike, Config, Error as FredError, KeysInterface, StreamsInterface, Value,
};
use necro_backend_redis::{RedisBackend, RetentionPolicy};
use necro_core::{Backend, Emit, Envelope, Event, organ_fn};
use necro_spine::{BackendBreakerConfig, Spine};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::events::{TYPE_A, TYPE_B, next_event, root_event};
use crate::memory::chain_spine;
use crate::probe::Probe;
use crate::stats::{Latency, Run};

/// An `XREADGROUP` reply: stream key to `(entry id, fields)`.
pub(crate) type Reply = HashMap<String, Vec<(String, HashMap<String, String>)>>;

/// The Redis URL of the benchmarks: `NECRO_BENCH_REDIS_URL`, or `redis://127.0.0.1:6379`.
#[must_use]
pub fn url() -> String {
    std::env::var("NECRO_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh, unique stream key.
pub(crate) fn fresh_key(what: &str) -> String {
    format!("necro-bench:{what}:{}", Uuid::new_v4().simple())
}

/// A connected fred client. Every command gives up after five seconds (the longest `BLOCK`
/// here is one second), so a Redis that dies mid-run fails the scenario instead of hanging it.
///
/// # Errors
/// When Redis cannot be reached within two seconds.
pub async fn client(url: &str) -> Result<Client, FredError> {
    let config = Config::from_url(url)?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(5))
        .build()?;
    match tokio::time::timeout(Duration::from_secs(2), client.init()).await {
        Ok(r) => r.map(|_| client),
        Err(_) => Err(FredError::new(
            fred::error::ErrorKind::Timeout,
            "Redis did not answer within 2 s",
        )),
    }
}

/// Whether a Redis server answers `PING` at `url`; the error says why not.
///
/// # Errors
/// The reason Redis is not usable.
pub async fn available(url: &str) -> Result<(), String> {
    let c = client(url).await.map_err(|e| e.to_string())?;
    let pong: Result<String, _> = c.ping(None).await;
    let _ = c.quit().await;
    pong.map(|_| ()).map_err(|e| e.to_string())
}

async fn delete(url: &str, keys: &[String]) {
    if let Ok(c) = client(url).await {
        let _: Result<Value, _> = c.del(keys.to_vec()).await;
        let _ = c.quit().await;
    }
}

/// The retention policy of the "retention on" rows: trims all through the run (the default
/// keeps 100,000 entries, more than a bench run writes), every 100 ms.
pub fn active_retention() -> RetentionPolicy {
    RetentionPolicy::new()
        .max_entries(1_000)
        .interval(Duration::from_millis(100))
}

async fn backend(url: &str, key: &str, batch: usize, retention: RetentionPolicy) -> RedisBackend {
    RedisBackend::builder(url)
        .retention(retention)
        .stream_key(key)
        .consumer_group("bench")
        .consumer_name("bench-1")
        .batch_size(batch)
        // A Redis that dies mid-run fails the scenario within seconds, not the default
        // minute of a drain run's backend circuit breaker (10 pulls of 5 s each).
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to Redis")
}

/// NecroStack: `roots` chains through the spine on Redis with `batch` deliveries per pull, at
/// `concurrency` (above 1: one runner per worker thread); the roots are queued before the clock
/// starts.
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_chain(url: &str, roots: Vec<Event>, batch: usize, concurrency: usize) -> Run {
    necro_chain_with(url, roots, batch, concurrency, RetentionPolicy::new()).await
}

/// As [`necro_chain`], with the given retention policy (the default's is on).
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_chain_with(
    url: &str,
    roots: Vec<Event>,
    batch: usize,
    concurrency: usize,
    retention: RetentionPolicy,
) -> Run {
    let n = roots.len() as u64;
    let key = fresh_key("chain");
    let backend = backend(url, &key, batch, retention).await;
    for chunk in roots.chunks(1000) {
        backend
            .enqueue(chunk.iter().cloned().map(Envelope::new).collect())
            .await
            .expect("enqueue roots");
    }
    let builder = Spine::builder(backend.clone()).backend_breaker(BackendBreakerConfig {
        failure_threshold: 3,
        cooldown: Duration::from_secs(1),
    });
    let spine = chain_spine(builder, concurrency, batch, n * 3 + 1);
    let start = Instant::now();
    let stats = spine.run_until_drained().await.expect("chain run");
    let elapsed = start.elapsed();
    assert_eq!(stats.processed, n * 3, "every chain step ran");
    let _ = backend.close().await;
    delete(
        url,
        &[
            key.clone(),
            format!("{key}:dlq"),
            format!("{key}:trim-lease"),
        ],
    )
    .await;
    Run {
        events: stats.processed,
        elapsed,
    }
}

/// Raw baseline: one fred client; `XREADGROUP COUNT batch`, then one pipeline of the next
/// step's `XADD`s (the same JSON the spine writes) and one `XACK` for the batch.
///
/// # Panics
/// When Redis fails during the run.
pub async fn raw_chain(url: &str, roots: &[Event], batch: usize) -> Run {
    let n = roots.len() as u64;
    let key = fresh_key("raw-chain");
    let c = client(url).await.expect("connect to Redis");
    let _: Value = c
        .xgroup_create(key.as_str(), "bench", "$", true)
        .await
        .expect("group");
    for chunk in roots.chunks(1000) {
        let pipe = c.pipeline();
        for ev in chunk {
            let _: Value = pipe
                .xadd(key.as_str(), false, None, "*", ("event", ev.to_json()))
                .await
                .expect("queue XADD");
        }
        let _: Vec<Value> = pipe.all().await.expect("XADD roots");
    }
    // The same JSON the chain steps produce (built once: the raw loop only moves it).
    let b = next_event(&roots[0]).expect("B");
    let json_b = b.to_json();
    let json_c = next_event(&b).expect("C").to_json();
    let start = Instant::now();
    let mut events = 0u64;
    while events < n * 3 {
        let reply: Reply = c
            .xreadgroup_map(
                "bench",
                "raw-1",
                Some(batch as u64),
                None,
                false,
                key.as_str(),
                ">",
            )
            .await
            .expect("XREADGROUP");
        let entries = reply.into_values().next().unwrap_or_default();
        if entries.is_empty() {
            continue;
        }
        let pipe = c.pipeline();
        let mut ids = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let json = fields.get("event").map(String::as_str).unwrap_or_default();
            let next = if json.contains(TYPE_A) {
                Some(&json_b)
            } else if json.contains(TYPE_B) {
                Some(&json_c)
            } else {
                None
            };
            if let Some(next) = next {
                let _: Value = pipe
                    .xadd(key.as_str(), false, None, "*", ("event", next.as_str()))
                    .await
                    .expect("queue XADD");
            }
            ids.push(id);
        }
        events += ids.len() as u64;
        let _: Value = pipe
            .xack(key.as_str(), "bench", ids)
            .await
            .expect("queue XACK");
        let _: Vec<Value> = pipe.all().await.expect("pipeline");
    }
    let elapsed = start.elapsed();
    let _: Result<Value, _> = c.del(key.as_str()).await;
    let _ = c.quit().await;
    Run { events, elapsed }
}

/// NecroStack: one event at a time through a spine running as a service on Redis; enqueue to
/// organ entry, and enqueue to ack (the `XACK` returned). The first `warmup` samples are dropped.
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_latency(url: &str, samples: usize, warmup: usize) -> Latency {
    necro_latency_with(url, samples, warmup, RetentionPolicy::new()).await
}

/// As [`necro_latency`], with the given retention policy.
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_latency_with(
    url: &str,
    samples: usize,
    warmup: usize,
    retention: RetentionPolicy,
) -> Latency {
    let key = fresh_key("latency");
    let backend = backend(url, &key, 64, retention).await;
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    let (entry_tx, mut entry_rx) = mpsc::unbounded_channel::<Instant>();
    let spine =
        Spine::builder_with_dead_letters(Probe::new(backend.clone(), ack_tx), backend.clone())
            .organ(organ_fn("Entry", [TYPE_A], move |_ev: Event| {
                let _ = entry_tx.send(Instant::now());
                async { Ok(Emit::none()) }
            }))
            .poll_interval(Duration::from_millis(500))
            .build()
            .expect("valid spine");
    let runner = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run().await }
    });
    let mut out = Vec::with_capacity(samples);
    for i in 0..(samples + warmup) as u64 {
        let ev = root_event(i);
        let t0 = Instant::now();
        spine.send(ev).await.expect("send");
        // A spine running as a service retries a dead Redis forever; the scenario does not.
        let entry = tokio::time::timeout(Duration::from_secs(10), entry_rx.recv())
            .await
            .expect("the organ ran within 10 s")
            .expect("organ ran");
        let ack = tokio::time::timeout(Duration::from_secs(10), ack_rx.recv())
            .await
            .expect("the event was acked within 10 s")
            .expect("acked");
        if i as usize >= warmup {
            out.push((entry - t0, ack - t0));
        }
    }
    spine.shutdown_handle().shutdown();
    runner.await.expect("runner").expect("run");
    let _ = backend.close().await;
    delete(
        url,
        &[
            key.clone(),
            format!("{key}:dlq"),
            format!("{key}:trim-lease"),
        ],
    )
    .await;
    Latency::of(&out)
}

/// Raw baseline: `XADD` on one client; a reader task on its own client blocks in
/// `XREADGROUP COUNT 1 BLOCK`, notes its entry, `XACK`s and notes the ack.
///
/// # Panics
/// When Redis fails during the run.
pub async fn raw_latency(url: &str, samples: usize, warmup: usize) -> Latency {
    let key = fresh_key("raw-latency");
    let writer = client(url).await.expect("connect to Redis");
    let reader = client(url).await.expect("connect to Redis");
    let _: Value = writer
        .xgroup_create(key.as_str(), "bench", "$", true)
        .await
        .expect("group");
    let total = samples + warmup;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Instant, Instant)>();
    let task = tokio::spawn({
        let key = key.clone();
        async move {
            let mut seen = 0;
            while seen < total {
                let reply: Reply = reader
                    .xreadgroup_map(
                        "bench",
                        "raw-1",
                        Some(1),
                        Some(1000),
                        false,
                        key.as_str(),
                        ">",
                    )
                    .await
                    .expect("XREADGROUP");
                for (id, _fields) in reply.into_values().flatten() {
                    let entry = Instant::now();
                    let _: Value = reader.xack(key.as_str(), "bench", id).await.expect("XACK");
                    let _ = done_tx.send((entry, Instant::now()));
                    seen += 1;
                }
            }
            let _ = reader.quit().await;
        }
    });
    let mut out = Vec::with_capacity(samples);
    for i in 0..total as u64 {
        let json = root_event(i).to_json();
        let t0 = Instant::now();
        let _: Value = writer
            .xadd(key.as_str(), false, None, "*", ("event", json))
            .await
            .expect("XADD");
        let (entry, ack) = done_rx.recv().await.expect("reader ran");
        if i as usize >= warmup {
            out.push((entry - t0, ack - t0));
        }
    }
    task.await.expect("reader task");
    let _: Result<Value, _> = writer.del(key.as_str()).await;
    let _ = writer.quit().await;
    Latency::of(&out)
}
