//! The fuzz targets' committed inputs (fuzz/corpus/<target>/: the seeds; fuzz/regressions/
//! <target>/: what a fuzz run once found), replayed as a plain test so `cargo test` checks them
//! on every run without libFuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::path::PathBuf;

use necro_backend_redis::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no committed inputs for {target}");
    for (path, data) in inputs {
        let caught = std::panic::catch_unwind(|| run(&data));
        assert!(caught.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn event_json_inputs() {
    replay("event_json", fuzzing::event_json);
}

#[test]
fn stream_entry_inputs() {
    replay("stream_entry", fuzzing::stream_entry_bytes);
}

#[test]
fn dead_letter_entry_inputs() {
    replay("dead_letter_entry", fuzzing::dead_letter_entry_bytes);
}
