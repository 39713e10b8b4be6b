//! Reading a backend's queue from a scenario: pulling (and acking) a number of deliveries
//! within a deadline, and checking that nothing more is queued.

use std::time::{Duration, Instant};

use necro_core::{Backend, Delivery};

use crate::error::{Check, ConformanceError};

/// How long a scenario waits for deliveries it expects.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// How long a scenario waits to be sure nothing more arrives.
const QUIET_WAIT: Duration = Duration::from_millis(300);

/// Pulls and acks until `n` deliveries arrived; fails when they do not arrive in time.
pub(crate) async fn pull_n<B: Backend>(
    check: Check,
    backend: &B,
    n: usize,
) -> Result<Vec<Delivery<B::Token>>, ConformanceError> {
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        if Instant::now() >= deadline {
            return Err(check.fail(format!(
                "expected {n} deliveries on the queue, got {} within {DELIVERY_DEADLINE:?}",
                got.len()
            )));
        }
        let batch = check.call(
            "pull",
            backend
                .pull(n - got.len(), Duration::from_millis(100))
                .await,
        )?;
        let tokens = batch.iter().map(|d| d.token.clone()).collect();
        check.call("ack", backend.ack(tokens).await)?;
        got.extend(batch);
    }
    Ok(got)
}

/// Fails when a pull finds anything more on the queue.
pub(crate) async fn nothing_more<B: Backend>(
    check: Check,
    backend: &B,
) -> Result<(), ConformanceError> {
    let batch = check.call("pull", backend.pull(10, QUIET_WAIT).await)?;
    let ids: Vec<String> = batch.iter().map(|d| d.event.id().to_string()).collect();
    let tokens = batch.into_iter().map(|d| d.token).collect();
    check.call("ack", backend.ack(tokens).await)?;
    check.ensure(ids.is_empty(), || {
        format!("expected nothing more on the queue, found the events {ids:?}")
    })
}
