//! `--json-logs` and `--metrics-addr` on the hello example.
use example_support::testing::{PER_EVENT_LOGS, ServingExample, json_lines, run_ok_with_env};

const BIN: &str = env!("CARGO_BIN_EXE_example-hello");

/// At the default level (`info`) a run logs no line per handled event: those are DEBUG, so a
/// busy service is not flooded (a `--stress 2000` run once wrote 12,370 INFO lines).
#[test]
fn the_default_level_logs_no_line_per_event() {
    let out = run_ok_with_env(BIN, &["--json-logs"], &[]);
    let lines = json_lines(&out.stderr);
    assert!(
        !lines.iter().any(|l| l["message"] == "event handled"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "processed 2 events, emitted 1, handler errors 0")
    );
}

#[test]
fn json_logs_go_to_stderr_and_the_greeting_stays_on_stdout() {
    let out = run_ok_with_env(BIN, &["--json-logs"], PER_EVENT_LOGS);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!\n");
    let lines = json_lines(&out.stderr);
    let handled: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "event handled")
        .collect();
    assert_eq!(handled.len(), 2, "{lines:#?}");
    let greeter = handled.iter().find(|l| l["event_type"] == "HELLO").unwrap();
    assert_eq!(greeter["emitted"], serde_json::json!(["GREETED"]));
    assert_eq!(greeter["level"], "DEBUG");
    let printer = handled
        .iter()
        .find(|l| l["event_type"] == "GREETED")
        .unwrap();
    assert_eq!(printer["organ"], "Printer");
    assert_eq!(printer["correlation_id"], greeter["event_id"]);
    assert_eq!(printer["causation_id"], greeter["event_id"]);
    assert!(printer["duration_ms"].is_f64());
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "processed 2 events, emitted 1, handler errors 0")
    );
}

#[test]
fn metrics_addr_serves_after_the_run_until_ctrl_c() {
    let example = ServingExample::start(BIN, &["--name", "Ada"]);
    let (status, text) = example.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("necro_events_processed_total{event_type=\"HELLO\"} 1"),
        "{text}"
    );
    let (status, html) = example.get("/");
    assert_eq!(status, 200);
    assert!(html.contains("data-organ=\"Printer\""), "{html}");
    assert!(example.interrupt().0.success());
}

/// A service manager stops a process with SIGTERM: the example stops serving and exits 0
/// (not 143, killed by the signal).
#[test]
fn sigterm_while_serving_exits_0() {
    let example = ServingExample::start(BIN, &[]);
    let (status, lines) = example.terminate();
    assert_eq!(status.code(), Some(0), "{status:?} {lines:#?}");
}
