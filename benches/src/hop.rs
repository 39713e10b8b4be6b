//! Streaming scenarios on Redis, producer and consumer at the same time (issue 14): the single
//! hop (a producer sending with 64 in flight while one spine consumes with an organ that emits
//! nothing) and the producer alone (`send` with 64 in flight, `enqueue` of batches), each with
//! its raw fred baseline. The clock of a hop stops when every event is handled and acked.
//! Each scenario also counts the Redis commands it cost (`INFO commandstats`), per event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fred::prelude::{Client, ClientLike, KeysInterface, StreamsInterface, Value};
use necro_backend_redis::RedisBackend;
use necro_core::{Backend, Emit, Envelope, Event, organ_fn};
use necro_spine::Spine;
use tokio::time::Instant;

use crate::events::{TYPE_A, root_event};
use crate::redis::{client, fresh_key};
use crate::stats::Run;

/// Sends in flight at once on the producer side (one task each, sending in turn).
pub const IN_FLIGHT: usize = 64;

/// Redis commands one scenario issued: name (lower case) to calls, from `INFO commandstats`
/// before and after. Other clients of the same server are counted too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commands(pub BTreeMap<String, u64>);

impl Commands {
    /// Calls per event, `xadd=1.00 xreadgroup=0.05 …`, the busiest first.
    #[must_use]
    pub fn per_event(&self, events: u64) -> String {
        let mut rows: Vec<(&String, &u64)> = self.0.iter().filter(|(_, n)| **n > 0).collect();
        rows.sort_by(|a, b| b.1.cmp(a.1));
        let shown: Vec<String> = rows
            .iter()
            .map(|(name, n)| format!("{name}={:.3}", **n as f64 / events.max(1) as f64))
            .collect();
        shown.join(" ")
    }

    /// Every command's calls per event.
    #[must_use]
    pub fn total_per_event(&self, events: u64) -> f64 {
        self.0.values().sum::<u64>() as f64 / events.max(1) as f64
    }
}

async fn command_stats(c: &Client) -> BTreeMap<String, u64> {
    let text: String = c
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        // cmdstat_xadd:calls=12,usec=...
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, fields)) = rest.split_once(':') else {
            continue;
        };
        let calls = fields
            .split(',')
            .find_map(|f| f.strip_prefix("calls="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.insert(name.to_owned(), calls);
    }
    out
}

/// Times `f`, which returns how many events it handled, and counts the commands it makes the
/// server run.
async fn counting<F: Future<Output = u64>>(url: &str, f: F) -> (Run, Commands) {
    let c = client(url).await.expect("connect to Redis");
    let before = command_stats(&c).await;
    let start = Instant::now();
    let events = f.await;
    let run = Run {
        events,
        elapsed: start.elapsed(),
    };
    let after = command_stats(&c).await;
    let _ = c.quit().await;
    let mut diff = BTreeMap::new();
    for (name, n) in after {
        let d = n.saturating_sub(before.get(&name).copied().unwrap_or(0));
        // `info` itself is ours.
        if d > 0 && name != "info" {
            diff.insert(name, d);
        }
    }
    (run, Commands(diff))
}

/// `n` events split over [`IN_FLIGHT`] producers, each sending its share in turn.
fn shares(n: u64) -> Vec<Vec<Event>> {
    let per = n.div_ceil(IN_FLIGHT as u64);
    (0..IN_FLIGHT as u64)
        .map(|p| {
            (p * per..((p + 1) * per).min(n))
                .map(root_event)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Raw baseline of the producer: `XADD` of the event JSON with [`IN_FLIGHT`] in flight on one
/// fred client (fred pipelines commands sent concurrently on one connection).
///
/// # Panics
/// When Redis fails during the run.
pub async fn raw_produce(url: &str, n: u64) -> (Run, Commands) {
    let key = fresh_key("raw-produce");
    let c = client(url).await.expect("connect to Redis");
    let shares: Vec<Vec<String>> = shares(n)
        .into_iter()
        .map(|s| s.iter().map(Event::to_json).collect())
        .collect();
    let out = counting(
        url,
        Box::pin(async {
            let mut tasks = tokio::task::JoinSet::new();
            for share in shares {
                let c = c.clone();
                let key = key.clone();
                tasks.spawn(async move {
                    for json in share {
                        let _: Value = c
                            .xadd(key.as_str(), false, None, "*", ("event", json))
                            .await
                            .expect("XADD");
                    }
                });
            }
            tasks.join_all().await;
            n
        }),
    )
    .await;
    done_with(&c, &key).await;
    out
}

async fn producer(url: &str, key: &str) -> RedisBackend {
    RedisBackend::builder(url)
        .stream_key(key)
        .consumer_group("bench")
        .consumer_name("bench-producer")
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to Redis")
}

/// NecroStack's producer: `Backend::send` with [`IN_FLIGHT`] in flight on one backend.
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_send(url: &str, n: u64) -> (Run, Commands) {
    let key = fresh_key("send");
    let backend = producer(url, &key).await;
    let shares = shares(n);
    let out = counting(
        url,
        Box::pin(async {
            let mut tasks = tokio::task::JoinSet::new();
            for share in shares {
                let backend = backend.clone();
                tasks.spawn(async move {
                    for event in share {
                        backend.send(event).await.expect("send");
                    }
                });
            }
            tasks.join_all().await;
            n
        }),
    )
    .await;
    let _ = backend.close().await;
    delete(url, &key).await;
    out
}

/// Raw baseline of batched producing: one pipeline of `batch` `XADD`s at a time.
///
/// # Panics
/// When Redis fails during the run.
pub async fn raw_produce_batches(url: &str, n: u64, batch: usize) -> (Run, Commands) {
    let key = fresh_key("raw-batches");
    let c = client(url).await.expect("connect to Redis");
    let events: Vec<String> = (0..n).map(|i| root_event(i).to_json()).collect();
    let out = counting(
        url,
        Box::pin(async {
            for chunk in events.chunks(batch.max(1)) {
                let pipe = c.pipeline();
                for json in chunk {
                    let _: Value = pipe
                        .xadd(key.as_str(), false, None, "*", ("event", json.as_str()))
                        .await
                        .expect("queue XADD");
                }
                let _: Vec<Value> = pipe.all().await.expect("XADD batch");
            }
            n
        }),
    )
    .await;
    done_with(&c, &key).await;
    out
}

/// NecroStack's batched producing: `Backend::enqueue` of `batch` events at a time.
///
/// # Panics
/// When Redis fails during the run.
pub async fn necro_enqueue(url: &str, n: u64, batch: usize) -> (Run, Commands) {
    let key = fresh_key("enqueue");
    let backend = producer(url, &key).await;
    let events: Vec<Event> = (0..n).map(root_event).collect();
    let out = counting(
        url,
        Box::pin(async {
            for chunk in events.chunks(batch.max(1)) {
                backend
                    .enqueue(chunk.iter().cloned().map(Envelope::new).collect())
                    .await
                    .expect("enqueue");
            }
            n
        }),
    )
    .await;
    let _ = backend.close().await;
    delete(url, &key).await;
    out
}

/// Deletes the raw scenario's key and closes its client.
async fn done_with(c: &Client, key: &str) {
    let _: Result<Value, _> = c.del(key).await;
    let _ = c.quit().await;
}

async fn delete(url: &str, key: &str) {
    if let Ok(c) = client(url).await {
        let _: Result<Value, _> = c.del(vec![key.to_owned(), format!("{key}:dlq")]).await;
        let _ = c.quit().await;
    }
}

/// Raw baseline of the hop: a producer client sending with [`IN_FLIGHT`] in flight while a
/// consumer client loops `XREADGROUP COUNT batch BLOCK 100` and one `XACK` per batch.
///
/// # Panics
/// When Redis fails during the run.
pub async fn raw_hop(url: &str, n: u64, batch: usize) -> (Run, Commands) {
    let key = fresh_key("raw-hop");
    let producer = client(url).await.expect("connect to Redis");
    let consumer = client(url).await.expect("connect to Redis");
    let _: Value = consumer
        .xgroup_create(key.as_str(), "bench", "$", true)
        .await
        .expect("group");
    let shares: Vec<Vec<String>> = shares(n)
        .into_iter()
        .map(|s| s.iter().map(Event::to_json).collect())
        .collect();
    let out = counting(
        url,
        Box::pin(async {
            for share in shares {
                let c = producer.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    for json in share {
                        let _: Value = c
                            .xadd(key.as_str(), false, None, "*", ("event", json))
                            .await
                            .expect("XADD");
                    }
                });
            }
            let mut handled = 0u64;
            while handled < n {
                let reply: crate::redis::Reply = consumer
                    .xreadgroup_map(
                        "bench",
                        "raw-1",
                        Some(batch as u64),
                        Some(100),
                        false,
                        key.as_str(),
                        ">",
                    )
                    .await
                    .expect("XREADGROUP");
                let ids: Vec<String> = reply.into_values().flatten().map(|(id, _)| id).collect();
                if ids.is_empty() {
                    continue;
                }
                handled += ids.len() as u64;
                let _: Value = consumer
                    .xack(key.as_str(), "bench", ids)
                    .await
                    .expect("XACK");
            }
            handled
        }),
    )
    .await;
    let _: Result<Value, _> = consumer.del(key.as_str()).await;
    let _ = producer.quit().await;
    let _ = consumer.quit().await;
    out
}

/// NecroStack's hop: a producer backend sending with [`IN_FLIGHT`] in flight while one spine
/// (batch `batch`, `concurrency` runners) handles every event with an organ that emits
/// nothing; stopped (gracefully: in-flight work acked) once the organ has seen `n` events.
///
/// # Panics
/// When Redis fails during the run, or an event is left pending.
pub async fn necro_hop(url: &str, n: u64, batch: usize, concurrency: usize) -> (Run, Commands) {
    let key = fresh_key("hop");
    let sender = producer(url, &key).await;
    let consumer = RedisBackend::builder(url)
        .stream_key(key.as_str())
        .consumer_group("bench")
        .consumer_name("bench-1")
        .batch_size(batch)
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to Redis");
    let seen = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let organ = {
        let seen = Arc::clone(&seen);
        organ_fn("Sink", [TYPE_A], move |_ev: Event| {
            if seen.fetch_add(1, Ordering::Relaxed) + 1 == n
                && let Some(tx) = done_tx.lock().ok().and_then(|mut t| t.take())
            {
                let _ = tx.send(());
            }
            async { Ok(Emit::none()) }
        })
    };
    let spine = Spine::builder(consumer.clone())
        .organ(organ)
        .concurrency(concurrency)
        .batch_size(batch)
        .build()
        .expect("valid spine");
    let shares = shares(n);
    let out = counting(
        url,
        Box::pin(async {
            let runner = tokio::spawn({
                let spine = spine.clone();
                async move { spine.run().await }
            });
            for share in shares {
                let sender = sender.clone();
                tokio::spawn(async move {
                    for event in share {
                        sender.send(event).await.expect("send");
                    }
                });
            }
            let _ = done_rx.await;
            spine.shutdown_handle().shutdown();
            let stats = runner.await.expect("runner").expect("run");
            stats.processed
        }),
    )
    .await;
    let pending = consumer.inspect().await.ok();
    let _ = consumer.close().await;
    let _ = sender.close().await;
    delete(url, &key).await;
    if let Some(info) = pending {
        let held: u64 = info.groups.iter().map(|g| g.pending).sum();
        assert_eq!(held, 0, "every event acked");
    }
    out
}
