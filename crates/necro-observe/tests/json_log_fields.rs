//! A real spine run's log output: every line is one JSON object with the documented fields.
mod support;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[tokio::test]
async fn every_line_is_json_with_event_organ_and_failure_fields() {
    let capture = support::install_capture();
    let (_spine, _backend, root) = support::run_chain().await;
    let lines = capture.lines();
    assert!(!lines.is_empty());

    for line in &lines {
        for key in ["timestamp", "level", "message", "target"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        let ts = line["timestamp"].as_str().unwrap();
        let parsed = OffsetDateTime::parse(ts, &Rfc3339).unwrap();
        assert!(parsed.offset().is_utc(), "{ts}");
        assert!(ts.ends_with('Z'), "{ts}");
        // Payloads are never logged by default.
        assert!(!line.to_string().contains("do-not-log"), "{line}");
    }

    let handled: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "event handled")
        .collect();
    assert_eq!(handled.len(), 3, "{lines:#?}");
    for line in &handled {
        assert_eq!(line["level"], "DEBUG");
        assert_eq!(line["target"], "necro_spine");
        assert!(line["event_id"].as_str().unwrap().len() == 36);
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(line["emitted"].is_array(), "{line}");
    }
    let by_organ = |organ: &str| {
        *handled
            .iter()
            .find(|l| l["organ"] == organ)
            .unwrap_or_else(|| panic!("no line for {organ}"))
    };
    let step1 = by_organ("step1");
    assert_eq!(step1["event_type"], "START");
    assert_eq!(step1["event_id"], root.id().to_string());
    assert_eq!(step1["emitted"], serde_json::json!(["STEP2"]));
    assert_eq!(by_organ("step2")["event_type"], "STEP2");
    assert_eq!(by_organ("step2")["emitted"], serde_json::json!(["STEP3"]));
    assert_eq!(by_organ("step3")["emitted"], serde_json::json!([]));

    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "organ failed")
        .collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    let f = failed[0];
    assert_eq!(f["level"], "ERROR");
    assert_eq!(f["organ"], "reporter");
    assert_eq!(f["event_type"], "STEP2");
    assert_eq!(f["failure_mode"], "store");
    assert_eq!(
        f["kind"], "permanent",
        "the reporter fails with a permanent error"
    );
    assert_eq!(f["correlation_id"], root.id().to_string());
    let error = f["error"].as_str().unwrap();
    assert!(
        error.contains("could not write the report") && error.contains("disk full"),
        "cause chain missing: {error}"
    );
}
