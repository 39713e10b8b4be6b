//! The spine's [`TracePropagation`] hook, implemented with `tracing-opentelemetry` and the
//! W3C Trace Context and Baggage propagators.

use necro_core::Headers;
use necro_spine::trace::TracePropagation;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes into an event's headers (a header the bounds refuse is left out).
struct Writer<'a>(&'a mut Headers);

impl Injector for Writer<'_> {
    fn set(&mut self, key: &str, value: String) {
        let _ = self.0.insert(key, value);
    }
}

/// Reads from an event's headers.
struct Reader<'a>(&'a Headers);

impl Extractor for Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name).collect()
    }
}

/// The W3C Trace Context and Baggage propagators, composed.
pub(crate) fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// Trace context through event headers, for the spine.
pub(crate) struct HeaderPropagation {
    propagator: TextMapCompositePropagator,
}

impl HeaderPropagation {
    pub(crate) fn new() -> Self {
        Self {
            propagator: propagator(),
        }
    }

    fn extract(&self, headers: &Headers) -> opentelemetry::Context {
        self.propagator.extract(&Reader(headers))
    }
}

impl TracePropagation for HeaderPropagation {
    fn inject(&self, span: &tracing::Span, headers: &mut Headers) {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return;
        }
        // The passed-on trace state belongs to the context being replaced.
        headers.remove("tracestate");
        self.propagator.inject_context(&cx, &mut Writer(headers));
    }

    fn set_parent(&self, span: &tracing::Span, headers: &Headers) {
        let cx = self.extract(headers);
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }

    fn set_root(&self, span: &tracing::Span) {
        let _ = span.set_parent(opentelemetry::Context::new());
    }

    fn add_link(&self, span: &tracing::Span, headers: &Headers) {
        let cx = self.extract(headers);
        let linked = cx.span().span_context().clone();
        if linked.is_valid() {
            span.add_link(linked);
        }
    }
}

/// Installs [`HeaderPropagation`] as the spine's hook, once per process (later calls keep
/// the first).
pub(crate) fn install() {
    let _ = necro_spine::trace::set_trace_propagation(Box::new(HeaderPropagation::new()));
}
