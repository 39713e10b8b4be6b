//! The dead-letter queue suite: [`dead_letter_queue_conformance`] holds a backend's
//! [`DeadLetterQueue`] to necro-core's contract, one scenario per fresh backend. The letters
//! the scenarios store and the listing helpers are in `letters.rs`, the listing scenarios in
//! `listing.rs`, the replay and purge scenarios in `replay.rs`.

use std::future::Future;

use necro_core::{Backend, DeadLetterQueue};

use crate::backend::BackendFactory;
use crate::error::{Check, ConformanceError};

mod letters;
mod listing;
mod replay;

pub use crate::dead_letter_queue::replay::RACERS;

/// The scenarios [`dead_letter_queue_conformance`] runs, in order, each on a fresh backend.
pub const SCENARIOS: &[&str] = &[
    "count_and_order",
    "get",
    "paging",
    "filters",
    "replay_one",
    "replay_selection",
    "purge",
    "concurrent_replay",
];

/// Runs every scenario of [`SCENARIOS`] against a fresh backend from `make`, which must give a
/// backend whose queue and dead letters are empty (Redis: a new stream and group each time).
///
/// It checks that
/// - `count_and_order`: stored letters are counted and listed oldest first and newest first,
///   each read back exactly as it was stored (event, metadata, kind, reason, organ, every
///   failure, attempts, `failed_at` to the microsecond); a limit of 0 gives an empty page;
/// - `get`: every entry is found by its id, ids stay stable when others go and are never
///   reused, and an id that is not held (purged, or of a form the queue never issues) is
///   `None`;
/// - `paging`: walking 25 letters 7 at a time with the `next` cursor, either way, meets every
///   entry exactly once and in order; an entry's id works as a cursor; filtered walks cover
///   exactly the matching entries; a cursor of a foreign form fails with
///   [`InvalidDeadLetterId`](necro_core::InvalidDeadLetterId);
/// - `filters`: listings by organ, kind, event type and combinations hold exactly the matching
///   entries, in order, both ways;
/// - `replay_one`: a replayed letter's event is back on the queue once (pulled from the
///   backend: same event id, same metadata, attempt 1) and the letter is gone; replaying it
///   again reports it missing;
/// - `replay_selection`: replay by ids (in their order, a missing id reported), by filter and
///   of everything left (oldest first) puts exactly those events on the queue;
/// - `purge`: purge by id, ids, filter and all deletes exactly those, reports ids not held as
///   missing and puts nothing on the queue;
/// - `concurrent_replay`: [`RACERS`] tasks replaying the same entry at once replay it exactly
///   once (the others report it missing) and the queue holds it once.
///
/// Run it inside a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`),
/// so that the racers of `concurrent_replay` really run at once; on a current-thread runtime
/// they only interleave.
///
/// # Errors
/// The first check that fails, as a [`ConformanceError`] naming its scenario and saying what
/// was expected and what the backend did (a backend error included, with its causes).
pub async fn dead_letter_queue_conformance<B, F, Fut>(mut make: F) -> Result<(), ConformanceError>
where
    B: Backend + DeadLetterQueue,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    listing::count_and_order(&make().await).await?;
    listing::get(&make().await).await?;
    listing::paging(&make().await).await?;
    listing::filters(&make().await).await?;
    replay::replay_one(&make().await).await?;
    replay::replay_selection(&make().await).await?;
    replay::purge(&make().await).await?;
    replay::concurrent_replay(make().await).await?;
    Ok(())
}

/// [`dead_letter_queue_conformance`] on the backends of a [`BackendFactory`]: every scenario
/// of [`SCENARIOS`] on a fresh backend from [`BackendFactory::fresh`]. A factory that cannot
/// give one fails the scenario that asked.
///
/// # Errors
/// As [`dead_letter_queue_conformance`].
pub async fn dead_letter_queue_conformance_with<F>(factory: &F) -> Result<(), ConformanceError>
where
    F: BackendFactory,
    F::Backend: DeadLetterQueue,
{
    let fresh = async |scenario: &'static str| {
        factory.fresh().await.map_err(|e| {
            Check::new(scenario).fail(format!(
                "the factory could not give a fresh backend: {}",
                necro_core::error_chain(&*e)
            ))
        })
    };
    listing::count_and_order(&fresh("count_and_order").await?).await?;
    listing::get(&fresh("get").await?).await?;
    listing::paging(&fresh("paging").await?).await?;
    listing::filters(&fresh("filters").await?).await?;
    replay::replay_one(&fresh("replay_one").await?).await?;
    replay::replay_selection(&fresh("replay_selection").await?).await?;
    replay::purge(&fresh("purge").await?).await?;
    replay::concurrent_replay(fresh("concurrent_replay").await?).await?;
    Ok(())
}
