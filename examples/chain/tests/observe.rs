//! `--json-logs` and `--metrics-addr` on the chain example.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use std::collections::HashMap;

use example_support::testing::{
    PER_EVENT_LOGS, ServingExample, json_lines, redis_keys, redis_url_or_skip, run_ok_with_env,
};

const BIN: &str = env!("CARGO_BIN_EXE_example-chain");

#[test]
fn json_logs_trace_the_whole_chain() {
    assert_chain_traced(&run_ok_with_env(BIN, &["--json-logs"], PER_EVENT_LOGS));
}

/// On Redis the metadata travels as extra stream-entry fields: the chain is still traced.
#[test]
fn json_logs_trace_the_whole_chain_on_redis() {
    let Some(url) = redis_url_or_skip("chain json logs on redis") else {
        return;
    };
    assert_chain_traced(&run_ok_with_env(
        BIN,
        &["--json-logs", "--backend", "redis", "--redis-url", &url],
        PER_EVENT_LOGS,
    ));
}

fn assert_chain_traced(out: &std::process::Output) {
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("result = 11\n"));
    let lines = json_lines(&out.stderr);
    let handled: HashMap<&str, &serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "event handled")
        .map(|l| (l["event_type"].as_str().unwrap(), l))
        .collect();
    let (start, step2, step3) = (handled["START"], handled["STEP2"], handled["STEP3"]);
    for line in [start, step2, step3] {
        assert_eq!(line["correlation_id"], start["event_id"], "{line}");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert!(start.get("causation_id").is_none());
    assert_eq!(step2["causation_id"], start["event_id"]);
    assert_eq!(step3["causation_id"], step2["event_id"]);
    assert_eq!(start["organ"], "Process");
    assert_eq!(step3["emitted"], serde_json::json!([]));
}

#[test]
fn metrics_addr_serves_after_the_run_until_ctrl_c() {
    let example = ServingExample::start(BIN, &[]);
    let (status, text) = example.get("/metrics");
    assert_eq!(status, 200);
    for t in ["START", "STEP2", "STEP3"] {
        assert!(
            text.contains(&format!(
                "necro_events_processed_total{{event_type=\"{t}\"}} 1"
            )),
            "{t}: {text}"
        );
    }
    let (_, html) = example.get("/");
    for organ in ["Process", "Transform", "Complete"] {
        assert!(html.contains(&format!("data-organ=\"{organ}\"")), "{organ}");
    }
    assert!(example.interrupt().0.success());
}

/// SIGTERM while serving on Redis: exit 0, and the run's throwaway stream is gone.
#[test]
fn sigterm_while_serving_on_redis_exits_0_and_leaves_nothing_behind() {
    let Some(url) = redis_url_or_skip("chain sigterm on redis") else {
        return;
    };
    let example = ServingExample::start(BIN, &["--backend", "redis", "--redis-url", &url]);
    let stream = example.stream_key().expect("the run logs its stream");
    assert_eq!(
        redis_keys(&url, &format!("{stream}*")),
        vec![stream.clone()]
    );
    let (status, lines) = example.terminate();
    assert_eq!(status.code(), Some(0), "{status:?} {lines:#?}");
    assert_eq!(
        redis_keys(&url, &format!("{stream}*")),
        Vec::<String>::new()
    );
}
