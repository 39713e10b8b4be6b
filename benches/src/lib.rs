//! # necro-bench
//!
//! The scenarios behind NecroStack's benchmarks and its performance report
//! (`cargo run --release -p necro-bench -- report`, see `docs/benchmarks.md`).
//!
//! Every NecroStack figure is measured next to a raw baseline in the same run and reported as
//! a ratio to it: a bare three-task tokio channel chain for the in-memory backend, a bare fred
//! loop (pipelined `XADD`, `XREADGROUP COUNT n`, one `XACK` per batch) for Redis. Both sides
//! move the same events: each chain step builds the next event with [`events::next_event`].
//!
//! The criterion benches in `benches/benches/` and the report command share this code.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench harness: failed setup stops the run.

pub mod events;
pub mod hop;
pub mod memory;
pub mod probe;
pub mod redis;
pub mod report;
pub mod rss;
pub mod stats;
pub mod trading;
