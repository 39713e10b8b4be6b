//! Event build + validate + JSON round trip, next to `serde_json` on the same payload.
//!
//! Run with `cargo bench -p necro-bench --bench event`.
#![allow(missing_docs)] // criterion_group! generates undocumented public items.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench harness: failed setup stops the run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use necro_bench::events::{payload, root_event, round_trip};
use necro_core::Event;
use necro_core::serde_json::{self, Value};

// The same allocator as the report binary (see `necro-bench`'s main.rs): mimalloc, for the
// raw baselines and NecroStack alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event(c: &mut Criterion) {
    let mut g = c.benchmark_group("event");
    g.bench_function("build+validate", |b| b.iter(|| root_event(black_box(42))));
    g.bench_function("uuid v4 (part of build)", |b| b.iter(uuid::Uuid::new_v4));
    g.bench_function("timestamp (part of build)", |b| {
        b.iter(necro_core::time::OffsetDateTime::now_utc);
    });
    let wire = root_event(42).to_json();
    g.bench_function("to_json", |b| {
        let ev = root_event(42);
        b.iter(|| black_box(&ev).to_json());
    });
    g.bench_function("from_json", |b| {
        b.iter(|| Event::from_json(black_box(&wire)).expect("parses"));
    });
    g.bench_function("build+validate+round_trip", |b| {
        b.iter(|| round_trip(black_box(42)));
    });
    g.bench_function("raw serde_json round_trip", |b| {
        b.iter(|| {
            let text = serde_json::to_string(&payload(black_box(42))).expect("serializes");
            serde_json::from_str::<Value>(&text).expect("parses")
        });
    });
    g.finish();
}

criterion_group!(benches, event);
criterion_main!(benches);
