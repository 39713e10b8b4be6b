//! The cases of giving deliveries back and of finishing them: nack (attempt raised, then a
//! dead letter at the maximum), release (no attempt counted), commit, and the refusals the
//! trait promises for bad input (tokens acked twice, a closed backend).

use necro_core::{Backend, BackendError, NackOutcome, error_chain};

use crate::backend::factory::Capabilities;
use crate::backend::fixtures::{
    DEADLINE, PULL_WAIT, ack, attempts_are, enqueue_all, envelopes, event, number, numbers,
    pull_ack, pull_keep,
};
use crate::error::{Check, ConformanceError};
use crate::queue::nothing_more;

/// `nack`: an event nacked on each delivery comes back with its attempt raised by one,
/// unchanged, and the nack says so (`Requeued { next_attempt }`), until the nack of its
/// `max_deliveries`-th delivery dead-letters it (`DeadLettered`): then it is gone from the
/// queue. An event beside it, acked, is not disturbed.
pub(super) async fn nack<B: Backend>(
    backend: &B,
    caps: &Capabilities,
) -> Result<(), ConformanceError> {
    let check = Check::new("nack");
    let max = caps.max_deliveries;
    check.ensure(max >= 1, || "max_deliveries is declared as 0".to_owned())?;
    let sent = event(check, 0)?;
    check.call("send", backend.send(sent.clone()).await)?;
    check.call("send", backend.send(event(check, 1)?).await)?;
    let mut got = pull_keep(check, backend, 2, DEADLINE).await?;
    got.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    let bystander = got.split_off(1);
    ack(check, backend, &bystander).await?;
    let mut delivery = got.pop().ok_or_else(|| check.fail("no delivery"))?;
    for attempt in 1..=max {
        check.equal("attempt of the delivery", &delivery.attempt, &attempt)?;
        check.ensure(delivery.event == sent, || {
            format!(
                "redelivery {attempt} carries {}, expected {}",
                delivery.event.to_json(),
                sent.to_json()
            )
        })?;
        let outcome = check.call(
            "nack",
            backend
                .nack(delivery, format!("attempt {attempt} failed"))
                .await,
        )?;
        if attempt == max {
            check.equal(
                &format!("nack of delivery {attempt} of at most {max}"),
                &outcome,
                &NackOutcome::DeadLettered,
            )?;
            break;
        }
        check.equal(
            &format!("nack of delivery {attempt} of at most {max}"),
            &outcome,
            &NackOutcome::Requeued {
                next_attempt: attempt + 1,
            },
        )?;
        let mut again = pull_keep(check, backend, 1, DEADLINE).await?;
        delivery = again.pop().ok_or_else(|| check.fail("no delivery"))?;
    }
    nothing_more(check, backend).await
}

/// `release`: released deliveries come back with the attempt they had, as often as they are
/// released (more than `max_deliveries` times, none dead-lettered), in their order for an
/// ordered backend; a nack afterwards raises the attempt to 2.
pub(super) async fn release<B: Backend>(
    backend: &B,
    caps: &Capabilities,
) -> Result<(), ConformanceError> {
    let check = Check::new("release");
    enqueue_all(check, backend, envelopes(check, 0..3)?).await?;
    let mut got = pull_keep(check, backend, 3, DEADLINE).await?;
    for round in 1..=caps.max_deliveries + 1 {
        attempts_are(check, &got, 1)
            .map_err(|e| check.fail(format!("after {} releases: {}", round - 1, e.message)))?;
        check.call("release", backend.release(got).await)?;
        got = pull_keep(check, backend, 3, DEADLINE).await?;
        if caps.ordered {
            check.equal(
                &format!("numbers after release {round}"),
                &numbers(check, &got)?,
                &vec![0, 1, 2],
            )?;
        }
    }
    attempts_are(check, &got, 1)?;
    got.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    let first = got.remove(0);
    let outcome = check.call("nack", backend.nack(first, "failed".to_owned()).await)?;
    let want = if caps.max_deliveries > 1 {
        NackOutcome::Requeued { next_attempt: 2 }
    } else {
        NackOutcome::DeadLettered
    };
    check.equal("nack after the releases", &outcome, &want)?;
    ack(check, backend, &got).await?;
    if caps.max_deliveries > 1 {
        let back = pull_ack(check, backend, 1).await?;
        attempts_are(check, &back, 2)?;
    }
    nothing_more(check, backend).await
}

/// `commit`: the emitted events are enqueued and the sources acked (never redelivered); a
/// commit with no events acks, one with no acks enqueues; `atomic_commit` answers what the
/// factory declares.
pub(super) async fn commit<B: Backend>(
    backend: &B,
    caps: &Capabilities,
) -> Result<(), ConformanceError> {
    let check = Check::new("commit");
    check.equal(
        "Backend::atomic_commit against the declared capability",
        &backend.atomic_commit(),
        &caps.atomic_commit,
    )?;
    enqueue_all(check, backend, envelopes(check, 0..4)?).await?;
    let mut sources = pull_keep(check, backend, 4, DEADLINE).await?;
    sources.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    let emitted = envelopes(check, 10..13)?;
    let acks = sources[..2].iter().map(|d| d.token.clone()).collect();
    check.call("commit", backend.commit(emitted, acks).await)?;
    let only_acks = vec![sources[2].token.clone()];
    check.call(
        "commit of acks only",
        backend.commit(Vec::new(), only_acks).await,
    )?;
    let only_events = envelopes(check, 13..14)?;
    check.call(
        "commit of events only",
        backend.commit(only_events, Vec::new()).await,
    )?;
    check.call(
        "commit of nothing",
        backend.commit(Vec::new(), Vec::new()).await,
    )?;
    let last = sources.split_off(3);
    ack(check, backend, &last).await?;
    let got = pull_ack(check, backend, 4).await?;
    let mut seen = numbers(check, &got)?;
    seen.sort_unstable();
    check.equal("numbers after the commits", &seen, &vec![10, 11, 12, 13])?;
    attempts_are(check, &got, 1)?;
    nothing_more(check, backend).await
}

/// `atomic_commit_all_or_nothing`: a commit the backend refuses (the batch from
/// [`BackendFactory::refusing_commit`](crate::backend::BackendFactory::refusing_commit))
/// applies nothing: the source it would have acked is still held (given back, it comes again
/// at attempt 1), and none of the batch's events is ever delivered.
pub(super) async fn commit_all_or_nothing<B: Backend>(
    backend: &B,
    refused: Vec<necro_core::Envelope>,
) -> Result<(), ConformanceError> {
    let check = Check::new("atomic_commit_all_or_nothing");
    let source = event(check, 0)?;
    check.call("send", backend.send(source.clone()).await)?;
    let held = pull_keep(check, backend, 1, DEADLINE).await?;
    let tokens = held.iter().map(|d| d.token.clone()).collect();
    let batch = refused.len();
    check.ensure(backend.commit(refused, tokens).await.is_err(), || {
        format!("a commit of the factory's refused batch ({batch} events) and one ack was accepted")
    })?;
    check.call(
        "release after the refused commit",
        backend.release(held).await,
    )?;
    let again = pull_ack(check, backend, 1).await?;
    let ids: Vec<String> = again.iter().map(|d| d.event.id().to_string()).collect();
    check.equal(
        "events delivered after the refused commit",
        &ids,
        &vec![source.id().to_string()],
    )?;
    attempts_are(check, &again, 1)?;
    nothing_more(check, backend).await
}

/// Fails unless `result` is `Ok` or [`BackendError::UnknownToken`]: how a backend may answer
/// a token it already finished.
fn ok_or_unknown<T>(
    check: Check,
    what: &str,
    result: Result<T, BackendError>,
) -> Result<(), ConformanceError> {
    match result {
        Ok(_) | Err(BackendError::UnknownToken(_)) => Ok(()),
        Err(e) => Err(check.fail(format!(
            "{what}: expected Ok or BackendError::UnknownToken, got {}",
            error_chain(&e)
        ))),
    }
}

/// `bad_input`: a token acked twice, or nacked or released after its ack, is answered with
/// `Ok` or [`BackendError::UnknownToken`] and never brings its event back; empty batches are
/// accepted; after `close` (twice: the second a no-op) a send is refused with
/// [`BackendError::Closed`] and a pull hands out nothing.
pub(super) async fn bad_input<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("bad_input");
    check.call("enqueue of no events", backend.enqueue(Vec::new()).await)?;
    check.call("ack of no tokens", backend.ack(Vec::new()).await)?;
    check.call(
        "release of no deliveries",
        backend.release(Vec::new()).await,
    )?;
    enqueue_all(check, backend, envelopes(check, 0..3)?).await?;
    let got = pull_keep(check, backend, 3, DEADLINE).await?;
    ack(check, backend, &got).await?;
    let token = got[0].token.clone();
    ok_or_unknown(
        check,
        "ack of a token acked already",
        backend.ack(vec![token]).await,
    )?;
    let acked = got[1].clone();
    ok_or_unknown(
        check,
        "nack of a delivery acked already",
        backend.nack(acked, "late".to_owned()).await,
    )?;
    let acked = got[2].clone();
    ok_or_unknown(
        check,
        "release of a delivery acked already",
        backend.release(vec![acked]).await,
    )?;
    nothing_more(check, backend).await?;

    check.call("close", backend.close().await)?;
    check.call("a second close", backend.close().await)?;
    match backend.send(event(check, 9)?).await {
        Err(BackendError::Closed) => {}
        Ok(()) => return Err(check.fail("a send after close was accepted")),
        Err(e) => {
            return Err(check.fail(format!(
                "a send after close: expected BackendError::Closed, got {}",
                error_chain(&e)
            )));
        }
    }
    match backend.pull(10, PULL_WAIT).await {
        Ok(batch) if batch.is_empty() => {}
        Err(BackendError::Closed) => {}
        Ok(batch) => {
            return Err(check.fail(format!(
                "a pull after close on an empty queue handed out {} deliveries",
                batch.len()
            )));
        }
        Err(e) => {
            return Err(check.fail(format!(
                "a pull after close: expected nothing or BackendError::Closed, got {}",
                error_chain(&e)
            )));
        }
    }
    Ok(())
}
