//! The one error type of this crate.

use std::net::SocketAddr;

/// Why installing logs, metrics or tracing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// A global `tracing` subscriber is already installed (only one per process).
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),
    /// The log filter (`RUST_LOG` or the default) does not parse.
    #[error("invalid log filter {filter:?}")]
    InvalidFilter {
        /// The filter text.
        filter: String,
        /// Why it does not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global `metrics` recorder is already installed (only one per process).
    #[error("a global metrics recorder is already installed")]
    RecorderAlreadyInstalled,
    /// The metrics address is already in use by another socket.
    #[error("metrics address {addr} is already in use")]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics listener could not be bound for another reason.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Serving metrics needs a Tokio runtime, and none is running on this thread.
    #[error("serving metrics needs a running Tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// The OTLP span exporter could not be built (an endpoint that is not a URL, say).
    #[cfg(feature = "otel")]
    #[error("cannot build the OTLP span exporter")]
    OtlpExporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The exporter's own runtime (its HTTP client's I/O) could not be started.
    #[cfg(feature = "otel")]
    #[error("cannot start the OTLP exporter's runtime")]
    OtlpRuntime(#[source] std::io::Error),
    /// The sampling ratio is not a number from 0 to 1.
    #[cfg(feature = "otel")]
    #[error("invalid trace sampling ratio {0}: it must be from 0.0 to 1.0")]
    InvalidSampleRatio(f64),
    /// Exporting the queued spans failed or timed out.
    #[cfg(feature = "otel")]
    #[error("cannot flush the span exporter")]
    Flush(#[source] opentelemetry_sdk::error::OTelSdkError),
    /// The OTLP endpoint is not a plain `http://` URL (the exporter has no TLS stack: send
    /// to a collector on your network, which forwards over TLS).
    #[cfg(feature = "otel")]
    #[error(
        "unsupported OTLP endpoint {0:?}: only plain http:// is supported (relay through a local collector for https)"
    )]
    UnsupportedEndpoint(String),
    /// An [`AdminToken`](crate::AdminToken) that is too short, too long or not visible
    /// ASCII (the message does not repeat it).
    #[error("an admin token must be 16 to 256 visible ASCII characters")]
    InvalidAdminToken,
}
