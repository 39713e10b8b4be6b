//! Distributed tracing through event headers: the [`TracePropagation`] hook an OpenTelemetry
//! integration installs (`necro-observe`'s `otel` feature does), and the spans the spine opens
//! for it, named and attributed per the OpenTelemetry messaging semantic conventions.
//!
//! The spine itself stays on the `tracing` facade and never depends on an OpenTelemetry SDK:
//! it only asks the installed hook to write a span's context into an event's headers
//! (`traceparent`, `tracestate`, `baggage`) and to make a span continue, or link to, the
//! context an event's headers carry. With no hook installed (the default), the cost is an
//! atomic load (a `OnceLock` check) per organ call, emit and send, and no span, field or
//! header is added.
//!
//! With a hook installed:
//!
//! - [`Spine::send`](crate::Spine::send) opens a `necro.publish` span (`otel.kind =
//!   "producer"`, `messaging.operation.type = "publish"`) and writes its context into the
//!   root's headers. A `traceparent` the caller set becomes that span's parent.
//! - Each organ call is a process span (`necro.organ`, `otel.kind = "consumer"`,
//!   `messaging.operation.type = "process"`). On the first delivery its parent is the
//!   context in the event's headers, so the span that emitted an event is the parent of the
//!   spans that handle it. A redelivery (attempt above 1) or an in-process retry starts a
//!   trace of its own, *linked* to that context rather than nested in it (and a retry also to
//!   the attempt before it).
//! - The events an organ emits carry the context of the organ's span (replacing the trace
//!   context passed on from the event it handled).
//! - A batch commit is a `necro.commit` span (`messaging.operation.type = "settle"`) linked to
//!   the context of each source it acknowledges.

use std::sync::OnceLock;

use necro_core::{Delivery, Envelope, Headers};
use tracing::Span;

use crate::telemetry::TARGET;

/// `messaging.system` on every span the spine opens for tracing.
pub const MESSAGING_SYSTEM: &str = "necrostack";

/// What an OpenTelemetry integration implements so that traces follow events through the
/// headers they carry, across organs and processes. Installed once per process with
/// [`set_trace_propagation`]; `necro-observe` (feature `otel`) provides one.
///
/// Every method must be cheap and must not fail: a context that cannot be written or read is
/// left out.
pub trait TracePropagation: Send + Sync + 'static {
    /// Writes `span`'s context (W3C `traceparent`, `tracestate`, `baggage`) into `headers`,
    /// replacing the trace-context headers already there.
    fn inject(&self, span: &tracing::Span, headers: &mut Headers);

    /// Makes the context carried by `headers` the parent of `span` (not yet entered). Does
    /// nothing when `headers` carry no valid context.
    fn set_parent(&self, span: &tracing::Span, headers: &Headers);

    /// Makes `span` (not yet entered) the root of a trace of its own, whatever its `tracing`
    /// parent: used with [`add_link`](Self::add_link) for redeliveries and retries.
    fn set_root(&self, span: &tracing::Span);

    /// Adds a link from `span` to the context carried by `headers`. Does nothing when
    /// `headers` carry no valid context.
    fn add_link(&self, span: &tracing::Span, headers: &Headers);
}

static PROPAGATION: OnceLock<Box<dyn TracePropagation>> = OnceLock::new();

/// Installs the process's trace propagation. It can be set once; a second call returns the
/// hook it was given back.
///
/// # Errors
/// The hook given, when one is installed already.
pub fn set_trace_propagation(
    propagation: Box<dyn TracePropagation>,
) -> Result<(), Box<dyn TracePropagation>> {
    PROPAGATION.set(propagation)
}

/// Whether a [`TracePropagation`] is installed.
#[must_use]
pub fn trace_propagation_installed() -> bool {
    PROPAGATION.get().is_some()
}

/// The installed propagation, if any: one atomic load.
#[inline]
pub(crate) fn propagation() -> Option<&'static dyn TracePropagation> {
    PROPAGATION.get().map(|b| &**b)
}

/// Whether `headers` hold a trace context.
pub(crate) fn has_context(headers: &Headers) -> bool {
    headers.get("traceparent").is_some()
}

/// The process span of one organ call (`retry` 0) or of one retry of it. Without trace
/// propagation, the plain `necro.organ` span with the organ's name only.
pub(crate) fn process_span<T>(organ: &str, delivery: &Delivery<T>, retry: u32) -> Span {
    let Some(p) = propagation() else {
        return tracing::info_span!(target: TARGET, "necro.organ", organ);
    };
    let event = &delivery.event;
    let span = tracing::info_span!(
        target: TARGET,
        "necro.organ",
        organ,
        retry,
        otel.name = %format_args!("process {}", event.event_type()),
        otel.kind = "consumer",
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %event.event_type(),
        messaging.message.id = %event.id(),
        messaging.message.conversation_id = %delivery.meta.correlation_or(event),
        messaging.consumer.group.name = organ,
        necro.attempt = delivery.attempt,
    );
    if retry == 0 && delivery.attempt <= 1 {
        p.set_parent(&span, &delivery.meta.headers);
    } else {
        p.set_root(&span);
        p.add_link(&span, &delivery.meta.headers);
    }
    span
}

/// The process span of retry `retry` of an organ call: a trace of its own, linked to the
/// event's producer and to the attempt before it (`previous`).
pub(crate) fn retry_span<T>(
    p: &dyn TracePropagation,
    organ: &str,
    delivery: &Delivery<T>,
    retry: u32,
    previous: &Span,
) -> Span {
    let span = process_span(organ, delivery, retry);
    let mut before = Headers::new();
    p.inject(previous, &mut before);
    p.add_link(&span, &before);
    span
}

/// The publish span of [`Spine::send`](crate::Spine::send), whose context it writes into the
/// root's headers; a context the caller already set there becomes its parent.
pub(crate) fn publish(p: &dyn TracePropagation, envelope: &mut Envelope) -> Span {
    let event = &envelope.event;
    let span = tracing::info_span!(
        target: TARGET,
        "necro.publish",
        otel.name = %format_args!("publish {}", event.event_type()),
        otel.kind = "producer",
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %event.event_type(),
        messaging.message.id = %event.id(),
        messaging.message.conversation_id = %envelope.meta.correlation_or(event),
    );
    if has_context(&envelope.meta.headers) {
        p.set_parent(&span, &envelope.meta.headers);
    }
    p.inject(&span, &mut envelope.meta.headers);
    span
}

/// The span of one batch commit: `sources` acknowledged, `emitted` enqueued; linked to the
/// context each source carries. [`Span::none`] without trace propagation.
pub(crate) fn commit_span<'a, T: 'a>(
    sources: impl ExactSizeIterator<Item = &'a Delivery<T>>,
    emitted: usize,
) -> Span {
    let Some(p) = propagation() else {
        return Span::none();
    };
    let span = tracing::info_span!(
        target: TARGET,
        "necro.commit",
        otel.name = "settle",
        otel.kind = "client",
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation.type = "settle",
        messaging.operation.name = "commit",
        messaging.batch.message_count = sources.len(),
        necro.emitted = emitted,
    );
    for delivery in sources {
        p.add_link(&span, &delivery.meta.headers);
    }
    span
}
