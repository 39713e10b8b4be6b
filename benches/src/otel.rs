//! What OpenTelemetry tracing costs the in-memory chain (c=1), against the plain chain in the
//! same run: with `necro-observe`'s `otel` feature compiled in and no endpoint (nothing is
//! installed), with the layer and the propagation hook installed and nothing sampled, and
//! exporting every span over OTLP/HTTP (protobuf) to a local sink that answers 200.
//!
//! Installing the propagation hook is for the whole process, so these rows run after every
//! other in-process scenario of the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use necro_core::serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

use crate::memory;
use crate::stats::{Run, best, run_on};

/// What the local OTLP sink received.
#[derive(Debug, Default)]
struct Sink {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Starts the sink on `rt`: HTTP/1.1 with keep-alive, every request answered 200.
fn start_sink(rt: &tokio::runtime::Runtime) -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the sink");
    let url = format!("http://{}", listener.local_addr().expect("sink address"));
    let counts = Arc::clone(&sink);
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    counts.requests.fetch_add(1, Ordering::Relaxed);
                    counts.bytes.fetch_add(length as u64, Ordering::Relaxed);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, sink)
}

/// The chain run `reps` times under `dispatch` (none: the plain chain).
fn runs(
    rt: &tokio::runtime::Runtime,
    roots: u64,
    reps: usize,
    dispatch: Option<&tracing::Dispatch>,
) -> Vec<Run> {
    (0..reps)
        .map(|_| {
            let chain = memory::necro_chain(memory::roots(roots), 1);
            match dispatch {
                None => run_on(rt, chain),
                Some(d) => run_on(rt, chain.with_subscriber(d.clone())),
            }
        })
        .collect()
}

/// The rows `memory_chain_otel_off`, `memory_chain_otel_unsampled` and
/// `memory_chain_otel_export`: `(name, measured events/s, plain events/s, extra fields)`.
///
/// # Panics
/// When the OpenTelemetry layer cannot be built (it can: no endpoint to parse wrongly).
pub fn rows(
    rt: &tokio::runtime::Runtime,
    roots: u64,
    reps: usize,
) -> Vec<(String, f64, f64, Value)> {
    let reps = reps.clamp(1, 3);
    // Feature compiled in, no endpoint: nothing is installed.
    let (layer, _off) = necro_observe::Otel::from_env()
        .layer::<tracing_subscriber::Registry>()
        .expect("otel layer");
    assert!(
        layer.is_none(),
        "unset OTEL_EXPORTER_OTLP_ENDPOINT for the bench"
    );
    let plain_before = runs(rt, roots, reps, None);
    let off = runs(rt, roots, reps, None);

    // Layer and hook installed, every trace sampled out.
    let (layer, unsampled_guard) = necro_observe::Otel::new()
        .endpoint(Some("http://127.0.0.1:9"))
        .sample_ratio(0.0)
        .layer()
        .expect("otel layer");
    let unsampled_dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let unsampled = runs(rt, roots, reps, Some(&unsampled_dispatch));
    drop(unsampled_guard);

    // Every span exported to the local sink.
    let (url, sink) = start_sink(rt);
    let (layer, guard) = necro_observe::Otel::new()
        .endpoint(Some(&url))
        .layer()
        .expect("otel layer");
    let export_dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let exported = runs(rt, roots, reps, Some(&export_dispatch));
    let _ = guard.flush();
    let plain_after = runs(rt, roots, reps, None);
    let plain = best(&plain_before).max(best(&plain_after));
    let extra = |what: &str| json!({ "otel": what });
    let mut export_extra =
        extra("layer + hook, every span exported over OTLP/HTTP protobuf to a local sink");
    export_extra["otlp_requests"] = json!(sink.requests.load(Ordering::Relaxed));
    export_extra["otlp_bytes"] = json!(sink.bytes.load(Ordering::Relaxed));
    export_extra["spans_per_run"] = json!(roots * 3);
    vec![
        (
            "memory_chain_otel_off".into(),
            best(&off),
            plain,
            extra("feature compiled in, no endpoint: nothing installed"),
        ),
        (
            "memory_chain_otel_unsampled".into(),
            best(&unsampled),
            plain,
            extra("layer + propagation hook installed, sampler ratio 0 (nothing exported)"),
        ),
        (
            "memory_chain_otel_export".into(),
            best(&exported),
            plain,
            export_extra,
        ),
    ]
}

/// The rows as the report writes them, each as a share of the plain chain's throughput
/// (`throughput` builds the report's throughput row).
pub fn report_rows(
    rt: &tokio::runtime::Runtime,
    roots: u64,
    reps: usize,
    throughput: fn(&str, &str, f64, f64, Option<f64>) -> Value,
) -> Vec<(String, Value)> {
    rows(rt, roots, reps)
        .into_iter()
        .map(|(name, measured, plain, extra)| {
            let mut row = throughput("events/s", "(none)", measured, plain, None);
            row["ratio_of"] = json!("plain");
            row["baseline_is"] = json!("the plain chain (c=1), same run");
            if let (Some(r), Value::Object(e)) = (row.as_object_mut(), extra) {
                r.extend(e);
            }
            (name, row)
        })
        .collect()
}
