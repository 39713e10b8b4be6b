//! `--json-logs` and `--metrics-addr` on the trading pipeline.
use example_support::testing::{PER_EVENT_LOGS, ServingExample, json_lines, run_ok_with_env};

const BIN: &str = env!("CARGO_BIN_EXE_example-trading");

#[test]
fn json_logs_cover_the_pipeline() {
    let out = run_ok_with_env(BIN, &["--fast", "--json-logs"], PER_EVENT_LOGS);
    let lines = json_lines(&out.stderr);
    for organ in [
        "OrderValidator",
        "MatchingEngine",
        "Settlement",
        "RiskManager",
        "AuditTrail",
    ] {
        assert!(
            lines.iter().any(|l| l["organ"] == organ),
            "no log line for {organ}"
        );
    }
}

#[test]
fn metrics_count_orders_and_trades() {
    let example = ServingExample::start(BIN, &["--fast"]);
    let (status, text) = example.get("/metrics");
    assert_eq!(status, 200);
    for t in ["ORDER_SUBMITTED", "TRADE_EXECUTED", "TRADE_SETTLED"] {
        assert!(
            text.contains(&format!(
                "necro_events_processed_total{{event_type=\"{t}\"}}"
            )),
            "{t}: {text}"
        );
    }
    assert!(example.interrupt().0.success());
}
