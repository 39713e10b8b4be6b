//! The retention policy against a real Redis: trimming at the bound, never past an entry a
//! group still needs (pending, or not yet delivered), a stopped group holding the floor and
//! showing its lag, two trimmers at once, the dead-letter bound, the lease, and the
//! `maxmemory-policy` check.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::types::Value;
use metrics::{Counter, Gauge, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use necro_backend_redis::{ConnectError, EvictionCheck, FloorHold, RedisBackend, RetentionPolicy};
use necro_core::{Backend, Health};
use support::{Ctx, RedisServer, cmd, drain, event, raw_xadd};

// ---- a small global recorder: every counter and gauge by name and labels ----

#[derive(Default)]
struct Cell(AtomicU64);

impl metrics::CounterFn for Cell {
    fn increment(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn absolute(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
}

impl metrics::GaugeFn for Cell {
    fn increment(&self, v: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + v);
    }
    fn decrement(&self, v: f64) {
        self.increment(-v);
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Cells(Mutex<HashMap<String, Arc<Cell>>>);

fn key_text(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Cells {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        Arc::clone(self.0.lock().unwrap().entry(key_text(key)).or_default())
    }
}

impl Recorder for &'static Cells {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn cells() -> &'static Cells {
    static CELLS: OnceLock<&'static Cells> = OnceLock::new();
    CELLS.get_or_init(|| {
        let cells: &'static Cells = Box::leak(Box::default());
        metrics::set_global_recorder(cells).expect("the only recorder of this binary");
        cells
    })
}

fn counter(name: &str, labels: &str) -> u64 {
    let text = format!("{name}{{{labels}}}");
    cells()
        .0
        .lock()
        .unwrap()
        .get(&text)
        .map_or(0, |c| c.0.load(Ordering::Relaxed))
}

fn gauge(name: &str, labels: &str) -> Option<f64> {
    let text = format!("{name}{{{labels}}}");
    cells()
        .0
        .lock()
        .unwrap()
        .get(&text)
        .map(|c| f64::from_bits(c.0.load(Ordering::Relaxed)))
}

// ---- raw group helpers (another group, as another application would read) ----

/// `XREADGROUP GROUP g c COUNT n STREAMS key from`: the ids, and whether each came with its
/// fields (an entry trimmed while pending comes back without them).
async fn group_read(
    client: &Client,
    stream: &str,
    group: &str,
    count: usize,
    from: &str,
) -> Vec<(String, bool)> {
    let n = count.to_string();
    let reply = cmd(
        client,
        "XREADGROUP",
        &["GROUP", group, "c", "COUNT", &n, "STREAMS", stream, from],
    )
    .await;
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(mut parts) = s else { continue };
        let Some(Value::Array(items)) = parts.pop() else {
            continue;
        };
        for item in items {
            let Value::Array(kv) = item else { continue };
            let id = kv[0].as_string().unwrap();
            let has_fields = matches!(kv.get(1), Some(Value::Array(f)) if !f.is_empty());
            out.push((id, has_fields));
        }
    }
    out
}

async fn xlen(client: &Client, stream: &str) -> u64 {
    cmd(client, "XLEN", &[stream]).await.as_u64().unwrap()
}

async fn first_id(client: &Client, stream: &str) -> Option<String> {
    let reply = cmd(client, "XRANGE", &[stream, "-", "+", "COUNT", "1"]).await;
    let Value::Array(items) = reply else {
        return None;
    };
    let Value::Array(kv) = items.into_iter().next()? else {
        return None;
    };
    kv[0].as_string()
}

async fn exists(client: &Client, stream: &str, id: &str) -> bool {
    matches!(cmd(client, "XRANGE", &[stream, id, id]).await, Value::Array(v) if !v.is_empty())
}

/// A policy for tests: keep no acknowledged history, and no background pass during the test
/// (passes run through `trim()`), unless the test says otherwise.
fn keep_nothing() -> RetentionPolicy {
    RetentionPolicy::new()
        .max_entries(0)
        .interval(Duration::from_secs(3600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_entries_are_trimmed_to_the_count_bound() {
    cells();
    let Some(ctx) = Ctx::shared("retention-count") else {
        return;
    };
    let policy = RetentionPolicy::new()
        .max_entries(10)
        .interval(Duration::from_secs(3600));
    let backend = ctx.builder().retention(policy).connect().await.unwrap();
    let admin = ctx.admin().await;
    let mut i = 0;
    for _round in 0..5 {
        let batch: Vec<_> = (0..10)
            .map(|_| {
                i += 1;
                event(i)
            })
            .collect();
        for e in batch {
            backend.send(e).await.unwrap();
        }
        assert_eq!(drain(&backend, 10, Duration::from_secs(5)).await.len(), 10);
        backend.trim().await.unwrap();
    }
    // Marks at 10, 20, …, 50 entries added: the cut keeps entries 40..=50.
    assert_eq!(xlen(&admin, &ctx.stream).await, 11);
    assert_eq!(backend.stats().trimmed, 39);
    assert_eq!(
        counter(
            "necro_redis_trimmed_total",
            &format!("stream={}", ctx.stream)
        ),
        39
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_trims_by_itself() {
    cells();
    let Some(ctx) = Ctx::shared("retention-background") else {
        return;
    };
    let policy = RetentionPolicy::new()
        .max_entries(5)
        .interval(Duration::from_millis(20));
    let backend = ctx.builder().retention(policy).connect().await.unwrap();
    let admin = ctx.admin().await;
    for i in 0..100 {
        backend.send(event(i)).await.unwrap();
        if i % 10 == 9 {
            drain(&backend, 10, Duration::from_secs(5)).await;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while xlen(&admin, &ctx.stream).await > 5 + 10 + 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let len = xlen(&admin, &ctx.stream).await;
    assert!(len <= 16, "the stream kept {len} entries");
    assert!(backend.stats().trimmed >= 84);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_group_holds_the_floor_at_its_last_delivered_id_and_shows_its_lag() {
    cells();
    let Some(ctx) = Ctx::shared("retention-stopped") else {
        return;
    };
    let backend = ctx
        .builder()
        .retention(keep_nothing())
        .connect()
        .await
        .unwrap();
    let admin = ctx.admin().await;
    cmd(&admin, "XGROUP", &["CREATE", &ctx.stream, "stopped", "0"]).await;
    for i in 0..5 {
        backend.send(event(i)).await.unwrap();
    }
    let read = group_read(&admin, &ctx.stream, "stopped", 5, ">").await;
    let last = read.last().unwrap().0.clone();
    for (id, _) in &read {
        cmd(&admin, "XACK", &[&ctx.stream, "stopped", id]).await;
    }
    for i in 5..100 {
        backend.send(event(i)).await.unwrap();
    }
    assert_eq!(
        drain(&backend, 100, Duration::from_secs(5)).await.len(),
        100
    );

    let report = backend.trim().await.unwrap();
    let floor = report.floor.expect("a floor");
    assert_eq!(floor.group, "stopped");
    assert_eq!(floor.id.as_str(), last);
    assert_eq!(floor.hold, FloorHold::Undelivered);
    assert_eq!(floor.lag, Some(95));
    assert_eq!(report.trimmed, 4);
    assert_eq!(xlen(&admin, &ctx.stream).await, 96);
    assert_eq!(
        first_id(&admin, &ctx.stream).await.as_deref(),
        Some(last.as_str())
    );
    // A second pass removes nothing more: the group still has not read on.
    assert_eq!(backend.trim().await.unwrap().trimmed, 0);

    let labels = format!("group=stopped,stream={}", ctx.stream);
    assert_eq!(gauge("necro_redis_group_lag", &labels), Some(95.0));
    let age = gauge(
        "necro_redis_trim_floor_age_seconds",
        &format!("stream={}", ctx.stream),
    );
    assert!(age.is_some_and(|a| a >= 0.0), "{age:?}");

    let health = backend.health().await;
    assert_eq!(health.details["trim_floor"], last.as_str());
    assert_eq!(health.details["trim_floor_group"], "stopped");
    assert_eq!(health.details["trim_floor_lag"], 95);

    let info = backend.inspect().await.unwrap();
    let floor = info.floor.expect("inspect shows the floor");
    assert_eq!(
        (floor.group.as_str(), floor.id.as_str()),
        ("stopped", last.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_entries_are_never_trimmed_unless_their_group_is_ignored() {
    cells();
    let Some(ctx) = Ctx::shared("retention-pending") else {
        return;
    };
    let backend = ctx
        .builder()
        .retention(keep_nothing())
        .connect()
        .await
        .unwrap();
    let admin = ctx.admin().await;
    cmd(&admin, "XGROUP", &["CREATE", &ctx.stream, "slow", "0"]).await;
    for i in 0..100 {
        backend.send(event(i)).await.unwrap();
    }
    let held = group_read(&admin, &ctx.stream, "slow", 10, ">").await;
    assert_eq!(held.len(), 10);
    assert_eq!(
        drain(&backend, 100, Duration::from_secs(5)).await.len(),
        100
    );

    let report = backend.trim().await.unwrap();
    let floor = report.floor.unwrap();
    assert_eq!(
        (floor.group.as_str(), floor.hold),
        ("slow", FloorHold::Pending)
    );
    assert_eq!(floor.id.as_str(), held[0].0);
    assert_eq!(report.trimmed, 0);

    // The slow group acks its first five: the floor moves to its sixth.
    for (id, _) in &held[..5] {
        cmd(&admin, "XACK", &[&ctx.stream, "slow", id]).await;
    }
    assert_eq!(backend.trim().await.unwrap().trimmed, 5);
    for (id, _) in &held[5..] {
        assert!(
            exists(&admin, &ctx.stream, id).await,
            "pending {id} was trimmed"
        );
    }
    let mine = group_read(&admin, &ctx.stream, "slow", 100, "0").await;
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|(_, fields)| *fields));

    // A backend that ignores the slow group trims past it.
    let ignoring = ctx
        .builder()
        .retention(keep_nothing().ignore_group("slow"))
        .connect()
        .await
        .unwrap();
    let report = ignoring.trim().await.unwrap();
    assert!(report.trimmed >= 90, "{report:?}");
    assert_eq!(report.floor.unwrap().group, "necrostack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_trimmers_at_once_never_trim_past_the_floor() {
    cells();
    let Some(ctx) = Ctx::shared("retention-concurrent") else {
        return;
    };
    const N: usize = 3_000;
    let policy = keep_nothing().interval(Duration::from_millis(10));
    let w1 = ctx
        .builder()
        .retention(policy.clone())
        .connect()
        .await
        .unwrap();
    let w2 = ctx.builder().retention(policy).connect().await.unwrap();
    let admin = ctx.admin().await;
    cmd(&admin, "XGROUP", &["CREATE", &ctx.stream, "slow", "0"]).await;

    let producer = {
        let b = w1.clone();
        tokio::spawn(async move {
            for i in 0..N {
                b.send(event(i)).await.unwrap();
            }
        })
    };
    let acked = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = [w1.clone(), w2.clone()]
        .into_iter()
        .map(|b| {
            let acked = Arc::clone(&acked);
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                while acked.load(Ordering::Relaxed) < N as u64 && Instant::now() < deadline {
                    let batch = b.pull(50, Duration::from_millis(50)).await.unwrap();
                    acked.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    b.ack(batch.into_iter().map(|d| d.token).collect())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trimmers: Vec<_> = [w1.clone(), w2.clone()]
        .into_iter()
        .map(|b| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut passes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    b.trim().await.unwrap();
                    passes += 1;
                }
                passes
            })
        })
        .collect();

    // The slow group reads a few at a time, holds them pending for a while, and checks
    // every entry it holds is still whole.
    let mut seen = BTreeSet::new();
    let mut holding: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.len() < N && Instant::now() < deadline {
        let got = group_read(&admin, &ctx.stream, "slow", 7, ">").await;
        for (id, fields) in &got {
            assert!(fields, "{id} was delivered without its fields");
            assert!(seen.insert(id.clone()), "{id} delivered twice");
            holding.push(id.clone());
        }
        let mine = group_read(&admin, &ctx.stream, "slow", 1000, "0").await;
        assert_eq!(mine.len(), holding.len());
        for (id, fields) in &mine {
            assert!(fields, "pending {id} was trimmed");
        }
        if holding.len() > 40 {
            let old: Vec<String> = holding.drain(..20).collect();
            let mut args = vec![ctx.stream.as_str(), "slow"];
            args.extend(old.iter().map(String::as_str));
            cmd(&admin, "XACK", &args).await;
        }
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    producer.await.unwrap();
    for w in workers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let passes: u64 = futures_sum(trimmers).await;
    assert_eq!(
        seen.len(),
        N,
        "the slow group missed entries trimmed before it read them"
    );
    assert_eq!(
        acked.load(Ordering::Relaxed),
        N as u64,
        "the workers' group missed entries"
    );
    assert!(passes > 2, "{passes} passes");
    assert!(w1.stats().trimmed + w2.stats().trimmed > 0);
}

async fn futures_sum(tasks: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    let mut sum = 0;
    for t in tasks {
        sum += t.await.unwrap();
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_beyond_the_bound_are_dropped_counted_and_logged() {
    cells();
    let Some(ctx) = Ctx::shared("retention-dlq") else {
        return;
    };
    let policy = keep_nothing().dlq_max_entries(3);
    let backend = ctx.builder().retention(policy).connect().await.unwrap();
    let admin = ctx.admin().await;
    for i in 0..5 {
        raw_xadd(&admin, &ctx.stream, &[("not_event", &i.to_string())]).await;
    }
    let got = backend.pull(10, Duration::from_millis(100)).await.unwrap();
    assert!(got.is_empty());
    assert_eq!(backend.dlq().count().await.unwrap(), 5);
    let oldest = backend.dlq().list(5).await.unwrap();

    let report = backend.trim().await.unwrap();
    assert_eq!(report.dlq_dropped, 2);
    assert_eq!(backend.stats().dlq_dropped, 2);
    assert_eq!(
        counter(
            "necro_redis_dlq_dropped_total",
            &format!("stream={}", ctx.stream)
        ),
        2
    );
    let left = backend.dlq().list(5).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        oldest[2..].iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );

    // By age: every letter older than a millisecond goes.
    let by_age = ctx
        .builder()
        .retention(keep_nothing().dlq_max_age(Duration::from_millis(1)))
        .connect()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(by_age.trim().await.unwrap().dlq_dropped, 3);
    assert_eq!(backend.dlq().count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_holds_the_trim_lease() {
    cells();
    let Some(ctx) = Ctx::shared("retention-lease") else {
        return;
    };
    let policy = RetentionPolicy::new().interval(Duration::from_millis(20));
    let a = ctx
        .builder()
        .retention(policy.clone())
        .connect()
        .await
        .unwrap();
    let b = ctx.builder().retention(policy).connect().await.unwrap();
    let admin = ctx.admin().await;
    let lease = format!("{}:trim-lease", ctx.stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        if let Some(h) = cmd(&admin, "GET", &[&lease]).await.as_string() {
            break h;
        }
        assert!(Instant::now() < deadline, "nobody took the lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        holder == a.consumer_name() || holder == b.consumer_name(),
        "{holder}"
    );
    // The holder keeps it while it lives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        cmd(&admin, "GET", &[&lease]).await.as_string(),
        Some(holder)
    );
    drop((a, b));
    cmd(&admin, "DEL", &[&lease]).await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_evicting_maxmemory_policy_is_a_warning_or_a_refusal() {
    cells();
    let Some(server) = RedisServer::start_with(false, &["--maxmemory-policy", "allkeys-lru"])
    else {
        return;
    };
    let ctx = Ctx::on(&server, "retention-eviction");
    let refused = ctx
        .builder()
        .retention(RetentionPolicy::new().eviction_check(EvictionCheck::Refuse))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ConnectError::EvictionPolicy { policy, .. } if policy == "allkeys-lru"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("allkeys-lru"), "{refused}");

    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let warned: RedisBackend = ctx.builder().connect().await.unwrap();
    let off = ctx
        .builder()
        .retention(RetentionPolicy::new().eviction_check(EvictionCheck::Off))
        .connect()
        .await
        .unwrap();
    drop(guard);
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("may evict the stream keys").count(), 1, "{log}");
    assert!(log.contains("WARN") && log.contains("allkeys-lru"), "{log}");
    let _ = warned.close().await;
    let _ = off.close().await;

    // noeviction (the shared server's) connects without a word.
    let Some(shared) = Ctx::shared("retention-noeviction") else {
        return;
    };
    assert!(
        shared
            .builder()
            .retention(RetentionPolicy::new().eviction_check(EvictionCheck::Refuse))
            .connect()
            .await
            .is_ok()
    );
}
