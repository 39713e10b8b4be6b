//! Benchmarks and the performance report (see docs/benchmarks.md). Not yet written.
fn main() {}
