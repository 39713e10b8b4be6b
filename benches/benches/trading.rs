//! The trading example (`examples/trading`) in memory with its settlement latency simulation
//! off: orders per second through its spine at concurrency 1 and N, next to its matching
//! engine alone (no events, no framework) as the baseline.
//!
//! Run with `cargo bench -p necro-bench --bench trading`. The report command also measures the
//! run with 100 ms settlements on.
#![allow(missing_docs)] // criterion_group! generates undocumented public items.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use necro_bench::stats::{run_on, runtime};
use necro_bench::trading::{necro_orders, orders, raw_orders};

// The same allocator as the report binary (see `necro-bench`'s main.rs): mimalloc, for the
// raw baselines and NecroStack alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ORDERS: u64 = 5_000;

fn trading(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("trading_orders");
    g.throughput(Throughput::Elements(ORDERS));
    g.bench_function("matching engine alone", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| raw_orders(ORDERS).elapsed).sum());
    });
    for concurrency in [1, 16] {
        g.bench_function(format!("necrostack concurrency={concurrency}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run_on(&rt, async move {
                            necro_orders(orders(ORDERS), None, concurrency).await
                        })
                        .elapsed
                    })
                    .sum()
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = trading
}
criterion_main!(benches);
