//! The OTLP/HTTP span exporter, on an async HTTP client driven by a runtime of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::error::ObserveError;

/// An exporter whose futures run on a current-thread Tokio runtime of its own. The SDK's
/// batch processor calls `export` on its own thread and waits for it there; the async HTTP
/// client's I/O then runs on this runtime, not on the application's (which may be a
/// current-thread runtime busy waiting for a flush).
#[derive(Debug)]
pub(crate) struct OwnRuntime<E> {
    inner: E,
    runtime: tokio::runtime::Runtime,
    /// Whether the last export failed: a failure is logged once, not once per batch.
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for OwnRuntime<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.runtime.block_on(self.inner.export(batch));
        match &result {
            Ok(()) => self.failing.store(false, Ordering::Relaxed),
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "necro_observe",
                        error = %e,
                        "OTLP span export failed; spans are dropped until the collector answers"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP/HTTP (protobuf) exporter to the traces URL `url`.
pub(crate) fn otlp(
    url: &str,
) -> Result<OwnRuntime<opentelemetry_otlp::SpanExporter>, ObserveError> {
    if !url.starts_with("http://") {
        return Err(ObserveError::UnsupportedEndpoint(url.to_owned()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("necro-otlp")
        .build()
        .map_err(ObserveError::OtlpRuntime)?;
    let inner = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(ObserveError::OtlpExporter)?;
    Ok(OwnRuntime {
        inner,
        runtime,
        failing: AtomicBool::new(false),
    })
}
