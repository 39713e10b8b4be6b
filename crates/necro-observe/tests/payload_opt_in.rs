//! Payload fields are dropped unless the application opts in; the non-blocking writer
//! flushes on guard drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use tracing_subscriber::layer::SubscriberExt;

fn log_with(logs: necro_observe::JsonLogs) -> Vec<serde_json::Value> {
    let capture = support::Capture::default();
    let sink = capture.clone();
    let (layer, guard) = logs
        .filter("info")
        .writer(move || sink.clone())
        .layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("necro.event", event_type = "SIGNUP");
        span.in_scope(|| tracing::info!(payload = r#"{"email":"ada@example.com"}"#, "organ saw"));
    });
    drop(guard);
    capture.lines()
}

#[test]
fn payload_fields_are_dropped_by_default() {
    let lines = log_with(necro_observe::JsonLogs::new());
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("payload").is_none(), "{}", lines[0]);
    assert_eq!(lines[0]["event_type"], "SIGNUP");
}

#[test]
fn payload_fields_are_kept_when_opted_in() {
    let lines = log_with(necro_observe::JsonLogs::new().log_payloads(true));
    assert_eq!(lines[0]["payload"], r#"{"email":"ada@example.com"}"#);
}

#[test]
fn non_blocking_writer_flushes_when_the_guard_drops() {
    let capture = support::Capture::default();
    let (layer, guard) = necro_observe::JsonLogs::new()
        .filter("info")
        .non_blocking_writer(capture.clone())
        .layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..100 {
            tracing::info!(i, "line");
        }
    });
    drop(guard);
    let lines = capture.lines();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[99]["i"], 99);
}

#[test]
fn an_invalid_filter_is_a_typed_error() {
    let err = necro_observe::JsonLogs::new()
        .filter("necro_spine=loud")
        .layer::<tracing_subscriber::Registry>()
        .err()
        .unwrap();
    assert!(
        matches!(err, necro_observe::ObserveError::InvalidFilter { .. }),
        "{err:?}"
    );
}
