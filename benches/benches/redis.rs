//! Redis: the A→B→C chain with the batch size as a parameter, and single-event latency, each
//! next to its raw fred baseline (pipelined XADD, XREADGROUP COUNT n, one XACK per batch).
//!
//! Run with `cargo bench -p necro-bench --bench redis` with Redis at `NECRO_BENCH_REDIS_URL`
//! (default `redis://127.0.0.1:6379`); without it every bench here is skipped with a line.
#![allow(missing_docs)] // criterion_group! generates undocumented public items.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use necro_bench::memory::roots;
use necro_bench::redis;
use necro_bench::stats::{run_on, runtime};

// The same allocator as the report binary (see `necro-bench`'s main.rs): mimalloc, for the
// raw baselines and NecroStack alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROOTS: u64 = 1_000;

fn redis_benches(c: &mut Criterion) {
    let rt = runtime();
    let url = redis::url();
    if let Err(why) = run_on(&rt, {
        let url = url.clone();
        async move { redis::available(&url).await }
    }) {
        println!("SKIPPED Redis benches: no Redis answers at {url} ({why})");
        return;
    }
    let mut g = c.benchmark_group("redis_chain");
    g.throughput(Throughput::Elements(ROOTS * 3));
    for batch in [16usize, 64, 256] {
        g.bench_with_input(
            BenchmarkId::new("raw fred loop", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let u = url.clone();
                            run_on(&rt, async move {
                                redis::raw_chain(&u, &roots(ROOTS), batch).await
                            })
                            .elapsed
                        })
                        .sum()
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("necrostack", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let u = url.clone();
                            run_on(&rt, async move {
                                redis::necro_chain(&u, roots(ROOTS), batch, 1).await
                            })
                            .elapsed
                        })
                        .sum()
                });
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("redis_latency");
    g.bench_function("raw enqueue->ack (p50)", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).unwrap_or(usize::MAX);
            let u = url.clone();
            let lat = run_on(&rt, async move { redis::raw_latency(&u, n, 0).await });
            lat.ack.p50 * u32::try_from(iters).unwrap_or(u32::MAX)
        });
    });
    g.bench_function("necrostack enqueue->ack (p50)", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).unwrap_or(usize::MAX);
            let u = url.clone();
            let lat = run_on(&rt, async move { redis::necro_latency(&u, n, 0).await });
            lat.ack.p50 * u32::try_from(iters).unwrap_or(u32::MAX)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = redis_benches
}
criterion_main!(benches);
