//! Observability for NecroStack applications: JSON log lines that carry the event, organ
//! and chain (correlation / causation) ids (or plain human-readable lines, [`PlainLogs`]),
//! and a Prometheus endpoint with a small live view.
//!
//! **Who should depend on this crate: applications only, never libraries.** The spine and
//! the backends record through the `tracing` and `metrics` facades, which cost nothing until
//! a subscriber and a recorder are installed; installing them is the application's choice,
//! made once in `main`. A library that installed them would take that choice away.
//!
//! ```no_run
//! # async fn demo() -> Result<(), necro_observe::ObserveError> {
//! // JSON lines on stderr; level from RUST_LOG, `info` otherwise.
//! let _logs = necro_observe::JsonLogs::new().install()?;
//! // Prometheus text at http://127.0.0.1:9464/metrics, the live view at http://127.0.0.1:9464/
//! let metrics = necro_observe::Metrics::new().install()?;
//! println!("metrics at {}", metrics.url());
//! # Ok(()) }
//! ```
//!
//! Composing the log layer with other layers, capturing lines in memory:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! #[derive(Clone, Default)]
//! struct Buf(Arc<Mutex<Vec<u8>>>);
//! impl std::io::Write for Buf {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
//!         self.0.lock().unwrap().extend_from_slice(b);
//!         Ok(b.len())
//!     }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! let buf = Buf::default();
//! let sink = buf.clone();
//! let (layer, _guard) = necro_observe::JsonLogs::new()
//!     .filter("info")
//!     .writer(move || sink.clone())
//!     .layer()?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("necro.organ", organ = "greeter");
//!     span.in_scope(|| tracing::info!(duration_ms = 1.5, "event handled"));
//! });
//! let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
//! let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
//! assert_eq!(line["organ"], "greeter");
//! assert_eq!(line["message"], "event handled");
//! assert_eq!(line["level"], "INFO");
//! # Ok::<(), necro_observe::ObserveError>(())
//! ```
#![forbid(unsafe_code)]

mod cap;
mod dead_letters;
mod describe;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod html;
mod logs;
mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
mod page;
mod server;
mod snapshot;
mod spark;
mod view;

pub use dead_letters::AdminToken;
pub use error::ObserveError;
pub use handle::MetricsHandle;
pub use logs::{DEFAULT_FILTER, JsonLogs, LogGuard, PAYLOAD_FIELD, PlainLogs, init_json_logs};
pub use metrics::{
    DEFAULT_ADDR, DEFAULT_MAX_EVENT_TYPES, DURATION_BUCKETS, Metrics, MetricsRecorder,
    MetricsServer,
};
pub use metrics_exporter_prometheus::PrometheusHandle;
#[cfg(feature = "otel")]
pub use otel::{Otel, OtelGuard};

/// The long-form pages of the repository's `docs/` that document this crate, as rustdoc: every
/// Rust block in them compiles (and runs, unless marked `no_run`) as a doctest.
pub mod guide {
    #[doc = include_str!("../../../docs/observability.md")]
    pub mod observability {}
    #[doc = include_str!("../../../docs/metrics-contract.md")]
    pub mod metrics_contract {}
}
