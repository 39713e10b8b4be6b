//! The replay and purge scenarios: `replay_one`, `replay_selection`, `purge` and
//! `concurrent_replay`.

use std::sync::Arc;

use necro_core::{
    Backend, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterQuery, DeadLetterQueue,
    DeadLetterSelection, PurgeReport, ReplayReport,
};
use tokio::sync::Barrier;

use crate::dead_letter_queue::letters::{held, letter, newest_first, page, store_letters};
use crate::error::{Check, ConformanceError};
use crate::queue::{nothing_more, pull_n};

/// How many tasks race to replay one entry in `concurrent_replay`.
pub const RACERS: usize = 8;

async fn replay<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
    selection: DeadLetterSelection,
) -> Result<ReplayReport, ConformanceError> {
    check.call(
        &format!("replay_dead_letters({selection:?})"),
        backend.replay_dead_letters(&selection).await,
    )
}

/// Fails unless the report replayed `replayed`, in order, skipped nothing and missed `missing`.
fn replayed(
    check: Check,
    report: &ReplayReport,
    replayed: &[DeadLetterId],
    missing: &[DeadLetterId],
) -> Result<(), ConformanceError> {
    check.equal("replayed", &report.replayed, &replayed.to_vec())?;
    check.equal("skipped", &report.skipped, &Vec::new())?;
    check.equal("missing", &report.missing, &missing.to_vec())
}

/// Pulls the events of `letters` from the queue, in order, each a first delivery with the
/// letter's metadata.
async fn pull_letters<B: Backend>(
    check: Check,
    backend: &B,
    letters: &[&DeadLetter],
) -> Result<(), ConformanceError> {
    let deliveries = pull_n(check, backend, letters.len()).await?;
    for (d, want) in deliveries.iter().zip(letters) {
        check.equal("replayed event id", &d.event.id(), &want.event.id())?;
        check.equal("replayed event", &d.event, &want.event)?;
        check.equal("replayed metadata", &d.meta, &want.meta)?;
        check.equal("attempt of a replayed event", &d.attempt, &1)?;
    }
    Ok(())
}

pub(super) async fn replay_one<B: Backend + DeadLetterQueue>(
    backend: &B,
) -> Result<(), ConformanceError> {
    let check = Check::new("replay_one");
    let (letters, ids) = store_letters(check, backend, 3).await?;
    let report = replay(check, backend, DeadLetterSelection::one(ids[1].clone())).await?;
    replayed(check, &report, &ids[1..2], &[])?;
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held after replaying one of 3", &count, &2)?;
    let gone = check.call("dead_letter", backend.dead_letter(&ids[1]).await)?;
    check.equal("dead_letter of a replayed id", &gone, &None)?;
    check.equal(
        "ids held",
        &held(check, backend).await?,
        &vec![ids[0].clone(), ids[2].clone()],
    )?;
    pull_letters(check, backend, &[&letters[1]]).await?;
    nothing_more(check, backend).await?;
    let again = replay(check, backend, DeadLetterSelection::one(ids[1].clone())).await?;
    replayed(check, &again, &[], &ids[1..2])?;
    nothing_more(check, backend).await
}

/// Stores a letter and purges it: an id of the queue's form that is not held.
async fn gone_id<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
    n: usize,
) -> Result<DeadLetterId, ConformanceError> {
    check.call("store", backend.store(letter(check, n)?).await)?;
    let newest = page(check, backend, &newest_first(DeadLetterQuery::new(1))).await?;
    let Some(entry) = newest.entries.into_iter().next() else {
        return Err(check.fail("a stored letter is not listed"));
    };
    let report = check.call(
        "purge_dead_letters",
        backend
            .purge_dead_letters(&DeadLetterSelection::one(entry.id.clone()))
            .await,
    )?;
    check.equal("letters purged", &report.purged, &1)?;
    Ok(entry.id)
}

pub(super) async fn replay_selection<B: Backend + DeadLetterQueue>(
    backend: &B,
) -> Result<(), ConformanceError> {
    let check = Check::new("replay_selection");
    let (letters, ids) = store_letters(check, backend, 7).await?;
    let gone = gone_id(check, backend, 7).await?;

    let by_ids = DeadLetterSelection::Ids(vec![ids[4].clone(), ids[0].clone(), gone.clone()]);
    let report = replay(check, backend, by_ids).await?;
    replayed(check, &report, &[ids[4].clone(), ids[0].clone()], &[gone])?;
    pull_letters(check, backend, &[&letters[4], &letters[0]]).await?;

    let mailer = DeadLetterSelection::Matching(DeadLetterFilter::new().organ("Mailer"));
    let report = replay(check, backend, mailer).await?;
    replayed(check, &report, &[ids[3].clone(), ids[6].clone()], &[])?;
    pull_letters(check, backend, &[&letters[3], &letters[6]]).await?;

    let report = replay(check, backend, DeadLetterSelection::All).await?;
    replayed(
        check,
        &report,
        &[ids[1].clone(), ids[2].clone(), ids[5].clone()],
        &[],
    )?;
    pull_letters(check, backend, &[&letters[1], &letters[2], &letters[5]]).await?;
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held after replaying all", &count, &0)?;
    let report = replay(check, backend, DeadLetterSelection::All).await?;
    replayed(check, &report, &[], &[])?;
    nothing_more(check, backend).await
}

pub(super) async fn purge<B: Backend + DeadLetterQueue>(
    backend: &B,
) -> Result<(), ConformanceError> {
    let check = Check::new("purge");
    let (_, ids) = store_letters(check, backend, 6).await?;
    let purge = |selection: DeadLetterSelection| async move {
        check.call(
            &format!("purge_dead_letters({selection:?})"),
            backend.purge_dead_letters(&selection).await,
        )
    };
    let purged = |report: PurgeReport, n: u64, missing: &[DeadLetterId]| {
        check.equal("purged", &report.purged, &n)?;
        check.equal("missing", &report.missing, &missing.to_vec())
    };
    purged(
        purge(DeadLetterSelection::one(ids[0].clone())).await?,
        1,
        &[],
    )?;
    purged(
        purge(DeadLetterSelection::one(ids[0].clone())).await?,
        0,
        &ids[..1],
    )?;
    let both = DeadLetterSelection::Ids(vec![ids[1].clone(), ids[0].clone()]);
    purged(purge(both).await?, 1, &ids[..1])?;
    let mailer = DeadLetterSelection::Matching(DeadLetterFilter::new().organ("Mailer"));
    purged(purge(mailer).await?, 1, &[])?;
    check.equal(
        "ids held",
        &held(check, backend).await?,
        &vec![ids[2].clone(), ids[4].clone(), ids[5].clone()],
    )?;
    purged(purge(DeadLetterSelection::All).await?, 3, &[])?;
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held after purging all", &count, &0)?;
    check.equal("ids held", &held(check, backend).await?, &Vec::new())?;
    nothing_more(check, backend).await
}

pub(super) async fn concurrent_replay<B: Backend + DeadLetterQueue>(
    backend: B,
) -> Result<(), ConformanceError> {
    let check = Check::new("concurrent_replay");
    let (letters, ids) = store_letters(check, &backend, 3).await?;
    let backend = Arc::new(backend);
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let backend = Arc::clone(&backend);
            let barrier = Arc::clone(&barrier);
            let selection = DeadLetterSelection::one(ids[1].clone());
            tokio::spawn(async move {
                barrier.wait().await;
                backend.replay_dead_letters(&selection).await
            })
        })
        .collect();
    let mut replays = 0;
    for racer in racers {
        let joined = racer
            .await
            .map_err(|e| check.fail(format!("a racing replay task failed: {e}")))?;
        let report = check.call("a racing replay_dead_letters", joined)?;
        check.equal("skipped", &report.skipped, &Vec::new())?;
        let seen: Vec<&DeadLetterId> = report.replayed.iter().chain(&report.missing).collect();
        check.equal("ids a racer replayed or missed", &seen, &vec![&ids[1]])?;
        replays += report.replayed.len();
    }
    check.equal(
        &format!("racers (of {RACERS}) that replayed the entry"),
        &replays,
        &1,
    )?;
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held after the race", &count, &2)?;
    pull_letters(check, &*backend, &[&letters[1]]).await?;
    nothing_more(check, &*backend).await
}
