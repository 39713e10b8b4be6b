//! The batch commit is timed: one `necro_commit_duration_seconds` sample per batch commit,
//! through a real metrics recorder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::Spine;
use necro_spine::telemetry::COMMIT_DURATION;
use support::ev;

/// The value of the one line of `text` that starts with `series` and a space.
fn value(text: &str, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

#[test]
fn each_batch_commit_records_one_commit_duration() {
    let text = support::render_metrics_of(|| async {
        let backend = MemoryBackend::new();
        let spine = Spine::builder(backend.clone())
            .organ(organ_fn("Echo", ["A"], |_ev: Event| async {
                Ok(Emit::none())
            }))
            .build()
            .unwrap();
        spine.run_event(ev("A")).await.unwrap();
        spine.run_event(ev("A")).await.unwrap();
    });
    let count = format!("{}_count", COMMIT_DURATION.name);
    // Two runs of one event each: two batch commits, one sample each.
    assert_eq!(value(&text, &count), Some(2.0), "{text}");
    let sum = value(&text, &format!("{}_sum", COMMIT_DURATION.name)).unwrap();
    assert!(sum >= 0.0, "{text}");
}
