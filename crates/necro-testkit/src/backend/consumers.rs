//! The cases of several consumers and of their ends: sharing 5,000 events, a consumer dropped
//! with deliveries in hand, consumers closed and replaced, and closing from many tasks at
//! once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use necro_core::{Backend, BackendError, error_chain, panic_message};
use tokio::task::JoinError;

use crate::backend::factory::BackendFactory;
use crate::backend::fixtures::{
    DEADLINE, PULL_WAIT, ack, another, attempts_are, duplicates, enqueue_all, envelopes, event,
    fresh, numbers, pull_keep,
};
use crate::error::{Check, ConformanceError};
use crate::queue::nothing_more;

/// Events the `shared_consumers` case shares.
pub const SHARED_EVENTS: u64 = 5_000;

/// Consumers pulling at once in the `shared_consumers` case.
pub const CONSUMERS: usize = 4;

/// How long the `shared_consumers` case gives its consumers for every event.
const SHARE_DEADLINE: Duration = Duration::from_secs(60);

fn joined<T>(
    check: Check,
    what: &str,
    joined: Result<Result<T, ConformanceError>, JoinError>,
) -> Result<T, ConformanceError> {
    match joined {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(check.fail(format!(
            "{what} panicked: {}",
            panic_message(&*e.into_panic())
        ))),
        Err(e) => Err(check.fail(format!("{what} did not finish: {e}"))),
    }
}

/// How long a consumer of `shared_consumers` goes on pulling nothing, once every event is
/// enqueued, before it takes the rest for lost.
const SHARE_IDLE: Duration = Duration::from_secs(3);

/// What the consumers of `shared_consumers` share: how many events they acked between them,
/// and whether the producer is done.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    enqueued: AtomicBool,
}

/// One consumer of `shared_consumers`: pulls and acks until the consumers acked every event,
/// or nothing came for [`SHARE_IDLE`] after the last was enqueued.
async fn consume<B: Backend>(
    check: Check,
    backend: B,
    progress: Arc<Progress>,
    total: usize,
) -> Result<Vec<u64>, ConformanceError> {
    let deadline = Instant::now() + SHARE_DEADLINE;
    let mut mine = Vec::new();
    let mut last_seen = Instant::now();
    while progress.acked.load(Ordering::SeqCst) < total {
        if Instant::now() >= deadline {
            return Err(check.fail(format!(
                "the consumers got {} of {total} events within {SHARE_DEADLINE:?}",
                progress.acked.load(Ordering::SeqCst)
            )));
        }
        let batch = check.call("pull", backend.pull(100, PULL_WAIT).await)?;
        if batch.is_empty() {
            if !progress.enqueued.load(Ordering::SeqCst) {
                last_seen = Instant::now();
            } else if last_seen.elapsed() >= SHARE_IDLE {
                break;
            }
            continue;
        }
        last_seen = Instant::now();
        ack(check, &backend, &batch).await?;
        mine.extend(numbers(check, &batch)?);
        progress.acked.fetch_add(batch.len(), Ordering::SeqCst);
    }
    Ok(mine)
}

/// `shared_consumers`: [`CONSUMERS`] consumers pulling at once while a producer enqueues
/// [`SHARED_EVENTS`] events get every event, and each exactly once between them.
pub(super) async fn shared_consumers<F: BackendFactory>(
    factory: &F,
) -> Result<(), ConformanceError> {
    let check = Check::new("shared_consumers");
    let producer = fresh(check, factory).await?;
    let progress = Arc::new(Progress::default());
    let total = usize::try_from(SHARED_EVENTS).unwrap_or(usize::MAX);
    let mut tasks = Vec::with_capacity(CONSUMERS);
    for _ in 0..CONSUMERS {
        let consumer = another(check, factory, &producer).await?;
        tasks.push(tokio::spawn(consume(
            check,
            consumer,
            Arc::clone(&progress),
            total,
        )));
    }
    let enqueued = enqueue_all(check, &producer, envelopes(check, 0..SHARED_EVENTS)?).await;
    progress.enqueued.store(true, Ordering::SeqCst);
    enqueued?;
    let mut seen = Vec::with_capacity(total);
    let mut first_failure = None;
    for task in tasks {
        match joined(check, "a consumer task", task.await) {
            Ok(mine) => seen.extend(mine),
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    let twice = duplicates(&seen);
    check.ensure(twice.is_empty(), || {
        format!(
            "{} events were delivered more than once (number, times): {:?}",
            twice.len(),
            &twice[..twice.len().min(10)]
        )
    })?;
    seen.sort_unstable();
    let lost: Vec<u64> = (0..SHARED_EVENTS)
        .filter(|n| seen.binary_search(n).is_err())
        .take(10)
        .collect();
    check.ensure(lost.is_empty() && seen.len() == total, || {
        format!(
            "the consumers acked {} events of {total}; missing (first ten): {lost:?}",
            seen.len()
        )
    })?;
    nothing_more(check, &producer).await
}

/// `crash_redelivery`: the ten deliveries of a consumer dropped without ack, nack or close
/// are redelivered to another consumer within the declared time, at attempt 2, once each.
pub(super) async fn crash_redelivery<F: BackendFactory>(
    factory: &F,
    within: Duration,
) -> Result<(), ConformanceError> {
    let check = Check::new("crash_redelivery");
    let survivor = fresh(check, factory).await?;
    let victim = another(check, factory, &survivor).await?;
    enqueue_all(check, &survivor, envelopes(check, 0..10)?).await?;
    let held = pull_keep(check, &victim, 10, DEADLINE).await?;
    attempts_are(check, &held, 1)?;
    drop(held);
    drop(victim);
    let back = pull_keep(check, &survivor, 10, within + DEADLINE).await?;
    ack(check, &survivor, &back).await?;
    let mut seen = numbers(check, &back)?;
    seen.sort_unstable();
    check.equal(
        "numbers redelivered after the crash",
        &seen,
        &(0..10).collect::<Vec<u64>>(),
    )?;
    attempts_are(check, &back, 2)?;
    nothing_more(check, &survivor).await
}

/// Rounds of the `consumer_restart` case.
const ROUNDS: u64 = 5;
/// Events enqueued each round.
const PER_ROUND: u64 = 40;

/// `consumer_restart`: five times a new consumer starts, pulls 30 deliveries, acks 20,
/// releases 10 and closes; a last consumer then gets everything not acked. Each event is
/// acked exactly once, none is lost, released ones come back at attempt 1.
pub(super) async fn consumer_restart<F: BackendFactory>(
    factory: &F,
) -> Result<(), ConformanceError> {
    let check = Check::new("consumer_restart");
    let producer = fresh(check, factory).await?;
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let batch = envelopes(check, round * PER_ROUND..(round + 1) * PER_ROUND)?;
        enqueue_all(check, &producer, batch).await?;
        let consumer = another(check, factory, &producer).await?;
        let mut got = pull_keep(check, &consumer, 30, DEADLINE).await?;
        attempts_are(check, &got, 1)?;
        let released = got.split_off(20);
        ack(check, &consumer, &got).await?;
        acked.extend(numbers(check, &got)?);
        check.call("release", consumer.release(released).await)?;
        check.call(
            &format!("close of consumer {round}"),
            consumer.close().await,
        )?;
    }
    let last = another(check, factory, &producer).await?;
    let total = usize::try_from(ROUNDS * PER_ROUND).unwrap_or(usize::MAX);
    let rest = pull_keep(check, &last, total - acked.len(), DEADLINE).await?;
    attempts_are(check, &rest, 1)?;
    ack(check, &last, &rest).await?;
    acked.extend(numbers(check, &rest)?);
    let twice = duplicates(&acked);
    check.ensure(twice.is_empty(), || {
        format!("events acked more than once (number, times): {twice:?}")
    })?;
    acked.sort_unstable();
    check.equal(
        "numbers acked over the five consumers and the last",
        &acked,
        &(0..ROUNDS * PER_ROUND).collect::<Vec<u64>>(),
    )?;
    nothing_more(check, &last).await
}

/// Tasks calling `close` at once in the `concurrent_close` case.
const CLOSERS: usize = 8;

/// `concurrent_close`: while a pull waits, [`CLOSERS`] tasks close clones of the backend at
/// once: every close succeeds, the waiting pull returns (nothing, or an error) within the
/// deadline, and a send afterwards is refused with [`BackendError::Closed`].
pub(super) async fn concurrent_close<B: Backend + Clone>(
    backend: &B,
) -> Result<(), ConformanceError> {
    let check = Check::new("concurrent_close");
    check.call("send", backend.send(event(check, 0)?).await)?;
    let got = pull_keep(check, backend, 1, DEADLINE).await?;
    ack(check, backend, &got).await?;
    let puller = backend.clone();
    let waiting = tokio::spawn(async move {
        match puller.pull(10, DEADLINE * 3).await {
            Ok(batch) => Ok(batch.len()),
            Err(e) => Err(e),
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let closers: Vec<_> = (0..CLOSERS)
        .map(|_| {
            let b = backend.clone();
            tokio::spawn(async move { b.close().await })
        })
        .collect();
    for (i, closer) in closers.into_iter().enumerate() {
        let result = joined(check, "a closing task", closer.await.map(Ok))?;
        check.call(&format!("close {i} of {CLOSERS} at once"), result)?;
    }
    match tokio::time::timeout(DEADLINE, waiting).await {
        Err(_) => {
            return Err(check.fail(format!(
                "a pull waiting when the backend closed had not returned {DEADLINE:?} later"
            )));
        }
        Ok(joined_pull) => match joined(check, "the waiting pull", joined_pull.map(Ok))? {
            Ok(0) | Err(_) => {}
            Ok(n) => {
                return Err(check.fail(format!(
                    "a pull waiting on an empty queue when it closed handed out {n} deliveries"
                )));
            }
        },
    }
    check.call("close after the others", backend.close().await)?;
    match backend.send(event(check, 1)?).await {
        Err(BackendError::Closed) => Ok(()),
        Ok(()) => Err(check.fail("a send after the concurrent closes was accepted")),
        Err(e) => Err(check.fail(format!(
            "a send after close: expected BackendError::Closed, got {}",
            error_chain(&e)
        ))),
    }
}
