//! The report: runs every scenario with its raw baseline and prints the slide-13 table, or
//! one JSON object with `--json`.

use std::fmt::Write as _;
use std::time::Duration;

use necro_core::serde_json::{self, Value, json};

use crate::events::round_trip;
pub use crate::stats::describe;
use crate::stats::{Latency, best, run_on, runtime, si, try_run_on};
use crate::{memory, redis};

/// How much work each scenario does.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Root events per in-memory chain run (each makes three processed events).
    pub memory_roots: u64,
    /// Concurrency of the concurrent in-memory chain.
    pub concurrency: usize,
    /// Timed repetitions of each throughput scenario (the best one counts).
    pub reps: usize,
    /// Latency samples per latency scenario.
    pub latency_samples: usize,
    /// Root events per Redis chain run, for each batch size.
    pub redis_chain: Vec<(usize, u64)>,
    /// The batch size whose Redis chain figure is the headline.
    pub redis_headline_batch: usize,
    /// Latency samples on Redis.
    pub redis_latency_samples: usize,
    /// Events queued for the peak-memory figure.
    pub rss_events: u64,
    /// Event round trips timed.
    pub round_trips: u64,
    /// Orders through the trading example with settlement latency off.
    pub trading_orders: u64,
    /// Orders with the slide's settlement latency on (100 ms, 50–150 ms on the slide).
    pub trading_orders_settling: u64,
    /// Events in flight with settlement latency on.
    pub trading_concurrency: usize,
}

impl Sizes {
    /// The full report: a couple of minutes on a 2-core machine.
    #[must_use]
    pub fn full() -> Self {
        Self {
            memory_roots: 100_000,
            concurrency: 16,
            reps: 5,
            latency_samples: 20_000,
            redis_chain: vec![(1, 2_000), (16, 10_000), (64, 20_000), (256, 20_000)],
            redis_headline_batch: 64,
            redis_latency_samples: 2_000,
            rss_events: 1_000_000,
            round_trips: 200_000,
            trading_orders: 50_000,
            trading_orders_settling: 10_000,
            trading_concurrency: 1_024,
        }
    }

    /// A smoke run: seconds, figures meaningless.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            memory_roots: 2_000,
            concurrency: 4,
            reps: 1,
            latency_samples: 200,
            redis_chain: vec![(64, 300)],
            redis_headline_batch: 64,
            redis_latency_samples: 50,
            rss_events: 10_000,
            round_trips: 2_000,
            trading_orders: 500,
            trading_orders_settling: 100,
            trading_concurrency: 64,
        }
    }
}

/// Runs every scenario and returns the report as one JSON object.
///
/// `rss` measures peak memory for `n` events and the raw baseline (`raw = true`) in a child
/// process; it returns bytes, or `None` when it could not.
pub fn run(sizes: &Sizes, rss: &dyn Fn(u64, bool) -> Result<u64, String>) -> Value {
    let rt = runtime();
    let mut out = serde_json::Map::new();
    out.insert("machine".into(), machine());
    out.insert("quick".into(), json!(sizes.memory_roots < 10_000));

    // Event build + validate + JSON round trip, against serde_json on the same payload.
    let per_op = |f: &dyn Fn(u64)| {
        let start = std::time::Instant::now();
        for i in 0..sizes.round_trips {
            f(i);
        }
        sizes.round_trips as f64 / start.elapsed().as_secs_f64()
    };
    let raw_rt = per_op(&|i| {
        let text = serde_json::to_string(&crate::events::payload(i)).expect("serialize");
        std::hint::black_box(serde_json::from_str::<Value>(&text).expect("parse"));
    });
    let necro_rt = per_op(&|i| {
        std::hint::black_box(round_trip(i));
    });
    out.insert(
        "event_round_trip".into(),
        throughput("round trips/s", "(none)", necro_rt, raw_rt, None),
    );

    // In-memory chain, concurrency 1 and N; runs interleaved with the raw chain.
    let mut raw = Vec::new();
    let mut c1 = Vec::new();
    let mut boxed = Vec::new();
    let mut headers = Vec::new();
    let mut cn = Vec::new();
    for _ in 0..sizes.reps {
        let n = sizes.memory_roots;
        raw.push(run_on(&rt, async move {
            memory::raw_chain(memory::roots(n)).await
        }));
        c1.push(run_on(&rt, async move {
            memory::necro_chain(memory::roots(n), 1).await
        }));
        boxed.push(run_on(&rt, async move {
            memory::necro_chain_boxed(memory::roots(n), 1).await
        }));
        headers.push(run_on(&rt, async move {
            memory::necro_chain_with_headers(memory::roots(n), 1).await
        }));
        let c = sizes.concurrency;
        cn.push(run_on(&rt, async move {
            memory::necro_chain(memory::roots(n), c).await
        }));
    }
    let raw_best = best(&raw);
    // Concurrency 1 is one runner, so one core, against a raw chain whose three tasks use
    // every core: shown for reference; the target is judged at concurrency N.
    let mut single = throughput("events/s", "10k+ events/s", best(&c1), raw_best, None);
    single["note"] = json!("one runner (one core, strict FIFO); the raw chain uses every core");
    out.insert("memory_chain".into(), single);
    let mut concurrent = throughput("events/s", "10k+ events/s", best(&cn), raw_best, Some(0.5));
    concurrent["concurrency"] = json!(sizes.concurrency);
    out.insert("memory_chain_concurrent".into(), concurrent);
    // The same chain (concurrency 1) on the in-memory backend erased into a `BoxBackend`,
    // against the plain backend's runs above: what choosing the backend at run time costs.
    let mut erased = throughput("events/s", "(none)", best(&boxed), best(&c1), None);
    erased["baseline_is"] = json!("the same chain on the plain MemoryBackend (c=1), same run");
    erased["ratio_of"] = json!("plain");
    erased["concurrency"] = json!(1);
    out.insert("memory_chain_boxed".into(), erased);
    // The same chain with a W3C trace context on every root, passed down to every event.
    let mut traced = throughput("events/s", "(none)", best(&headers), best(&c1), None);
    traced["baseline_is"] =
        json!("the same chain without headers on the plain MemoryBackend (c=1), same run");
    traced["ratio_of"] = json!("plain");
    traced["concurrency"] = json!(1);
    traced["headers"] = json!(["traceparent", "tracestate"]);
    out.insert("memory_chain_headers".into(), traced);

    // In-memory single-event latency.
    let s = sizes.latency_samples;
    let warm = (s / 10).max(10);
    let raw_lat = run_on(&rt, async move { memory::raw_latency(s, warm).await });
    let necro_lat = run_on(&rt, async move { memory::necro_latency(s, warm).await });
    out.insert(
        "memory_latency".into(),
        latency(
            "p50 < 1 ms, p99 < 5 ms",
            &necro_lat,
            &raw_lat,
            Duration::from_micros(20),
            Duration::from_micros(200),
        ),
    );

    // Redis.
    let url = redis::url();
    match run_on(&rt, {
        let url = url.clone();
        async move { redis::available(&url).await }
    }) {
        Ok(()) => match redis_scenarios(sizes, &rt, &url) {
            Ok((chain, latency, retention)) => {
                out.insert("redis_chain".into(), chain);
                out.insert("redis_latency".into(), latency);
                out.insert("redis_chain_retention".into(), retention.0);
                out.insert("redis_latency_retention".into(), retention.1);
            }
            Err(why) => {
                // Redis answered at first and failed during the run: say so, keep going.
                let failed = json!({
                    "skipped": format!("Redis at {} failed during the run: {why}", necro_backend_redis::mask_url(&url)),
                    "measured": Value::Null, "baseline": Value::Null, "ratio": Value::Null,
                });
                out.insert("redis_chain".into(), failed.clone());
                out.insert("redis_chain_retention".into(), failed.clone());
                out.insert("redis_latency_retention".into(), failed.clone());
                out.insert("redis_latency".into(), failed);
            }
        },
        Err(why) => {
            let skipped = json!({
                "skipped": format!("no Redis answers at {} ({why}); set NECRO_BENCH_REDIS_URL", necro_backend_redis::mask_url(&url)),
                "measured": Value::Null, "baseline": Value::Null, "ratio": Value::Null,
            });
            out.insert("redis_chain".into(), skipped.clone());
            out.insert("redis_chain_retention".into(), skipped.clone());
            out.insert("redis_latency_retention".into(), skipped.clone());
            out.insert("redis_latency".into(), skipped);
        }
    }

    out.insert("trading".into(), trading(sizes, &rt));
    // Last of the in-process rows: the OpenTelemetry hook, once installed, stays.
    out.extend(crate::otel::report_rows(
        &rt,
        sizes.memory_roots,
        sizes.reps,
        throughput,
    ));

    // Peak memory of one million queued events, each in a child process.
    let (necro, raw) = match (rss(sizes.rss_events, false), rss(sizes.rss_events, true)) {
        (Ok(n), Ok(r)) => (Some(n), Some(r)),
        (Err(why), _) | (_, Err(why)) => {
            // Said in the table's SKIPPED lines, with the figures left null.
            out.insert(
                "memory_peak_rss".into(),
                json!({
                    "skipped": format!("peak RSS not measured: {why}"),
                    "events": sizes.rss_events,
                    "measured": Value::Null, "baseline": Value::Null, "ratio": Value::Null,
                }),
            );
            drop(rt);
            return Value::Object(out);
        }
    };
    out.insert(
        "memory_peak_rss".into(),
        json!({
            "unit": "MB",
            "events": sizes.rss_events,
            "claim": "(none)",
            "measured": necro.map(mb),
            "baseline": raw.map(mb),
            "baseline_is": "the same events' JSON text as plain Strings in a VecDeque",
            "ratio": match (necro, raw) { (Some(n), Some(r)) if r > 0 => json!(round(n as f64 / r as f64)), _ => Value::Null },
            "ratio_kind": "multiple of baseline (lower is better)",
            "target": "< 400 MB for 1,000,000 events",
            "met": necro.map(|n| sizes.rss_events < 1_000_000 || n < 400 * 1024 * 1024),
        }),
    );
    drop(rt);
    Value::Object(out)
}

/// The Redis chain (per batch size) and latency scenarios. A Redis that fails during the run
/// (the scenarios `expect` on every Redis call) gives `Err` with the failure, not a crash.
fn redis_scenarios(
    sizes: &Sizes,
    rt: &tokio::runtime::Runtime,
    url: &str,
) -> Result<(Value, Value, (Value, Value)), String> {
    let mut by_batch = Vec::new();
    let mut headline = None;
    for &(batch, roots) in &sizes.redis_chain {
        let mut raw = Vec::new();
        let mut necro = Vec::new();
        for _ in 0..sizes.reps.min(2) {
            let u = url.to_owned();
            raw.push(try_run_on(rt, async move {
                redis::raw_chain(&u, &memory::roots(roots), batch).await
            })?);
            let u = url.to_owned();
            necro.push(try_run_on(rt, async move {
                redis::necro_chain(&u, memory::roots(roots), batch, 1).await
            })?);
        }
        let mut row = throughput(
            "events/s",
            "5k+ events/s",
            best(&necro),
            best(&raw),
            Some(0.6),
        );
        row["batch_size"] = json!(batch);
        if batch == sizes.redis_headline_batch {
            // The same chain with the spine's concurrency raised: one runner per worker
            // thread, each pulling and committing on its own, against the same one-loop
            // baseline (for reference; the target is judged on one runner).
            let c = sizes.concurrency;
            let mut runners = Vec::new();
            for _ in 0..sizes.reps.min(2) {
                let u = url.to_owned();
                runners.push(try_run_on(rt, async move {
                    redis::necro_chain(&u, memory::roots(roots), batch, c).await
                })?);
            }
            let mut concurrent =
                throughput("events/s", "5k+ events/s", best(&runners), best(&raw), None);
            concurrent["concurrency"] = json!(c);
            headline = Some((row.clone(), concurrent));
        }
        by_batch.push(row);
    }
    let (mut chain, concurrent) = match headline {
        Some((row, concurrent)) => (row, concurrent),
        None => (by_batch.last().cloned().unwrap_or_default(), Value::Null),
    };
    chain["by_batch_size"] = Value::Array(by_batch);
    chain["concurrent"] = concurrent;
    let s = sizes.redis_latency_samples;
    let warm = (s / 10).max(10);
    let u = url.to_owned();
    let raw_lat = try_run_on(rt, async move { redis::raw_latency(&u, s, warm).await })?;
    let u = url.to_owned();
    let necro_lat = try_run_on(rt, async move { redis::necro_latency(&u, s, warm).await })?;
    let lat = latency(
        "p50 ~2 ms, p99 ~10 ms",
        &necro_lat,
        &raw_lat,
        Duration::from_millis(1),
        Duration::from_millis(3),
    );
    Ok((chain, lat, retention_rows(sizes, rt, url)?))
}

/// The Redis chain (headline batch, one runner) and the one-event hop with the retention
/// policy trimming all through the run, against the same with `keep_everything()`, runs
/// interleaved in the same process.
fn retention_rows(
    sizes: &Sizes,
    rt: &tokio::runtime::Runtime,
    url: &str,
) -> Result<(Value, Value), String> {
    use necro_backend_redis::RetentionPolicy;
    let batch = sizes.redis_headline_batch;
    let roots = sizes
        .redis_chain
        .iter()
        .find(|(b, _)| *b == batch)
        .or(sizes.redis_chain.last())
        .map_or(1_000, |(_, r)| *r);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..sizes.reps.min(2) {
        let u = url.to_owned();
        off.push(try_run_on(rt, async move {
            redis::necro_chain_with(
                &u,
                memory::roots(roots),
                batch,
                1,
                RetentionPolicy::keep_everything(),
            )
            .await
        })?);
        let u = url.to_owned();
        on.push(try_run_on(rt, async move {
            redis::necro_chain_with(
                &u,
                memory::roots(roots),
                batch,
                1,
                redis::active_retention(),
            )
            .await
        })?);
    }
    let mut chain = throughput("events/s", "(none)", best(&on), best(&off), None);
    chain["baseline_is"] =
        json!("the same chain with RetentionPolicy::keep_everything(), same run");
    chain["ratio_of"] = json!("off");
    chain["batch_size"] = json!(batch);
    chain["retention"] = json!("max_entries 1000, interval 100 ms: trims all through the run");
    let s = sizes.redis_latency_samples;
    let warm = (s / 10).max(10);
    let u = url.to_owned();
    let lat_off = try_run_on(rt, async move {
        redis::necro_latency_with(&u, s, warm, RetentionPolicy::keep_everything()).await
    })?;
    let u = url.to_owned();
    let lat_on = try_run_on(rt, async move {
        redis::necro_latency_with(&u, s, warm, redis::active_retention()).await
    })?;
    let us = |d: Duration| round(d.as_secs_f64() * 1e6);
    let hop = json!({
        "unit": "µs (enqueue to ack, p50)",
        "claim": "(none)",
        "measured": us(lat_on.ack.p50),
        "baseline": us(lat_off.ack.p50),
        "baseline_is": "the same hop with RetentionPolicy::keep_everything(), same run",
        "ratio": round(lat_on.ack.p50.as_secs_f64() / lat_off.ack.p50.as_secs_f64().max(1e-9)),
        "ratio_kind": "multiple of baseline latency (lower is better)",
        "ratio_of": "off",
        "samples": lat_on.ack.samples,
        "p99": {"on": us(lat_on.ack.p99), "off": us(lat_off.ack.p99)},
        "target": Value::Null,
        "met": Value::Null,
    });
    Ok((chain, hop))
}

/// The trading example: orders/s with settlement latency off (against its matching engine
/// alone) and on (bound by concurrency, not by the latency).
fn trading(sizes: &Sizes, rt: &tokio::runtime::Runtime) -> Value {
    use crate::trading::{necro_orders, orders, raw_orders};
    let n = sizes.trading_orders;
    let mut necro = Vec::new();
    let mut raw = Vec::new();
    let c_off = sizes.concurrency;
    for _ in 0..sizes.reps {
        raw.push(raw_orders(n));
        necro.push(run_on(rt, async move {
            necro_orders(orders(n), None, c_off).await
        }));
    }
    let mut row = throughput(
        "orders/s",
        "1,000+ orders/s",
        best(&necro),
        best(&raw),
        None,
    );
    row["baseline_is"] = json!("the example's matching engine alone (no events, no framework)");
    row["target"] = json!("measured >= 200k orders/s");
    row["met"] = json!(best(&necro) >= 200_000.0);
    row["concurrency"] = json!(c_off);
    let m = sizes.trading_orders_settling;
    let c = sizes.trading_concurrency;
    let latency = Duration::from_millis(100);
    let settling = run_on(rt, async move {
        necro_orders(orders(m), Some(latency), c).await
    });
    // Every second order makes one trade that sleeps `latency` in settlement: the bound that
    // concurrency sets is c settlements per latency, i.e. 2c orders per latency.
    let bound = 2.0 * c as f64 / latency.as_secs_f64();
    row["settlement_on"] = json!({
        "settlement_latency_ms": 100,
        "concurrency": c,
        "orders": m,
        "measured": round(settling.per_sec()),
        "concurrency_bound": round(bound),
        "target": "measured >= 1000 orders/s",
        "met": settling.per_sec() >= 1000.0,
    });
    row
}

fn mb(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0))
}

fn round(x: f64) -> f64 {
    if x.abs() >= 100.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}

fn throughput(unit: &str, claim: &str, measured: f64, baseline: f64, target: Option<f64>) -> Value {
    let ratio = measured / baseline.max(1e-9);
    json!({
        "unit": unit,
        "claim": claim,
        "measured": round(measured),
        "baseline": round(baseline),
        "ratio": round(ratio),
        "ratio_kind": "share of baseline throughput (higher is better)",
        "target": target.map(|t| format!("ratio >= {t}")),
        "met": target.map(|t| ratio >= t),
    })
}

fn latency(claim: &str, necro: &Latency, raw: &Latency, p50: Duration, p99: Duration) -> Value {
    let us = |d: Duration| round(d.as_secs_f64() * 1e6);
    let ratio = necro.ack.p50.as_secs_f64() / raw.ack.p50.as_secs_f64().max(1e-9);
    json!({
        "unit": "µs (enqueue to ack, p50)",
        "claim": claim,
        "measured": us(necro.ack.p50),
        "baseline": us(raw.ack.p50),
        "ratio": round(ratio),
        "ratio_kind": "multiple of baseline latency (lower is better)",
        "samples": necro.ack.samples,
        "necrostack": {
            "ack": {"p50": us(necro.ack.p50), "p99": us(necro.ack.p99), "p999": us(necro.ack.p999)},
            "entry": {"p50": us(necro.entry.p50), "p99": us(necro.entry.p99), "p999": us(necro.entry.p999)},
        },
        "raw": {
            "ack": {"p50": us(raw.ack.p50), "p99": us(raw.ack.p99), "p999": us(raw.ack.p999)},
            "entry": {"p50": us(raw.entry.p50), "p99": us(raw.entry.p99), "p999": us(raw.entry.p999)},
        },
        "target": format!("p50 < {} µs, p99 < {} µs", p50.as_micros(), p99.as_micros()),
        "met": necro.ack.p50 < p50 && necro.ack.p99 < p99,
    })
}

/// The machine the report ran on.
#[must_use]
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: Option<u64> = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok());
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "memory_gb": mem_kb.map(|kb| round(kb as f64 / 1024.0 / 1024.0)),
    })
}

/// The slide-13 table, as text.
#[must_use]
pub fn table(report: &Value) -> String {
    let mut s = String::new();
    let m = &report["machine"];
    let _ = writeln!(
        s,
        "NecroStack performance report — {} CPUs ({}), {} GB RAM{}",
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["memory_gb"],
        if report["quick"].as_bool() == Some(true) {
            " — QUICK RUN: figures are not meaningful"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "{:<30} {:<24} {:>16} {:>16} {:>14}  {:<28} holds",
        "scenario", "slide's claim", "NecroStack", "raw baseline", "ratio", "target"
    );
    let _ = writeln!(s, "{}", "-".repeat(144));
    let mut skipped = Vec::new();
    let mut row = |name: &str, label: String| {
        let r = &report[name];
        if let Some(why) = r["skipped"].as_str().or(r["status"].as_str()) {
            skipped.push(format!("{name}: {why}"));
            return;
        }
        let unit = r["unit"].as_str().unwrap_or("");
        let fmt = |v: &Value| match v.as_f64() {
            Some(x) if unit.starts_with("µs") => format!("{x:.1} µs"),
            Some(x) if unit == "MB" => format!("{x:.0} MB"),
            Some(x) => format!("{}/s", si(x)),
            None => "—".into(),
        };
        // What the ratio is taken against: the raw baseline unless the row says otherwise.
        let of = r["ratio_of"].as_str().unwrap_or("raw");
        let ratio = match (r["ratio"].as_f64(), r["ratio_kind"].as_str()) {
            (Some(x), Some(k)) if k.starts_with("share") && x < 0.1 => {
                format!("{:.1}% of {of}", x * 100.0)
            }
            (Some(x), Some(k)) if k.starts_with("share") => format!("{:.0}% of {of}", x * 100.0),
            (Some(x), _) => format!("{x:.2}× {of}"),
            _ => "—".into(),
        };
        let met = match r["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        let _ = writeln!(
            s,
            "{:<30} {:<24} {:>16} {:>16} {:>14}  {:<28} {}",
            label,
            r["claim"].as_str().unwrap_or(""),
            fmt(&r["measured"]),
            fmt(&r["baseline"]),
            ratio,
            r["target"].as_str().unwrap_or(""),
            met
        );
        if let Some(ne) = r.get("necrostack") {
            let _ = writeln!(
                s,
                "{:<30} NecroStack ack p50/p99/p999 {}/{}/{} µs, entry {}/{}/{} µs; raw ack {}/{}/{} µs",
                "",
                ne["ack"]["p50"],
                ne["ack"]["p99"],
                ne["ack"]["p999"],
                ne["entry"]["p50"],
                ne["entry"]["p99"],
                ne["entry"]["p999"],
                r["raw"]["ack"]["p50"],
                r["raw"]["ack"]["p99"],
                r["raw"]["ack"]["p999"],
            );
        }
        if let Some(on) = r.get("settlement_on") {
            let _ = writeln!(
                s,
                "{:<30} settlement {} ms on, concurrency {}: {}/s (concurrency bound {}/s), target {}: {}",
                "",
                on["settlement_latency_ms"],
                on["concurrency"],
                si(on["measured"].as_f64().unwrap_or(0.0)),
                si(on["concurrency_bound"].as_f64().unwrap_or(0.0)),
                on["target"].as_str().unwrap_or(""),
                if on["met"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "NO"
                }
            );
        }
        if let Some(c) = r["concurrent"].as_object() {
            let _ = writeln!(
                s,
                "{:<30} concurrency {}: NecroStack {}/s, {:.0}% of the one-loop raw baseline",
                "",
                c["concurrency"],
                si(c["measured"].as_f64().unwrap_or(0.0)),
                c["ratio"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
        if let Some(rows) = r["by_batch_size"].as_array() {
            for b in rows {
                let _ = writeln!(
                    s,
                    "{:<30} batch {:>4}: NecroStack {}/s, raw {}/s, {:.0}% of raw",
                    "",
                    b["batch_size"],
                    si(b["measured"].as_f64().unwrap_or(0.0)),
                    si(b["baseline"].as_f64().unwrap_or(0.0)),
                    b["ratio"].as_f64().unwrap_or(0.0) * 100.0
                );
            }
        }
    };
    row("event_round_trip", "event build+validate+JSON".into());
    row("memory_chain", "memory chain A→B→C (c=1)".into());
    row(
        "memory_chain_concurrent",
        format!(
            "memory chain A→B→C (c={})",
            report["memory_chain_concurrent"]["concurrency"]
        ),
    );
    row("memory_chain_boxed", "memory chain BoxBackend (c=1)".into());
    row(
        "memory_chain_headers",
        "memory chain, trace headers (c=1)".into(),
    );
    for (name, what) in [
        ("off", "no endpoint"),
        ("unsampled", "unsampled"),
        ("export", "OTLP export"),
    ] {
        row(
            &format!("memory_chain_otel_{name}"),
            format!("memory chain, otel {what} (c=1)"),
        );
    }
    row("memory_latency", "memory latency".into());
    row("redis_chain", "Redis chain A→B→C".into());
    row("redis_latency", "Redis latency".into());
    row(
        "redis_chain_retention",
        "Redis chain, retention on/off".into(),
    );
    row(
        "redis_latency_retention",
        "Redis hop, retention on/off".into(),
    );
    row(
        "trading",
        format!("trading orders (c={})", report["trading"]["concurrency"]),
    );
    row(
        "memory_peak_rss",
        format!(
            "peak RSS, {} queued events",
            report["memory_peak_rss"]["events"]
        ),
    );
    for line in skipped {
        let _ = writeln!(s, "SKIPPED {line}");
    }
    s
}
