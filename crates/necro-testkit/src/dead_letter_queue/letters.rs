//! What the dead-letter scenarios store and how they read it back: the letters (organs, kinds
//! and event types by number, chain metadata, `failed_at` to the microsecond), storing them,
//! comparing entries with them, and walking pages.

use necro_core::serde_json::json;
use necro_core::time::{Duration as TimeDuration, OffsetDateTime};
use necro_core::{
    DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterKind, DeadLetterPage, DeadLetterQuery,
    DeadLetterQueue, Event, Failure, FailureKind, ListOrder, Metadata,
};

use crate::error::{Check, ConformanceError};

/// Walks of more pages than this are taken for a cursor that never ends.
const MAX_PAGES: usize = 1_000;

const ORGANS: [Option<&str>; 3] = [Some("Mailer"), Some("Billing"), None];
const KINDS: [DeadLetterKind; 3] = [
    DeadLetterKind::HandlerFailed,
    DeadLetterKind::MaxDeliveries,
    DeadLetterKind::EnqueueFailed,
];
const TYPES: [&str; 2] = ["ORDER_PLACED", "PAYMENT_TAKEN"];

/// Letter `n`: organ `Mailer`, `Billing` or none by `n % 3`; kind by `(n / 3) % 3`; event type
/// by `n % 2`; chain metadata; a `failed_at` with microseconds.
pub(super) fn letter(check: Check, n: usize) -> Result<DeadLetter, ConformanceError> {
    let made = |e: necro_core::EventError| check.fail(format!("building letter {n}: {e}"));
    let event = Event::new(TYPES[n % TYPES.len()], json!({ "n": n })).map_err(made)?;
    let root = Event::new("ROOT", json!({ "n": n })).map_err(made)?;
    let failures = match ORGANS[n % ORGANS.len()] {
        Some(organ) => vec![
            Failure::new(Some(organ.to_owned()), format!("boom {n}"))
                .with_kind(FailureKind::Timeout)
                .with_retries(2),
            Failure::new(Some("Audit".to_owned()), "also failed"),
        ],
        None => {
            vec![Failure::new(None, format!("enqueue refused {n}")).with_kind(FailureKind::Enqueue)]
        }
    };
    let attempts = u32::try_from(n % 4 + 1).unwrap_or(1);
    let kind = KINDS[(n / 3) % KINDS.len()];
    let mut letter = DeadLetter::new(
        event,
        Metadata::child_of(&root, &Metadata::default()),
        kind,
        failures,
        attempts,
    );
    let seconds = 1_705_314_645 + i64::try_from(n).unwrap_or(0);
    letter.failed_at = OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|e| check.fail(format!("building letter {n}: {e}")))?
        + TimeDuration::microseconds(123_456);
    Ok(letter)
}

/// Checks the backend is empty, stores letters `0..n` and returns them with their ids
/// (oldest first, as listed).
pub(super) async fn store_letters<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
    n: usize,
) -> Result<(Vec<DeadLetter>, Vec<DeadLetterId>), ConformanceError> {
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held by a fresh backend", &count, &0)?;
    let mut letters = Vec::with_capacity(n);
    for i in 0..n {
        let l = letter(check, i)?;
        check.call("store", backend.store(l.clone()).await)?;
        letters.push(l);
    }
    let listed = walk(check, backend, DeadLetterQuery::new(n + 1)).await?;
    check.equal("entries listed after storing", &listed.len(), &n)?;
    for (i, (entry, want)) in listed.iter().zip(&letters).enumerate() {
        same_letter(
            check,
            &format!("entry {i} listed oldest first"),
            entry,
            want,
        )?;
    }
    Ok((letters, listed.into_iter().map(|e| e.id).collect()))
}

/// Fails unless `entry` holds exactly `want`.
pub(super) fn same_letter(
    check: Check,
    what: &str,
    entry: &DeadLetterEntry,
    want: &DeadLetter,
) -> Result<(), ConformanceError> {
    match &entry.letter {
        Ok(got) => check.equal(&format!("{what} (id {})", entry.id), got, want),
        Err(unreadable) => Err(check.fail(format!(
            "{what} (id {}): expected a readable letter, got {unreadable:?}",
            entry.id
        ))),
    }
}

pub(super) async fn page<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
    query: &DeadLetterQuery,
) -> Result<DeadLetterPage, ConformanceError> {
    check.call(
        &format!("dead_letter_page({query:?})"),
        backend.dead_letter_page(query).await,
    )
}

/// Every entry `query` reaches, following `next` from page to page; fails on a page larger
/// than the limit or a walk that does not end.
pub(super) async fn walk<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
    query: DeadLetterQuery,
) -> Result<Vec<DeadLetterEntry>, ConformanceError> {
    let mut entries = Vec::new();
    let mut query = query;
    for _ in 0..MAX_PAGES {
        let page = page(check, backend, &query).await?;
        check.ensure(page.entries.len() <= query.limit, || {
            format!(
                "a page of limit {} held {} entries",
                query.limit,
                page.entries.len()
            )
        })?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => query = query.after(Some(next)),
            None => return Ok(entries),
        }
    }
    Err(check.fail(format!(
        "a walk of {query:?} did not end after {MAX_PAGES} pages"
    )))
}

pub(super) fn ids_of(entries: &[DeadLetterEntry]) -> Vec<DeadLetterId> {
    entries.iter().map(|e| e.id.clone()).collect()
}

/// The ids of every held entry, oldest first.
pub(super) async fn held<B: DeadLetterQueue>(
    check: Check,
    backend: &B,
) -> Result<Vec<DeadLetterId>, ConformanceError> {
    Ok(ids_of(
        &walk(check, backend, DeadLetterQuery::new(100)).await?,
    ))
}

pub(super) fn newest_first(query: DeadLetterQuery) -> DeadLetterQuery {
    query.order(ListOrder::NewestFirst)
}

pub(super) fn reversed<T: Clone>(items: &[T]) -> Vec<T> {
    items.iter().rev().cloned().collect()
}
