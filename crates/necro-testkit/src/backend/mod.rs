//! The backend suite: holds a [`Backend`](necro_core::Backend) to necro-core's contract, one
//! case per fresh, isolated backend from a [`BackendFactory`], one public entry point per
//! capability, and [`backend_conformance`] for all of them. The factory, the capabilities
//! and the report are in `factory.rs`; what the cases share in `fixtures.rs`; the cases in
//! `basics.rs` (round trip, batches, acks, metadata, order), `redelivery.rs` (nack, release,
//! commit, bad input), `consumers.rs` (several consumers, crashes, restarts, closing) and
//! `persistence.rs`.
//!
//! Every case answers `Ok` or the first [`ConformanceError`], named after the case; none
//! panics. A case whose capability the factory does not claim is skipped, and listed so in
//! the [`Report`].

mod basics;
mod consumers;
mod factory;
mod fixtures;
mod persistence;
mod redelivery;

pub use consumers::{CONSUMERS, SHARED_EVENTS};
pub use factory::{BackendFactory, Capabilities, RefusedCommit, Report};

use crate::error::ConformanceError;
use fixtures::fresh;

/// Every case of the suite, in the order [`backend_conformance`] runs them.
pub const CASES: &[&str] = &[
    "round_trip",
    "batch_pull",
    "ack_removes",
    "metadata",
    "bad_input",
    "order",
    "nack",
    "release",
    "commit",
    ATOMIC_COMMIT_ALL_OR_NOTHING,
    "shared_consumers",
    "crash_redelivery",
    "consumer_restart",
    "concurrent_close",
    "persistence",
];

/// The case of a commit the backend refuses: it applies nothing, neither the emitted events
/// nor the acks. It runs for a backend that claims atomic commit and whose factory gives a
/// batch its commit refuses ([`BackendFactory::refusing_commit`]); otherwise it is skipped.
pub const ATOMIC_COMMIT_ALL_OR_NOTHING: &str = "atomic_commit_all_or_nothing";

/// A fresh backend for one case, run by `$case`, passed (or the error returned).
macro_rules! run {
    ($report:ident, $factory:ident, $name:literal, $case:path $(, $arg:expr)*) => {{
        let backend = fresh(crate::error::Check::new($name), $factory).await?;
        $case(&backend $(, $arg)*).await?;
        $report.pass($name);
    }};
}

/// What every backend passes: `round_trip`, `batch_pull`, `ack_removes`, `metadata` and
/// `bad_input`.
///
/// - `round_trip`: a sent event and an enqueued batch come back once each, unchanged, at
///   attempt 1;
/// - `batch_pull`: a pull of at most N answers at most N (something when events are queued);
///   a pull of 0 answers nothing and takes nothing;
/// - `ack_removes`: acked deliveries never come back, released ones do;
/// - `metadata`: correlation id, causation id and headers survive enqueue → pull and
///   commit → pull;
/// - `bad_input`: a token acked twice, or nacked or released after its ack, answers `Ok` or
///   [`BackendError::UnknownToken`](necro_core::BackendError::UnknownToken) and never brings
///   its event back; empty batches are accepted; after `close` (a second close is a no-op)
///   a send is refused with [`BackendError::Closed`](necro_core::BackendError::Closed) and a
///   pull hands out nothing.
///
/// # Errors
/// The first failing check, as a [`ConformanceError`] naming its case.
pub async fn basics<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    run!(report, factory, "round_trip", basics::round_trip);
    run!(report, factory, "batch_pull", basics::batch_pull);
    run!(report, factory, "ack_removes", basics::ack_removes);
    run!(report, factory, "metadata", basics::metadata);
    run!(report, factory, "bad_input", redelivery::bad_input);
    Ok(report)
}

/// `order` (when [`Capabilities::ordered`]): 200 events enqueued in batches and one by one
/// reach one consumer in that order.
///
/// # Errors
/// As [`basics`].
pub async fn ordering<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    if factory.capabilities().ordered {
        run!(report, factory, "order", basics::order);
    } else {
        report.skip("order", "the factory does not claim `ordered`");
    }
    Ok(report)
}

/// `nack` and `release`, which every backend passes.
///
/// - `nack`: each nack redelivers the event unchanged with its attempt raised by one
///   (`Requeued { next_attempt }`), until the nack of delivery
///   [`Capabilities::max_deliveries`] dead-letters it (`DeadLettered`) and it is gone;
/// - `release`: released deliveries come back at the attempt they had, more times than
///   `max_deliveries` without being dead-lettered, in order for an ordered backend; a nack
///   afterwards raises the attempt to 2. (The trait's default `release` nacks, which counts
///   an attempt: a backend keeping it fails here.)
///
/// # Errors
/// As [`basics`].
pub async fn redelivery<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let caps = factory.capabilities();
    let mut report = Report::default();
    run!(report, factory, "nack", redelivery::nack, &caps);
    run!(report, factory, "release", redelivery::release, &caps);
    Ok(report)
}

/// `commit`: the emitted events are enqueued and the sources acked; commits of events only
/// or of acks only work; [`Backend::atomic_commit`](necro_core::Backend::atomic_commit)
/// answers [`Capabilities::atomic_commit`]; and, for a backend claiming atomic commit whose
/// factory gives a batch its commit refuses
/// ([`refusing_commit`](BackendFactory::refusing_commit)),
/// [`ATOMIC_COMMIT_ALL_OR_NOTHING`]: that commit applies neither the events nor the ack.
///
/// # Errors
/// As [`basics`].
pub async fn commit<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let caps = factory.capabilities();
    let mut report = Report::default();
    run!(report, factory, "commit", redelivery::commit, &caps);
    let check = crate::error::Check::new(ATOMIC_COMMIT_ALL_OR_NOTHING);
    let refusing = if caps.atomic_commit {
        factory.refusing_commit().await.map_err(|e| {
            check.fail(format!(
                "the factory could not give a refusing backend: {}",
                necro_core::error_chain(&*e)
            ))
        })?
    } else {
        None
    };
    match refusing {
        Some((backend, refused)) => {
            redelivery::commit_all_or_nothing(&backend, refused).await?;
            report.pass(ATOMIC_COMMIT_ALL_OR_NOTHING);
        }
        None if !caps.atomic_commit => report.skip(
            ATOMIC_COMMIT_ALL_OR_NOTHING,
            "the factory does not claim `atomic_commit`",
        ),
        None => report.skip(
            ATOMIC_COMMIT_ALL_OR_NOTHING,
            "the factory gives no batch its commit refuses (`refusing_commit`)",
        ),
    }
    Ok(report)
}

/// `shared_consumers` (when [`Capabilities::shared_consumers`]): [`CONSUMERS`] consumers
/// pulling at once while a producer enqueues [`SHARED_EVENTS`] events ack every one, none
/// twice.
///
/// Run it on a multi-threaded runtime, so that the consumers really pull at once.
///
/// # Errors
/// As [`basics`].
pub async fn shared_consumers<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    if factory.capabilities().shared_consumers {
        consumers::shared_consumers(factory).await?;
        report.pass("shared_consumers");
    } else {
        report.skip(
            "shared_consumers",
            "the factory does not claim `shared_consumers`",
        );
    }
    Ok(report)
}

/// `crash_redelivery` (when [`Capabilities::crash_redelivery`] is `Some(within)`): the
/// deliveries of a consumer dropped without ack, nack or close reach another consumer within
/// `within` (plus the suite's deadline of ten seconds), at attempt 2, once each.
///
/// # Errors
/// As [`basics`].
pub async fn crash_redelivery<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    match factory.capabilities().crash_redelivery {
        Some(within) => {
            consumers::crash_redelivery(factory, within).await?;
            report.pass("crash_redelivery");
        }
        None => report.skip(
            "crash_redelivery",
            "the factory does not claim `crash_redelivery`",
        ),
    }
    Ok(report)
}

/// `consumer_restart` (when [`Capabilities::independent_close`]): five consumers in turn
/// start, pull 30, ack 20, release 10 and close while a producer enqueues 40 a round; a last
/// consumer gets the rest. Every event is acked exactly once.
///
/// # Errors
/// As [`basics`].
pub async fn consumer_restart<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    if factory.capabilities().independent_close {
        consumers::consumer_restart(factory).await?;
        report.pass("consumer_restart");
    } else {
        report.skip(
            "consumer_restart",
            "the factory does not claim `independent_close`",
        );
    }
    Ok(report)
}

/// `concurrent_close`, which every backend passes: eight tasks closing clones at once all
/// succeed, a pull waiting meanwhile returns, and a send afterwards is refused with
/// [`BackendError::Closed`](necro_core::BackendError::Closed).
///
/// # Errors
/// As [`basics`].
pub async fn closing<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    run!(
        report,
        factory,
        "concurrent_close",
        consumers::concurrent_close
    );
    Ok(report)
}

/// `persistence` (when [`Capabilities::persistent`]): across
/// [`BackendFactory::restart`], nothing acked comes back and nothing unacked is lost; the
/// reconnected backend carries on.
///
/// # Errors
/// As [`basics`].
pub async fn persistence<F: BackendFactory>(factory: &F) -> Result<Report, ConformanceError> {
    let mut report = Report::default();
    if factory.capabilities().persistent {
        persistence::persistence(factory).await?;
        report.pass("persistence");
    } else {
        report.skip("persistence", "the factory does not claim `persistent`");
    }
    Ok(report)
}

/// Every case of [`CASES`], in order, each on a fresh backend from `factory`: [`basics`],
/// [`ordering`], [`redelivery`], [`commit`], [`shared_consumers`], [`crash_redelivery`],
/// [`consumer_restart`], [`closing`] and [`persistence`]. The report lists what ran and what
/// was skipped (the capabilities not claimed, and [`ATOMIC_COMMIT_ALL_OR_NOTHING`] without a
/// refusing batch).
///
/// Run it inside a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`).
///
/// # Errors
/// The first failing check, as a [`ConformanceError`] naming its case.
pub async fn backend_conformance<F: BackendFactory>(
    factory: &F,
) -> Result<Report, ConformanceError> {
    let mut report = basics(factory).await?;
    report.merge(ordering(factory).await?);
    report.merge(redelivery(factory).await?);
    report.merge(commit(factory).await?);
    report.merge(shared_consumers(factory).await?);
    report.merge(crash_redelivery(factory).await?);
    report.merge(consumer_restart(factory).await?);
    report.merge(closing(factory).await?);
    report.merge(persistence(factory).await?);
    Ok(report)
}
