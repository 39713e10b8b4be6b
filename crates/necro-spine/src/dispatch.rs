//! Dispatch: routing one delivery to the organs listening to its type and deciding its
//! [`Outcome`] per the handler failure mode; each organ call with its circuit breaker, timeout,
//! panic guard and retries.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use necro_core::{
    Backend, DeadLetter, DeadLetterKind, Delivery, Emit, Envelope, Event, Failure, FailureKind,
    Handler, Metadata, OrganError,
};
use tokio::time::Instant;
use tracing::Instrument;

use crate::breaker::Admit;
use crate::config::HandlerFailureMode;
use crate::context;
use crate::state::{Inner, OrganSlot};
use crate::telemetry::{HotMetrics, TARGET};
use crate::trace;

/// What became of one delivery.
pub(crate) enum Outcome {
    /// Ack it; enqueue these.
    Ack(Vec<Envelope>),
    /// Store this dead letter, then ack and enqueue these.
    DeadLetter(Box<DeadLetter>, Vec<Envelope>),
    /// Give it back to the backend.
    Nack(String),
    /// Give it back unhandled, without counting an attempt: its organs were still running at
    /// the shutdown deadline.
    Release,
}

/// A delivery with its outcome, waiting to be committed.
pub(crate) struct Done<T> {
    pub(crate) delivery: Delivery<T>,
    pub(crate) outcome: Outcome,
}

/// Why one organ call failed.
struct CallFailure {
    kind: FailureKind,
    error: String,
    retries: u32,
}

/// Routes one delivery to its organs and decides its outcome.
pub(crate) async fn dispatch<B: Backend>(
    inner: &Inner<B>,
    hot: &HotMetrics,
    delivery: &Delivery<B::Token>,
) -> Outcome {
    let event = &delivery.event;
    let route = inner.routes.get(event.event_type().as_str());
    inner
        .telemetry
        .processed(hot, route.map(|r| r.index), event.event_type());
    let Some(route) = route else {
        inner.telemetry.unrouted(event.event_type());
        tracing::debug!(
            target: TARGET,
            event_id = %event.id(),
            event_type = %event.event_type(),
            "no organ listens to this event type; acked"
        );
        return Outcome::Ack(Vec::new());
    };
    let span = tracing::info_span!(
        target: TARGET,
        "necro.event",
        event_id = %event.id(),
        event_type = %event.event_type(),
        correlation_id = %delivery.meta.correlation_or(event),
        causation_id = tracing::field::Empty,
        attempt = delivery.attempt,
    );
    if let Some(c) = delivery.meta.causation_id {
        span.record("causation_id", tracing::field::display(c));
    }
    async move {
        let mut emitted = Vec::new();
        let mut failures: Vec<Failure> = Vec::new();
        let mode = inner.settings.handler_mode;
        for &idx in &route.organs {
            let slot = &inner.organs[idx];
            let name = slot.organ.name();
            let organ_span = trace::process_span(name, delivery, 0);
            let (result, last_span) =
                call_organ(inner, slot, hot.duration(idx), delivery, &organ_span)
                    .instrument(organ_span.clone())
                    .await;
            match result {
                Ok(emit) if emit.is_empty() => {}
                Ok(emit) => {
                    let mut child_meta =
                        Metadata::child_of_passing(event, &delivery.meta, slot.organ.pass_on());
                    if let Some(p) = trace::propagation() {
                        p.inject(&last_span, &mut child_meta.headers);
                    }
                    emitted.extend(
                        emit.into_iter()
                            .map(|e| Envelope::with_meta(e, child_meta.clone())),
                    );
                }
                Err(f) => {
                    inner.telemetry.handler_error(slot.organ.name_arc(), f.kind);
                    tracing::error!(
                        target: TARGET,
                        organ = name,
                        error = %f.error,
                        kind = f.kind.as_str(),
                        retries = f.retries,
                        failure_mode = mode.as_str(),
                        attempt = delivery.attempt,
                        "organ failed"
                    );
                    failures.push(
                        Failure::new(Some(name.to_owned()), f.error)
                            .with_kind(f.kind)
                            .with_retries(f.retries),
                    );
                }
            }
        }
        if failures.is_empty() {
            return Outcome::Ack(emitted);
        }
        match mode {
            HandlerFailureMode::Log => Outcome::Ack(emitted),
            HandlerFailureMode::Store => Outcome::DeadLetter(
                Box::new(DeadLetter::new(
                    event.clone(),
                    delivery.meta.clone(),
                    DeadLetterKind::HandlerFailed,
                    failures,
                    delivery.attempt,
                )),
                emitted,
            ),
            HandlerFailureMode::Nack => Outcome::Nack(
                failures
                    .iter()
                    .map(|f| format!("{}: {}", f.organ.as_deref().unwrap_or("?"), f.error))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
    .instrument(span)
    .await
}

/// Calls one organ with its circuit breaker, timeout, panic guard and retries; returns the
/// result with the span of the last attempt (`span` itself, unless trace propagation is
/// installed and the organ was retried: each retry then has a process span of its own).
async fn call_organ<B: Backend>(
    inner: &Inner<B>,
    slot: &OrganSlot,
    duration: Option<&metrics::Histogram>,
    delivery: &Delivery<B::Token>,
    span: &tracing::Span,
) -> (Result<Emit, CallFailure>, tracing::Span) {
    let mut retry = 0u32;
    let mut attempt_span = span.clone();
    let result = loop {
        if retry > 0
            && let Some(p) = trace::propagation()
        {
            attempt_span = trace::retry_span(p, slot.organ.name(), delivery, retry, &attempt_span);
        }
        if let Some(breaker) = &slot.breaker
            && breaker.admit() == Admit::No
        {
            inner.telemetry.circuit_rejection();
            break Err(CallFailure {
                kind: FailureKind::CircuitOpen,
                error: "circuit breaker is open: failing fast".into(),
                retries: retry,
            });
        }
        let started = Instant::now();
        let result = if retry > 0 && trace::propagation().is_some() {
            run_handler(slot, &delivery.event, &delivery.meta)
                .instrument(attempt_span.clone())
                .await
        } else {
            run_handler(slot, &delivery.event, &delivery.meta).await
        };
        let elapsed = started.elapsed();
        HotMetrics::record_duration(duration, slot.organ.name_arc(), elapsed.as_secs_f64());
        if let Some(breaker) = &slot.breaker
            && let Some(state) = breaker.record(result.is_ok())
        {
            inner.telemetry.circuit_state(slot.organ.name_arc(), state);
            tracing::warn!(target: TARGET, state = state.as_str(), "circuit breaker changed state");
        }
        let failure = match result {
            Ok(emit) => {
                tracing::debug!(
                    target: TARGET,
                    emitted = ?emit.iter().map(|e| e.event_type().as_str()).collect::<Vec<_>>(),
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    "event handled"
                );
                break Ok(emit);
            }
            Err(f) => f,
        };
        let retryable = match &failure {
            HandlerFailure::Error(e) => e.is_transient(),
            HandlerFailure::Timeout => {
                inner.telemetry.handler_timeout();
                true
            }
            HandlerFailure::Panic(_) => {
                inner.telemetry.handler_panic();
                false
            }
        };
        if retryable && retry < slot.retry.max_retries() {
            let delay = slot.retry.delay(retry);
            retry += 1;
            inner.telemetry.handler_retry(slot.organ.name_arc());
            tracing::warn!(
                target: TARGET,
                error = %failure.describe(slot.timeout),
                retry,
                delay_ms = delay.as_millis() as u64,
                "organ failed; retrying"
            );
            tokio::time::sleep(delay).await;
            continue;
        }
        break Err(CallFailure {
            kind: failure.kind(),
            error: failure.describe(slot.timeout),
            retries: retry,
        });
    };
    (result, attempt_span)
}

enum HandlerFailure {
    Error(OrganError),
    Timeout,
    Panic(String),
}

impl HandlerFailure {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Error(e) if e.is_transient() => FailureKind::Error,
            Self::Error(_) => FailureKind::Permanent,
            Self::Timeout => FailureKind::Timeout,
            Self::Panic(_) => FailureKind::Panic,
        }
    }

    fn describe(&self, timeout: Duration) -> String {
        match self {
            Self::Error(e) => e.chain_string(),
            Self::Timeout => format!("handler timed out after {timeout:?}"),
            Self::Panic(msg) => format!("handler panicked: {msg}"),
        }
    }
}

async fn run_handler(
    slot: &OrganSlot,
    event: &Event,
    meta: &Metadata,
) -> Result<Emit, HandlerFailure> {
    match slot.organ.handler() {
        Handler::Async(organ) => {
            let fut = AssertUnwindSafe(context::scope(meta.clone(), organ.handle_boxed(event)))
                .catch_unwind();
            match tokio::time::timeout(slot.timeout, fut).await {
                Err(_) => Err(HandlerFailure::Timeout),
                Ok(Err(panic)) => Err(HandlerFailure::Panic(necro_core::panic_message(&*panic))),
                Ok(Ok(res)) => res.map_err(HandlerFailure::Error),
            }
        }
        Handler::Blocking(organ) => {
            let organ = Arc::clone(organ);
            let event = event.clone();
            let meta = meta.clone();
            // The organ's span goes along, so that its own spans and logs nest under it.
            let span = tracing::Span::current();
            let task = tokio::task::spawn_blocking(move || {
                span.in_scope(|| context::sync_scope(meta, || organ.handle_sync(&event)))
            });
            match tokio::time::timeout(slot.timeout, task).await {
                Err(_) => Err(HandlerFailure::Timeout),
                Ok(Err(join)) => Err(HandlerFailure::Panic(match join.try_into_panic() {
                    Ok(panic) => necro_core::panic_message(&*panic),
                    Err(e) => e.to_string(),
                })),
                Ok(Ok(res)) => res.map_err(HandlerFailure::Error),
            }
        }
    }
}
