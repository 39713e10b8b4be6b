//! `--json-logs` and `--metrics-addr` on the notification pipeline.
use example_support::testing::{PER_EVENT_LOGS, ServingExample, json_lines, run_ok_with_env};

const BIN: &str = env!("CARGO_BIN_EXE_example-notifications");

#[test]
fn json_logs_cover_every_channel_organ() {
    let out = run_ok_with_env(BIN, &["--fast", "--json-logs"], PER_EVENT_LOGS);
    let lines = json_lines(&out.stderr);
    for organ in ["EmailSender", "SmsSender", "PushSender", "Auditor"] {
        assert!(
            lines.iter().any(|l| l["organ"] == organ),
            "no log line for {organ}"
        );
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("--- summary ---"));
}

#[test]
fn metrics_count_the_channels() {
    let example = ServingExample::start(BIN, &["--fast"]);
    let (status, text) = example.get("/metrics");
    assert_eq!(status, 200);
    for t in ["SEND_EMAIL", "SEND_SMS", "SEND_PUSH", "DELIVERY_COMPLETED"] {
        assert!(
            text.contains(&format!(
                "necro_events_processed_total{{event_type=\"{t}\"}}"
            )),
            "{t}: {text}"
        );
    }
    assert!(example.interrupt().0.success());
}

#[test]
fn the_live_page_lists_the_dead_letters_read_only() {
    let example = ServingExample::start(BIN, &["--fast"]);
    let (status, html) = example.get("/");
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="dead-letter-queue""#), "{html}");
    assert!(html.contains("<tr data-dlq-id="), "{html}");
    // Without NECRO_ADMIN_TOKEN: read-only, no action form.
    assert!(
        html.contains("read-only") && !html.contains("dlq-actions"),
        "{html}"
    );
    assert!(example.interrupt().0.success());
}
