//! The `persistence` case: what was enqueued and not acked survives a restart of what carries
//! the queue, and the backend the factory reconnects carries on.

use necro_core::error_chain;

use crate::backend::factory::BackendFactory;
use crate::backend::fixtures::{
    DEADLINE, ack, attempts_are, duplicates, enqueue_all, envelopes, event, fresh, number, numbers,
    pull_ack, pull_keep,
};
use crate::error::{Check, ConformanceError};
use crate::queue::nothing_more;

/// `persistence`: of 30 events, 10 are acked and 5 pulled but not acked before
/// [`BackendFactory::restart`]. The reconnected backend hands out the 15 never pulled (in
/// order, for an ordered backend) at attempt 1 and never one of the 10 acked; the 5 unacked
/// come back too when the factory claims crash redelivery (at attempt 2), and may come back
/// otherwise. A send after the restart goes round.
pub(super) async fn persistence<F: BackendFactory>(factory: &F) -> Result<(), ConformanceError> {
    let check = Check::new("persistence");
    let caps = factory.capabilities();
    let backend = fresh(check, factory).await?;
    enqueue_all(check, &backend, envelopes(check, 0..30)?).await?;
    let done = pull_ack(check, &backend, 10).await?;
    let mut acked = numbers(check, &done)?;
    acked.sort_unstable();
    let held = pull_keep(check, &backend, 5, DEADLINE).await?;
    let mut unacked = numbers(check, &held)?;
    unacked.sort_unstable();
    drop(held);
    let backend = factory.restart(backend).await.map_err(|e| {
        check.fail(format!(
            "the factory could not restart and reconnect: {}",
            error_chain(&*e)
        ))
    })?;

    let never_pulled: Vec<u64> = (0..30)
        .filter(|n| acked.binary_search(n).is_err() && unacked.binary_search(n).is_err())
        .collect();
    let crash = caps.crash_redelivery.is_some();
    let want = never_pulled.len() + if crash { unacked.len() } else { 0 };
    let within = DEADLINE + caps.crash_redelivery.unwrap_or_default();
    let mut got = Vec::new();
    let mut fresh_seen = Vec::new();
    let mut redelivered = 0;
    while fresh_seen.len() < never_pulled.len() || (crash && redelivered < unacked.len()) {
        let batch = pull_keep(check, &backend, 1, within).await.map_err(|e| {
            check.fail(format!(
                "after the restart, {} of the {want} expected deliveries came ({}); numbers {:?}",
                got.len(),
                e.message,
                numbers(check, &got).unwrap_or_default()
            ))
        })?;
        ack(check, &backend, &batch).await?;
        for d in &batch {
            let n = number(check, d)?;
            check.ensure(acked.binary_search(&n).is_err(), || {
                format!("event {n}, acked before the restart, was delivered again after it")
            })?;
            if never_pulled.contains(&n) {
                check.equal(&format!("attempt of event {n}"), &d.attempt, &1)?;
                fresh_seen.push(n);
            } else if crash {
                check.equal(&format!("attempt of unacked event {n}"), &d.attempt, &2)?;
                redelivered += 1;
            }
        }
        got.extend(batch);
    }
    let seen = numbers(check, &got)?;
    let twice = duplicates(&seen);
    check.ensure(twice.is_empty(), || {
        format!("events delivered more than once after the restart: {twice:?}")
    })?;
    if caps.ordered {
        check.equal(
            "order of the events never pulled",
            &fresh_seen,
            &never_pulled,
        )?;
    }
    check.call("send after the restart", {
        use necro_core::Backend as _;
        backend.send(event(check, 99)?).await
    })?;
    let last = pull_ack(check, &backend, 1).await?;
    attempts_are(check, &last, 1)?;
    check.equal(
        "the event sent after the restart",
        &numbers(check, &last)?,
        &vec![99],
    )?;
    nothing_more(check, &backend).await
}
