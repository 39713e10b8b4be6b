//! The in-memory backend: the A→B→C chain at concurrency 1 and N (and at 1 through a
//! `BoxBackend`), and single-event latency, each next to its raw tokio channel baseline.
//!
//! Run with `cargo bench -p necro-bench --bench memory`. Percentiles (p50/p99/p999) come from
//! the report command; criterion reports the mean.
#![allow(missing_docs)] // criterion_group! generates undocumented public items.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use necro_bench::memory::{self, roots};
use necro_bench::stats::{run_on, runtime};

// The same allocator as the report binary (see `necro-bench`'s main.rs): mimalloc, for the
// raw baselines and NecroStack alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROOTS: u64 = 2_000;

fn chain(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("memory_chain");
    g.throughput(Throughput::Elements(ROOTS * 3));
    g.bench_function("raw tokio channel chain", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| run_on(&rt, async { memory::raw_chain(roots(ROOTS)).await }).elapsed)
                .sum()
        });
    });
    g.bench_function("necrostack via BoxBackend concurrency=1", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    run_on(&rt, async {
                        memory::necro_chain_boxed(roots(ROOTS), 1).await
                    })
                    .elapsed
                })
                .sum()
        });
    });
    for concurrency in [1, 16] {
        g.bench_function(format!("necrostack concurrency={concurrency}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run_on(&rt, async move {
                            memory::necro_chain(roots(ROOTS), concurrency).await
                        })
                        .elapsed
                    })
                    .sum()
            });
        });
    }
    g.finish();
}

fn latency(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("memory_latency");
    g.bench_function("raw enqueue->ack", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).unwrap_or(usize::MAX);
            let lat = run_on(&rt, async move { memory::raw_latency(n, 0).await });
            lat.ack.p50 * u32::try_from(iters).unwrap_or(u32::MAX)
        });
    });
    g.bench_function("necrostack enqueue->ack (p50)", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).unwrap_or(usize::MAX);
            let lat = run_on(&rt, async move { memory::necro_latency(n, 0).await });
            lat.ack.p50 * u32::try_from(iters).unwrap_or(u32::MAX)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = chain, latency
}
criterion_main!(benches);
