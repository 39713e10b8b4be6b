//! `PlainLogs`: one human-readable line per event, spans and fields included, errors with
//! their causes, payloads dropped unless opted in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct Outer(std::io::Error);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("carrier refused")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn log_with(logs: necro_observe::PlainLogs) -> String {
    let capture = support::Capture::default();
    let sink = capture.clone();
    let (layer, guard) = logs.writer(move || sink.clone()).layer().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("necro.organ", organ = "SmsSender");
        span.in_scope(|| {
            tracing::info!(attempt = 1, "not shown at warn");
            let err = Outer(std::io::Error::other("number is blocked"));
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                payload = "secret",
                "organ failed"
            );
        });
    });
    drop(guard);
    capture.text()
}

#[test]
fn lines_are_plain_text_with_spans_fields_and_causes() {
    let text = log_with(necro_observe::PlainLogs::new().filter("warn"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = lines[0];
    assert!(!line.starts_with('{'), "{line}");
    assert!(line.contains(" ERROR "), "{line}");
    assert!(line.contains("necro.organ{organ=SmsSender}"), "{line}");
    assert!(line.contains("organ failed"), "{line}");
    assert!(
        line.contains("error=carrier refused: number is blocked"),
        "{line}"
    );
    assert!(!line.contains("secret"), "payload dropped: {line}");
    assert!(!line.contains('\u{1b}'), "no colours: {line:?}");
}

#[test]
fn payloads_are_kept_when_opted_in() {
    let text = log_with(
        necro_observe::PlainLogs::new()
            .filter("warn")
            .log_payloads(true),
    );
    assert!(text.contains("payload=secret"), "{text}");
}
