#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
//! OpenTelemetry in process (feature `otel`): a three-organ chain is one trace in which each
//! organ's span is a child of the span that emitted its event; a retry and a redelivery are
//! traces of their own, linked to the producer; a batch commit links to its sources.
#![cfg(feature = "otel")]

mod otel_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Envelope, Event, Metadata, OrganError, organ_fn};
use necro_observe::Otel;
use necro_spine::{HandlerFailureMode, OrganOptions, RetryPolicy, Spine};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use otel_support::{Span, from_sdk, waterfall};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

/// Runs `body` with an OpenTelemetry layer exporting to memory as this thread's subscriber;
/// returns the spans it ended.
async fn traced<F: Future>(body: F) -> (F::Output, Vec<Span>) {
    let exporter = InMemorySpanExporter::default();
    let (layer, guard) = Otel::new()
        .exporter(exporter.clone())
        .service_name("otel-chain-test")
        .layer()
        .unwrap();
    assert!(layer.is_some() && guard.is_exporting());
    let subscriber = tracing_subscriber::registry().with(layer);
    let out = {
        let _default = tracing::subscriber::set_default(subscriber);
        body.await
    };
    guard.flush().unwrap();
    (out, from_sdk(&exporter.get_finished_spans().unwrap()))
}

fn process_span<'a>(spans: &'a [Span], event_type: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.name == format!("process {event_type}"))
        .collect()
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "current_thread")]
async fn a_three_organ_chain_is_one_trace_each_organ_a_child_of_its_emitter() {
    let ((root, step2_headers), spans) = traced(async {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let seen2 = Arc::clone(&seen);
        let spine = Spine::builder(MemoryBackend::new())
            .organ(organ_fn(
                "Placer",
                ["ORDER_PLACED"],
                |ev: Event| async move {
                    tracing::info_span!("reserve stock", order = 7).in_scope(|| {});
                    Ok(Event::new("ORDER_PAID", json!({"order": ev.get("order")}))?.into())
                },
            ))
            .organ(organ_fn("Payer", ["ORDER_PAID"], move |_ev: Event| {
                let seen = Arc::clone(&seen2);
                async move {
                    *seen.lock().unwrap() =
                        necro_spine::current_metadata().map(|m| m.headers.clone());
                    Ok(Event::new("ORDER_SHIPPED", json!({}))?.into())
                }
            }))
            .organ(organ_fn("Shipper", ["ORDER_SHIPPED"], |_ev: Event| async {
                Ok(Emit::none())
            }))
            .build()
            .unwrap();
        let root = Event::new("ORDER_PLACED", json!({"order": 7})).unwrap();
        spine.send(root.clone()).await.unwrap();
        let stats = spine.run_until_drained().await.unwrap();
        assert_eq!(stats.processed, 3);
        let headers = seen.lock().unwrap().clone().unwrap();
        (root, headers)
    })
    .await;

    let publish = one(&spans, "publish ORDER_PLACED");
    let placed = one(&spans, "process ORDER_PLACED");
    let paid = one(&spans, "process ORDER_PAID");
    let shipped = one(&spans, "process ORDER_SHIPPED");
    let user = one(&spans, "reserve stock");
    println!("{}", waterfall(&spans, &publish.trace_id));

    // One trace.
    for s in [placed, paid, shipped, user] {
        assert_eq!(s.trace_id, publish.trace_id, "{s:#?}");
    }
    assert_eq!(publish.parent_id, "", "the publish span is the root");
    // Each organ span's parent is the span that emitted its event.
    assert_eq!(placed.parent_id, publish.span_id);
    assert_eq!(paid.parent_id, placed.span_id);
    assert_eq!(shipped.parent_id, paid.span_id);
    // An organ's own spans nest under its process span.
    assert_eq!(user.parent_id, placed.span_id);
    // The header the second organ saw names the first organ's span.
    let traceparent = step2_headers.get("traceparent").unwrap();
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", placed.trace_id, placed.span_id)
    );

    // Messaging semantic conventions.
    assert_eq!(publish.kind, "producer");
    assert_eq!(publish.attr("messaging.operation.type"), Some("send"));
    assert_eq!(
        publish.attr("messaging.message.id"),
        Some(&*root.id().to_string())
    );
    for (s, event_type) in [
        (placed, "ORDER_PLACED"),
        (paid, "ORDER_PAID"),
        (shipped, "ORDER_SHIPPED"),
    ] {
        assert_eq!(s.kind, "consumer");
        assert_eq!(s.attr("messaging.system"), Some("necrostack"));
        assert_eq!(s.attr("messaging.operation.type"), Some("process"));
        assert_eq!(s.attr("messaging.destination.name"), Some(event_type));
        assert_eq!(
            s.attr("messaging.message.conversation_id"),
            Some(&*root.id().to_string())
        );
    }
    assert_eq!(
        placed.attr("messaging.message.id"),
        Some(&*root.id().to_string())
    );
    // The per-event span is not exported.
    assert!(!spans.iter().any(|s| s.name == "necro.event"), "{spans:#?}");

    // Each batch commit links to the context its source carried.
    let commits: Vec<&Span> = spans.iter().filter(|s| s.name == "settle").collect();
    assert_eq!(commits.len(), 3, "one commit per step: {spans:#?}");
    for (commit, source_parent) in commits.iter().zip([publish, placed, paid]) {
        assert_eq!(commit.attr("messaging.operation.type"), Some("settle"));
        assert_eq!(commit.links, [source_parent.context()], "{commit:#?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_retried_handler_starts_a_linked_trace_and_the_chain_goes_on_from_it() {
    let ((), spans) = traced(async {
        let calls = Arc::new(AtomicU32::new(0));
        let spine = Spine::builder(MemoryBackend::new())
            .organ_with(
                organ_fn("Flaky", ["ORDER_PLACED"], move |_ev: Event| {
                    let calls = Arc::clone(&calls);
                    async move {
                        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(OrganError::transient(std::io::Error::other("flaky")));
                        }
                        Ok(Event::new("ORDER_PAID", json!({}))?.into())
                    }
                }),
                OrganOptions::new().retry(
                    RetryPolicy::exponential(2, Duration::from_millis(1)).with_jitter(false),
                ),
            )
            .organ(organ_fn("Payer", ["ORDER_PAID"], |_ev: Event| async {
                Ok(Emit::none())
            }))
            .build()
            .unwrap();
        let stats = spine
            .run_event(Event::new("ORDER_PLACED", json!({})).unwrap())
            .await
            .unwrap();
        assert_eq!(stats.processed, 2);
    })
    .await;

    let publish = one(&spans, "publish ORDER_PLACED");
    let attempts = process_span(&spans, "ORDER_PLACED");
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    let first = attempts
        .iter()
        .find(|s| s.attr("retry") == Some("0"))
        .unwrap();
    let retry = attempts
        .iter()
        .find(|s| s.attr("retry") == Some("1"))
        .unwrap();
    println!("{}", waterfall(&spans, &publish.trace_id));
    println!("{}", waterfall(&spans, &retry.trace_id));

    // The first attempt is a child of the producer.
    assert_eq!(first.parent_id, publish.span_id);
    assert_eq!(first.trace_id, publish.trace_id);
    // The retry is linked, not nested: a trace of its own, linked to the producer and to
    // the attempt before it.
    assert_eq!(retry.parent_id, "");
    assert_ne!(retry.trace_id, publish.trace_id);
    assert!(retry.links.contains(&publish.context()), "{retry:#?}");
    assert!(retry.links.contains(&first.context()), "{retry:#?}");
    // What the retry emitted continues from the retry.
    let paid = one(&spans, "process ORDER_PAID");
    assert_eq!(paid.parent_id, retry.span_id);
}

#[tokio::test(flavor = "current_thread")]
async fn a_redelivery_is_linked_to_the_producer_not_nested() {
    let ((), spans) = traced(async {
        let calls = Arc::new(AtomicU32::new(0));
        let spine = Spine::builder(MemoryBackend::new())
            .organ(organ_fn("Nacked", ["ORDER_PLACED"], move |_ev: Event| {
                let calls = Arc::clone(&calls);
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(OrganError::permanent_msg("not yet"));
                    }
                    Ok(Emit::none())
                }
            }))
            .handler_failure_mode(HandlerFailureMode::Nack)
            .build()
            .unwrap();
        let meta = Metadata::default();
        let root = Envelope::with_meta(Event::new("ORDER_PLACED", json!({})).unwrap(), meta);
        spine.send(root).await.unwrap();
        spine.run_until_drained().await.unwrap();
    })
    .await;

    let publish = one(&spans, "publish ORDER_PLACED");
    let attempts = process_span(&spans, "ORDER_PLACED");
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    let first = attempts
        .iter()
        .find(|s| s.attr("necro.attempt") == Some("1"))
        .unwrap();
    let second = attempts
        .iter()
        .find(|s| s.attr("necro.attempt") == Some("2"))
        .unwrap();
    assert_eq!(first.parent_id, publish.span_id);
    assert_eq!(second.parent_id, "");
    assert_ne!(second.trace_id, publish.trace_id);
    assert_eq!(second.links, [publish.context()]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_traceparent_set_by_the_caller_is_the_publish_spans_parent() {
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ((), spans) = traced(async {
        let spine = Spine::builder(MemoryBackend::new())
            .organ(organ_fn("Sink", ["PING"], |_ev: Event| async {
                Ok(Emit::none())
            }))
            .build()
            .unwrap();
        let meta = Metadata::default()
            .with_header(
                "traceparent",
                format!("00-{caller_trace}-00f067aa0ba902b7-01"),
            )
            .unwrap()
            .with_header("baggage", "tenant=acme")
            .unwrap();
        spine
            .run_event(Envelope::with_meta(
                Event::new("PING", json!({})).unwrap(),
                meta,
            ))
            .await
            .unwrap();
    })
    .await;
    let publish = one(&spans, "publish PING");
    let process = one(&spans, "process PING");
    assert_eq!(publish.trace_id, caller_trace);
    assert_eq!(publish.parent_id, "00f067aa0ba902b7");
    assert_eq!(process.parent_id, publish.span_id);
}

#[test]
fn without_an_endpoint_nothing_is_installed_and_https_is_refused_up_front() {
    let (layer, guard) = Otel::new().layer::<tracing_subscriber::Registry>().unwrap();
    assert!(layer.is_none() && !guard.is_exporting());
    let err = Otel::new()
        .endpoint(Some("https://collector.example:4318"))
        .layer::<tracing_subscriber::Registry>()
        .err()
        .unwrap();
    assert!(
        matches!(err, necro_observe::ObserveError::UnsupportedEndpoint(ref u) if u == "https://collector.example:4318/v1/traces"),
        "{err}"
    );
    let err = Otel::new()
        .sample_ratio(1.5)
        .exporter(InMemorySpanExporter::default())
        .layer::<tracing_subscriber::Registry>()
        .err()
        .unwrap();
    assert!(
        matches!(err, necro_observe::ObserveError::InvalidSampleRatio(_)),
        "{err}"
    );
}
