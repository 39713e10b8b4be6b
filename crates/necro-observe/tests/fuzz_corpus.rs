//! The `live_query` fuzz target's committed inputs (fuzz/corpus/live_query/: the seeds;
//! fuzz/regressions/live_query/: what a fuzz run once found), replayed as a plain test so
//! `cargo test` checks them on every run without libFuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::path::PathBuf;

#[test]
fn live_query_inputs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("live_query")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let caught = std::panic::catch_unwind(|| necro_observe::fuzzing::live_query(&data));
            assert!(caught.is_ok(), "live_query fails on {}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 5, "too few committed inputs: {seen}");
}

/// Accepted queries with every field the link carries keep the invariant; refused and
/// non-UTF-8 ones are not its concern.
#[test]
fn the_invariant_holds_on_accepted_queries() {
    // Accepted, with every field the link carries.
    necro_observe::fuzzing::live_query(
        b"dlq_organ=caf%C3%A9&dlq_kind=max_deliveries&dlq_type=T&dlq_after=1-0",
    );
    // Refused queries are not the target's concern.
    necro_observe::fuzzing::live_query(b"dlq_organ=a&dlq_organ=b");
    necro_observe::fuzzing::live_query(b"\xff");
}
