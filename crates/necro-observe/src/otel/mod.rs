//! OpenTelemetry tracing (feature `otel`): the spine's spans exported to any OTLP collector,
//! and the trace context carried from event to event in their headers, across processes.
//!
//! [`Otel`] builds a `tracing-opentelemetry` layer over an OTLP/HTTP (protobuf) exporter and
//! installs the spine's [trace propagation](necro_spine::trace) hook. Configuration comes from
//! the standard environment variables ([`Otel::from_env`]) and from code:
//!
//! | variable | what |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the collector's traces URL, used as is |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL; `/v1/traces` is appended |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource (read by the SDK) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | the sampler (read by the SDK) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | request headers, timeout (read by the exporter) |
//! | `OTEL_SDK_DISABLED=true` | no exporter at all |
//!
//! With no endpoint, nothing is installed: no layer, no exporter, no background task, and
//! the spine's propagation hook stays off (events still pass on the trace context they
//! carry).
//!
//! The exporter sends with an async (hyper) HTTP client, driven by a small runtime of its own
//! on the SDK's batch thread: never a blocking client, never on the application's runtime,
//! and a shutdown from inside the application's runtime (even a current-thread one) cannot
//! wait on itself.
//!
//! ```no_run
//! # fn demo() -> Result<(), necro_observe::ObserveError> {
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let (logs, _log_guard) = necro_observe::JsonLogs::new().layer()?;
//! let (otel, otel_guard) = necro_observe::Otel::from_env()
//!     .default_service_name("orders")
//!     .layer()?;
//! tracing_subscriber::registry().with(logs).with(otel).init();
//! // ... run the spine ...
//! otel_guard.shutdown(); // flushes what is queued
//! # Ok(()) }
//! ```

mod exporter;
mod propagation;

use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::ObserveError;

/// The path an OTLP/HTTP collector takes traces on, appended to a base endpoint.
pub const TRACES_PATH: &str = "/v1/traces";

/// The filter of the spans and events exported, unless [`Otel::filter`] sets another.
pub const DEFAULT_OTEL_FILTER: &str = "info";

/// Where spans go.
enum Export {
    /// Nowhere: nothing is installed.
    None,
    /// To an OTLP/HTTP collector at this traces URL.
    Otlp(String),
    /// To an exporter of the application's (an in-memory one in tests, say).
    Custom(Box<dyn FnOnce(opentelemetry_sdk::trace::TracerProviderBuilder) -> SdkTracerProvider>),
}

/// Builder for OpenTelemetry tracing: where spans go, the service's name, the sampling
/// ratio. See the [module docs](self).
#[must_use]
pub struct Otel {
    export: Export,
    service_name: Option<String>,
    default_service_name: Option<String>,
    sample_ratio: Option<f64>,
    filter: Option<String>,
}

impl fmt::Debug for Otel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let export = match &self.export {
            Export::None => "none".to_owned(),
            Export::Otlp(url) => url.clone(),
            Export::Custom(_) => "custom exporter".to_owned(),
        };
        f.debug_struct("Otel")
            .field("export", &export)
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Default for Otel {
    fn default() -> Self {
        Self::new()
    }
}

/// `base` with [`TRACES_PATH`] appended, unless it ends with it already.
fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

/// A variable's value, when it is set and not blank.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Otel {
    /// Nothing configured: no exporter until [`endpoint`](Self::endpoint) or
    /// [`exporter`](Self::exporter) gives one.
    pub fn new() -> Self {
        Self {
            export: Export::None,
            service_name: None,
            default_service_name: None,
            sample_ratio: None,
            filter: None,
        }
    }

    /// The endpoint from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` appended); none when neither is set or
    /// `OTEL_SDK_DISABLED` is `true`. The SDK reads the service name and the sampler from
    /// their variables itself.
    pub fn from_env() -> Self {
        let disabled = env_var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true");
        let url = env_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| env_var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|b| traces_url(&b)));
        Self {
            export: match url {
                Some(url) if !disabled => Export::Otlp(url),
                _ => Export::None,
            },
            ..Self::new()
        }
    }

    /// Export to the OTLP/HTTP collector at base URL `url` (e.g. `http://localhost:4318`;
    /// `/v1/traces` is appended), as `OTEL_EXPORTER_OTLP_ENDPOINT` does. `None` leaves the
    /// endpoint as it was.
    pub fn endpoint(mut self, url: Option<&str>) -> Self {
        if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
            self.export = Export::Otlp(traces_url(url.trim()));
        }
        self
    }

    /// Export to `exporter` (batched, on the SDK's batch thread) instead of OTLP: an
    /// in-memory exporter in tests, or any other `SpanExporter`.
    pub fn exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.export = Export::Custom(Box::new(move |b| b.with_batch_exporter(exporter).build()));
        self
    }

    /// The service's name (`service.name`), over `OTEL_SERVICE_NAME`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The service's name when neither [`service_name`](Self::service_name) nor
    /// `OTEL_SERVICE_NAME` gives one.
    pub fn default_service_name(mut self, name: impl Into<String>) -> Self {
        self.default_service_name = Some(name.into());
        self
    }

    /// Sample this share of new traces (0.0 to 1.0); a span whose parent was sampled or not
    /// follows its parent. Over `OTEL_TRACES_SAMPLER`.
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = Some(ratio);
        self
    }

    /// Which spans and events are exported (`EnvFilter` syntax); [`DEFAULT_OTEL_FILTER`]
    /// otherwise. The spine's per-event `necro.event` span is never exported: its organ
    /// calls' process spans stand for it.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Whether an exporter is configured (so that [`layer`](Self::layer) installs anything).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !matches!(self.export, Export::None)
    }

    /// The tracer provider, or `None` without an exporter.
    fn provider(self) -> Result<Option<SdkTracerProvider>, ObserveError> {
        let mut builder = SdkTracerProvider::builder();
        if let Some(ratio) = self.sample_ratio {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(ObserveError::InvalidSampleRatio(ratio));
            }
            builder = builder.with_sampler(Sampler::ParentBased(Box::new(
                Sampler::TraceIdRatioBased(ratio),
            )));
        }
        let name = self
            .service_name
            .or_else(|| env_var("OTEL_SERVICE_NAME").map(|_| String::new()))
            .or(self.default_service_name);
        let mut resource = Resource::builder();
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            resource = resource.with_service_name(name);
        }
        builder = builder.with_resource(resource.build());
        Ok(match self.export {
            Export::None => None,
            Export::Custom(build) => Some(build(builder)),
            Export::Otlp(url) => Some(builder.with_batch_exporter(exporter::otlp(&url)?).build()),
        })
    }

    /// The `tracing-opentelemetry` layer to compose with others on a registry (`None`
    /// without an exporter: nothing to install), and the guard that flushes it. Also
    /// installs the spine's trace propagation and the global OpenTelemetry tracer provider
    /// and propagator, for the application's own OpenTelemetry code.
    ///
    /// # Errors
    /// [`ObserveError::OtlpExporter`] (an endpoint that is not a URL),
    /// [`ObserveError::UnsupportedEndpoint`] (not `http://`),
    /// [`ObserveError::OtlpRuntime`], [`ObserveError::InvalidSampleRatio`],
    /// [`ObserveError::InvalidFilter`].
    #[allow(clippy::type_complexity)]
    pub fn layer<S>(
        self,
    ) -> Result<(Option<Box<dyn Layer<S> + Send + Sync + 'static>>, OtelGuard), ObserveError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let filter_text = self
            .filter
            .clone()
            .unwrap_or_else(|| DEFAULT_OTEL_FILTER.to_owned());
        let env_filter = EnvFilter::builder().parse(&filter_text).map_err(|source| {
            ObserveError::InvalidFilter {
                filter: filter_text,
                source,
            }
        })?;
        let Some(provider) = self.provider()? else {
            return Ok((None, OtelGuard { provider: None }));
        };
        let tracer = provider.tracer("necrostack");
        let not_event_span = filter_fn(|meta| !(meta.is_span() && meta.name() == "necro.event"));
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(env_filter.and(not_event_span));
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_text_map_propagator(propagation::propagator());
        propagation::install();
        Ok((
            Some(Box::new(layer)),
            OtelGuard {
                provider: Some(Arc::new(provider)),
            },
        ))
    }

    /// Installs the OpenTelemetry layer alone as the process's global subscriber (compose
    /// it with a log layer through [`layer`](Self::layer) instead to have both).
    ///
    /// # Errors
    /// As [`layer`](Self::layer), and [`ObserveError::SubscriberAlreadyInstalled`].
    pub fn install(self) -> Result<OtelGuard, ObserveError> {
        let (layer, guard) = self.layer()?;
        if layer.is_some() {
            tracing_subscriber::registry()
                .with(layer)
                .try_init()
                .map_err(ObserveError::SubscriberAlreadyInstalled)?;
        }
        Ok(guard)
    }
}

/// Keeps the tracer provider; [`shutdown`](Self::shutdown), or dropping it, exports the
/// spans still queued and stops the exporter. Hold it until the application exits.
#[derive(Debug, Clone)]
#[must_use = "dropping the guard flushes and stops the span exporter"]
pub struct OtelGuard {
    provider: Option<Arc<SdkTracerProvider>>,
}

impl OtelGuard {
    /// Whether spans are exported (an exporter was configured).
    #[must_use]
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports every span ended so far, waiting for the exporter.
    ///
    /// # Errors
    /// [`ObserveError::Flush`] when the exporter fails or times out.
    pub fn flush(&self) -> Result<(), ObserveError> {
        match &self.provider {
            Some(p) => p.force_flush().map_err(ObserveError::Flush),
            None => Ok(()),
        }
    }

    /// Flushes and stops the exporter (what dropping the last clone of the guard does).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Ok(p) = Arc::try_unwrap(p)
        {
            let _ = p.shutdown();
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
