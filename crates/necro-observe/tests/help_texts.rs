//! The `# HELP` lines on `/metrics` name every label value the code records: organs fail
//! in each way the spine knows, and every `kind` that shows up in the scrape must be listed
//! in its metric's HELP text.
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, OrganError, organ_fn};
use necro_spine::{CircuitBreakerConfig, HandlerFailureMode, OrganOptions, RetryPolicy, Spine};

/// The text of the `# HELP name` line.
fn help<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("# HELP {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no HELP line for {name}: {text}"))
}

/// Every value of `label` on the samples of `name`.
fn label_values(text: &str, name: &str, label: &str) -> BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| {
            let at = l.find(&key)? + key.len();
            Some(l[at..at + l[at..].find('"')?].to_owned())
        })
        .collect()
}

/// Every value of `label` recorded on `name` is named in its HELP text, as a whole word.
fn assert_help_names_every_value(text: &str, name: &str, label: &str) -> BTreeSet<String> {
    let help = help(text, name);
    let words: BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let values = label_values(text, name, label);
    for v in &values {
        assert!(
            words.contains(v.as_str()),
            "HELP of {name} does not name {label}={v}: {help:?}"
        );
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_texts_name_every_failure_kind_the_spine_records() {
    let server = necro_observe::Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .install()
        .unwrap();
    let no_retry = OrganOptions::new().retry(RetryPolicy::none());
    let backend = MemoryBackend::new();
    let spine = Spine::builder(backend.clone())
        .handler_failure_mode(HandlerFailureMode::Store)
        .organ_with(
            organ_fn("flaky", ["GO"], |_e: Event| async {
                Err(OrganError::msg("try again later"))
            }),
            no_retry,
        )
        .organ_with(
            organ_fn("broken", ["GO"], |_e: Event| async {
                Err(OrganError::permanent_msg("bad input"))
            }),
            no_retry,
        )
        .organ_with(
            organ_fn("slow", ["GO"], |_e: Event| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Emit::none())
            }),
            no_retry.timeout(Duration::from_millis(20)),
        )
        .organ_with(
            organ_fn("panicky", ["GO"], |_e: Event| async {
                panic!("organ bug");
            }),
            no_retry,
        )
        // Opens after its first failure: the second event fails fast.
        .organ_with(
            organ_fn("tripped", ["GO"], |_e: Event| async {
                Err(OrganError::permanent_msg("down"))
            }),
            no_retry.circuit_breaker(CircuitBreakerConfig::new(1, Duration::from_secs(60))),
        )
        .build()
        .unwrap();
    for _ in 0..2 {
        spine
            .run_event(Event::new("GO", serde_json::json!({})).unwrap())
            .await
            .unwrap();
    }

    let (status, text) = support::http_get(server.local_addr(), "/metrics").await;
    assert_eq!(status, 200);
    let kinds = assert_help_names_every_value(&text, "necro_handler_errors_total", "kind");
    // The run provoked every kind, so the check above covered each of them.
    let expected: BTreeSet<String> = ["error", "permanent", "timeout", "panic", "circuit_open"]
        .map(String::from)
        .into();
    assert_eq!(kinds, expected, "{text}");
    let dead = assert_help_names_every_value(&text, "necro_dead_letters_total", "kind");
    assert!(dead.contains("handler_failed"), "{text}");
}
