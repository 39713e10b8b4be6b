//! Issue 18's long run: many events through one worker with the default retention policy, on
//! the shared Redis, while a slow second group holds entries pending the whole time.
//!
//! - The stream's length stays within the retention bound (`max_entries`, 100,000) plus the
//!   entries added between two trims (sampled: at most two intervals' worth, the one the
//!   marks round up to and the one since the last trim).
//! - Nothing pending is ever trimmed: the slow group's oldest pending entry is always in the
//!   stream (trims only remove from the front, so every later one is too), every entry it
//!   holds at the end comes back with its fields, and it reads every event (none was trimmed
//!   before it was delivered).
//! - The process's resident memory stays flat: the largest `VmRSS` of the last quarter of the
//!   run is under 1.5 times the largest of the first quarter (figures printed).
//!
//! `NECRO_RETENTION_EVENTS` sets the number of events (default 200,000, a run of about
//! 20 s here; the 1,000,000 with `NECRO_RETENTION_EVENTS=1000000`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::types::Value;
use necro_backend_redis::{DEFAULT_RETENTION_MAX_ENTRIES, DEFAULT_TRIM_INTERVAL};
use necro_core::{Backend, Envelope};
use support::{Ctx, cmd, event};

/// How far the producer may run ahead of the slower of the two groups: keeps the floor near
/// the end, so that the count bound, not a lagging group, decides the length.
const AHEAD: u64 = 20_000;
/// The slow group holds this many entries pending before it acks the oldest half.
const HOLD: usize = 10_000;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// `XREADGROUP GROUP slow c COUNT n STREAMS key from`: ids, and whether each has fields.
async fn slow_read(client: &Client, stream: &str, n: usize, from: &str) -> Vec<(String, bool)> {
    let count = n.to_string();
    let reply = cmd(
        client,
        "XREADGROUP",
        &[
            "GROUP", "slow", "c", "COUNT", &count, "STREAMS", stream, from,
        ],
    )
    .await;
    let mut out = Vec::new();
    let Value::Array(streams) = reply else {
        return out;
    };
    for s in streams {
        let Value::Array(mut parts) = s else { continue };
        let Some(Value::Array(items)) = parts.pop() else {
            continue;
        };
        for item in items {
            let Value::Array(kv) = item else { continue };
            let fields = matches!(kv.get(1), Some(Value::Array(f)) if !f.is_empty());
            out.push((kv[0].as_string().unwrap(), fields));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_stays_bounded_and_never_trims_a_pending_entry() {
    let Some(ctx) = Ctx::shared("retention-million") else {
        return;
    };
    let total: u64 = std::env::var("NECRO_RETENTION_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let backend = ctx.builder().connect().await.unwrap();
    let admin = ctx.admin().await;
    cmd(&admin, "XGROUP", &["CREATE", &ctx.stream, "slow", "0"]).await;

    let produced = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let slow_seen = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let producer = {
        let (b, produced, acked, slow_seen) = (
            backend.clone(),
            Arc::clone(&produced),
            Arc::clone(&acked),
            Arc::clone(&slow_seen),
        );
        tokio::spawn(async move {
            let mut i = 0u64;
            while i < total {
                let behind = acked
                    .load(Ordering::Relaxed)
                    .min(slow_seen.load(Ordering::Relaxed));
                if i.saturating_sub(behind) > AHEAD {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let n = 100.min(total - i);
                let batch: Vec<Envelope> = (i..i + n)
                    .map(|k| Envelope::new(event(k as usize)))
                    .collect();
                b.enqueue(batch).await.unwrap();
                i += n;
                produced.store(i, Ordering::Relaxed);
            }
        })
    };
    let worker = {
        let (b, acked) = (backend.clone(), Arc::clone(&acked));
        tokio::spawn(async move {
            while acked.load(Ordering::Relaxed) < total {
                let batch = b.pull(100, Duration::from_millis(100)).await.unwrap();
                let n = batch.len() as u64;
                b.ack(batch.into_iter().map(|d| d.token).collect())
                    .await
                    .unwrap();
                acked.fetch_add(n, Ordering::Relaxed);
            }
        })
    };
    let done = Arc::new(AtomicBool::new(false));
    let slow = {
        let (url, stream, slow_seen, done) = (
            ctx.url.clone(),
            ctx.stream.clone(),
            Arc::clone(&slow_seen),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            let client = support::admin(&url).await;
            let mut holding: std::collections::VecDeque<String> = Default::default();
            let mut checks = 0u64;
            while slow_seen.load(Ordering::Relaxed) < total {
                let got = slow_read(&client, &stream, 1000, ">").await;
                for (id, fields) in &got {
                    assert!(fields, "{id} reached the slow group without its fields");
                    holding.push_back(id.clone());
                }
                slow_seen.fetch_add(got.len() as u64, Ordering::Relaxed);
                if let Some(oldest) = holding.front() {
                    let reply = cmd(&client, "XRANGE", &[&stream, oldest, oldest]).await;
                    assert!(
                        matches!(reply, Value::Array(ref v) if v.len() == 1),
                        "the slow group's pending {oldest} was trimmed"
                    );
                    checks += 1;
                }
                if holding.len() > HOLD {
                    let old: Vec<String> = holding.drain(..HOLD / 2).collect();
                    let mut args = vec![stream.as_str(), "slow"];
                    args.extend(old.iter().map(String::as_str));
                    cmd(&client, "XACK", &args).await;
                }
                if got.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            done.store(true, Ordering::Relaxed);
            // Everything it still holds comes back whole.
            let mine = slow_read(&client, &stream, HOLD * 2, "0").await;
            assert_eq!(mine.len(), holding.len());
            assert!(
                mine.iter().all(|(_, f)| *f),
                "a pending entry lost its fields"
            );
            checks
        })
    };

    // Sample the length, the rate and the memory until both groups are through.
    let bound = DEFAULT_RETENTION_MAX_ENTRIES;
    let mut samples: Vec<(Duration, u64, u64, u64)> = Vec::new(); // (t, produced, xlen, rss)
    while !(done.load(Ordering::Relaxed) && acked.load(Ordering::Relaxed) >= total) {
        let len = cmd(&admin, "XLEN", &[&ctx.stream]).await.as_u64().unwrap();
        samples.push((
            started.elapsed(),
            produced.load(Ordering::Relaxed),
            len,
            vm_rss_kib(),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the run did not finish"
        );
    }
    producer.await.unwrap();
    worker.await.unwrap();
    let checks = slow.await.unwrap();
    let elapsed = started.elapsed();

    // The most entries added within one trim interval, anywhere in the run.
    let per_interval = samples
        .iter()
        .map(|&(t, p, _, _)| {
            let later = samples
                .iter()
                .take_while(|s| s.0 <= t + DEFAULT_TRIM_INTERVAL)
                .last()
                .map_or(p, |s| s.1);
            later - p
        })
        .max()
        .unwrap_or(0);
    let longest = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let q = samples.len() / 4;
    let quarter_max = |s: &[(Duration, u64, u64, u64)]| s.iter().map(|x| x.3).max().unwrap_or(0);
    let first = quarter_max(&samples[..q.max(1)]);
    let last = quarter_max(&samples[samples.len() - q.max(1)..]);
    let stats = backend.stats();
    eprintln!(
        "retention run: {total} events in {elapsed:.1?} ({:.0}/s); longest stream {longest} \
         (bound {bound}, most added in one interval {per_interval}); trimmed {}; \
         slow-group checks {checks}; VmRSS max first quarter {first} KiB, last quarter {last} KiB \
         ({} samples)",
        total as f64 / elapsed.as_secs_f64(),
        stats.trimmed,
        samples.len()
    );
    assert!(
        longest <= bound + 2 * per_interval + 200,
        "the stream reached {longest} entries (bound {bound}, {per_interval} per interval)"
    );
    if total > bound + 2 * per_interval {
        assert!(stats.trimmed > 0, "nothing was trimmed");
    }
    assert!(
        (last as f64) < 1.5 * first as f64,
        "resident memory grew from {first} KiB to {last} KiB"
    );
    let _ = backend.delete_streams().await;
}
