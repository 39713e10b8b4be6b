//! The report's JSON mode runs end to end with tiny event counts. No timing is asserted:
//! only that every scenario is there with its measured value, baseline and ratio (or a
//! clear reason it was skipped).

use std::process::Command;

use necro_core::serde_json::{self, Value};

#[test]
fn quick_json_report_has_every_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_necro-bench"))
        .args(["report", "--quick", "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for name in [
        "memory_chain",
        "memory_chain_boxed",
        "memory_chain_headers",
        "memory_chain_otel_off",
        "memory_chain_otel_unsampled",
        "memory_chain_otel_export",
        "memory_latency",
        "redis_chain",
        "redis_latency",
        "redis_chain_retention",
        "redis_latency_retention",
        "trading",
    ] {
        let s = &report[name];
        assert!(s.is_object(), "{name} missing");
        for key in ["measured", "baseline", "ratio"] {
            assert!(s.get(key).is_some(), "{name}.{key} missing");
        }
        if s["measured"].is_null() {
            assert!(
                s["skipped"].is_string() || s["status"].is_string(),
                "{name} has no figure and no reason"
            );
        } else {
            assert!(s["ratio"].as_f64().is_some_and(|r| r > 0.0), "{name}");
        }
    }
    assert!(report["memory_chain"]["measured"].as_f64().is_some());
    assert!(report["memory_chain_boxed"]["measured"].as_f64().is_some());
    assert_eq!(report["memory_chain_boxed"]["ratio_of"], "plain");
    assert!(
        report["memory_chain_headers"]["measured"]
            .as_f64()
            .is_some()
    );
    assert_eq!(report["memory_chain_headers"]["ratio_of"], "plain");
    for name in ["off", "unsampled", "export"] {
        let row = &report[format!("memory_chain_otel_{name}")];
        assert!(row["measured"].as_f64().is_some(), "{row}");
        assert_eq!(row["ratio_of"], "plain");
    }
    // The exporting row's spans reached the local OTLP sink.
    assert!(
        report["memory_chain_otel_export"]["otlp_requests"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{}",
        report["memory_chain_otel_export"]
    );
}
