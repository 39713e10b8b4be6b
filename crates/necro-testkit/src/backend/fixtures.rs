//! What the backend cases share: numbered events, getting backends from the factory, pulling
//! with or without acking within a deadline, and reading the numbers back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use necro_core::serde_json::json;
use necro_core::{Backend, Delivery, Envelope, Event, error_chain};

use crate::backend::factory::BackendFactory;
use crate::error::{Check, ConformanceError};

/// How long a case waits for deliveries it expects.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

/// How long one pull of a case waits for its first delivery.
pub(super) const PULL_WAIT: Duration = Duration::from_millis(100);

/// The event type of every event the cases enqueue.
const EVENT_TYPE: &str = "CONFORMANCE";

/// Event `n`: payload `{"n": n}`.
pub(super) fn event(check: Check, n: u64) -> Result<Event, ConformanceError> {
    Event::new(EVENT_TYPE, json!({ "n": n }))
        .map_err(|e| check.fail(format!("building event {n}: {e}")))
}

/// Events `range` as envelopes without metadata.
pub(super) fn envelopes(
    check: Check,
    range: std::ops::Range<u64>,
) -> Result<Vec<Envelope>, ConformanceError> {
    range.map(|n| event(check, n).map(Envelope::new)).collect()
}

/// The number in a delivery's payload, or a failure saying the event came back changed.
pub(super) fn number<T>(check: Check, delivery: &Delivery<T>) -> Result<u64, ConformanceError> {
    delivery
        .event
        .get("n")
        .and_then(necro_core::serde_json::Value::as_u64)
        .ok_or_else(|| {
            check.fail(format!(
                "a delivery's payload lost its number: {}",
                delivery.event.to_json()
            ))
        })
}

/// The numbers of deliveries, in their order.
pub(super) fn numbers<T>(
    check: Check,
    deliveries: &[Delivery<T>],
) -> Result<Vec<u64>, ConformanceError> {
    deliveries.iter().map(|d| number(check, d)).collect()
}

/// How many times each number came, for the numbers that came more than once.
pub(super) fn duplicates(numbers: &[u64]) -> Vec<(u64, usize)> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for n in numbers {
        *counts.entry(*n).or_default() += 1;
    }
    counts.into_iter().filter(|(_, c)| *c > 1).collect()
}

/// A fresh backend from the factory, or a failure of the case that asked.
pub(super) async fn fresh<F: BackendFactory>(
    check: Check,
    factory: &F,
) -> Result<F::Backend, ConformanceError> {
    factory.fresh().await.map_err(|e| {
        check.fail(format!(
            "the factory could not give a fresh backend: {}",
            error_chain(&*e)
        ))
    })
}

/// A second consumer on the queue of `of`, or a failure of the case that asked.
pub(super) async fn another<F: BackendFactory>(
    check: Check,
    factory: &F,
    of: &F::Backend,
) -> Result<F::Backend, ConformanceError> {
    factory.another_consumer(of).await.map_err(|e| {
        check.fail(format!(
            "the factory could not give another consumer: {}",
            error_chain(&*e)
        ))
    })
}

/// Enqueues `envelopes` in batches of at most 100.
pub(super) async fn enqueue_all<B: Backend>(
    check: Check,
    backend: &B,
    envelopes: Vec<Envelope>,
) -> Result<(), ConformanceError> {
    let mut rest = envelopes.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Envelope> = rest.by_ref().take(100).collect();
        check.call("enqueue", backend.enqueue(batch).await)?;
    }
    Ok(())
}

/// Pulls, acking nothing, until `n` deliveries arrived; fails when they do not arrive within
/// `within`, or when a pull answers more than it was asked for.
pub(super) async fn pull_keep<B: Backend>(
    check: Check,
    backend: &B,
    n: usize,
    within: Duration,
) -> Result<Vec<Delivery<B::Token>>, ConformanceError> {
    let deadline = Instant::now() + within;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        if Instant::now() >= deadline {
            return Err(check.fail(format!(
                "expected {n} deliveries, got {} within {within:?} (numbers {:?})",
                got.len(),
                numbers(check, &got)?
            )));
        }
        let want = n - got.len();
        let batch = check.call("pull", backend.pull(want, PULL_WAIT).await)?;
        check.ensure(batch.len() <= want, || {
            format!(
                "a pull of at most {want} answered {} deliveries",
                batch.len()
            )
        })?;
        got.extend(batch);
    }
    Ok(got)
}

/// Pulls and acks until `n` deliveries arrived within [`DEADLINE`].
pub(super) async fn pull_ack<B: Backend>(
    check: Check,
    backend: &B,
    n: usize,
) -> Result<Vec<Delivery<B::Token>>, ConformanceError> {
    let got = pull_keep(check, backend, n, DEADLINE).await?;
    ack(check, backend, &got).await?;
    Ok(got)
}

/// Acks every delivery of `deliveries` in one call.
pub(super) async fn ack<B: Backend>(
    check: Check,
    backend: &B,
    deliveries: &[Delivery<B::Token>],
) -> Result<(), ConformanceError> {
    let tokens = deliveries.iter().map(|d| d.token.clone()).collect();
    check.call("ack", backend.ack(tokens).await)
}

/// Fails unless every delivery carries attempt `want`.
pub(super) fn attempts_are<T>(
    check: Check,
    deliveries: &[Delivery<T>],
    want: u32,
) -> Result<(), ConformanceError> {
    for d in deliveries {
        check.ensure(d.attempt == want, || {
            format!(
                "event {} came with attempt {}, expected {want}",
                d.event.to_json(),
                d.attempt
            )
        })?;
    }
    Ok(())
}
