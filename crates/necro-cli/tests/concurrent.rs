//! Two operators replaying everything at once (`necro dlq replay --all --yes` in two
//! processes) never put an entry back twice: every dead letter ends on the main stream
//! exactly once, and the two counts add up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::collections::HashSet;
use std::process::{Command, Stdio};

use support::Ctx;

#[test]
fn two_concurrent_replays_never_duplicate() {
    let Some(mut ctx) = Ctx::shared("race") else {
        return;
    };
    const N: usize = 450;
    let mut event_ids = HashSet::new();
    for i in 0..N {
        let id = ctx.python_dead_letter(&format!("T{}", i % 3), "Max retries exceeded");
        event_ids.insert(id);
    }
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_necro"))
            .args([
                "--stream",
                &ctx.stream,
                "--json",
                "dlq",
                "replay",
                "--all",
                "--yes",
            ])
            .env("NECRO_REDIS_URL", &ctx.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn necro")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut replayed = HashSet::new();
    let mut total = 0;
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for id in v["done"].as_array().unwrap() {
            total += 1;
            assert!(
                replayed.insert(id.as_str().unwrap().to_owned()),
                "{id} replayed twice"
            );
        }
    }
    assert_eq!(total, N);
    assert_eq!(replayed, event_ids);
    assert_eq!(ctx.xlen(&ctx.dlq()), 0);
    let main = ctx.entries(&ctx.stream.clone());
    assert_eq!(main.len(), N, "each entry on the main stream exactly once");
    let events: HashSet<String> = main
        .iter()
        .map(|(_, f)| {
            let v: serde_json::Value = serde_json::from_str(&f[1]).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(events.len(), N, "no event id appears twice");
}
