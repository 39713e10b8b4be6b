//! The listing scenarios: `count_and_order`, `get`, `paging` and `filters`.

use necro_core::{
    BackendError, DeadLetterFilter, DeadLetterId, DeadLetterKind, DeadLetterPage, DeadLetterQuery,
    DeadLetterQueue, DeadLetterSelection, InvalidDeadLetterId,
};

use crate::dead_letter_queue::letters::{
    held, ids_of, letter, newest_first, page, reversed, same_letter, store_letters, walk,
};
use crate::error::{Check, ConformanceError};

pub(super) async fn count_and_order<B: DeadLetterQueue>(
    backend: &B,
) -> Result<(), ConformanceError> {
    let check = Check::new("count_and_order");
    let empty = page(check, backend, &DeadLetterQuery::new(10)).await?;
    check.equal(
        "first page of a fresh backend",
        &empty,
        &DeadLetterPage::default(),
    )?;
    let (letters, ids) = store_letters(check, backend, 5).await?;
    let count = check.call("dead_letter_count", backend.dead_letter_count().await)?;
    check.equal("dead letters held", &count, &5)?;
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    check.equal("distinct ids", &distinct.len(), &ids.len())?;

    let oldest = page(check, backend, &DeadLetterQuery::new(10)).await?;
    check.equal(
        "`next` of a page that holds everything",
        &oldest.next,
        &None,
    )?;
    check.equal("ids oldest first", &ids_of(&oldest.entries), &ids)?;
    let newest = page(check, backend, &newest_first(DeadLetterQuery::new(10))).await?;
    check.equal(
        "`next` of a page that holds everything",
        &newest.next,
        &None,
    )?;
    check.equal(
        "ids newest first",
        &ids_of(&newest.entries),
        &reversed(&ids),
    )?;
    for (i, (entry, want)) in newest.entries.iter().zip(letters.iter().rev()).enumerate() {
        same_letter(
            check,
            &format!("entry {i} listed newest first"),
            entry,
            want,
        )?;
    }
    let none = page(check, backend, &DeadLetterQuery::new(0)).await?;
    check.equal("a page of limit 0", &none, &DeadLetterPage::default())
}

pub(super) async fn get<B: DeadLetterQueue>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("get");
    let (letters, ids) = store_letters(check, backend, 3).await?;
    let dead_letter = |id: DeadLetterId| async move {
        check.call(
            &format!("dead_letter({id})"),
            backend.dead_letter(&id).await,
        )
    };
    for (id, want) in ids.iter().zip(&letters) {
        let Some(entry) = dead_letter(id.clone()).await? else {
            return Err(check.fail(format!("dead_letter({id}) found nothing")));
        };
        check.equal("the id of the entry got", &entry.id, id)?;
        same_letter(check, "the entry got by id", &entry, want)?;
    }
    let foreign = dead_letter(DeadLetterId::new("not-an-id")).await?;
    check.equal("dead_letter of an id of a foreign form", &foreign, &None)?;

    let report = check.call(
        "purge_dead_letters",
        backend
            .purge_dead_letters(&DeadLetterSelection::one(ids[1].clone()))
            .await,
    )?;
    check.equal("letters purged", &report.purged, &1)?;
    check.equal(
        "dead_letter of a purged id",
        &dead_letter(ids[1].clone()).await?,
        &None,
    )?;
    for i in [0, 2] {
        let entry = dead_letter(ids[i].clone()).await?;
        check.ensure(
            entry
                .as_ref()
                .is_some_and(|e| e.letter.as_ref() == Ok(&letters[i])),
            || {
                format!(
                    "entry {} changed when another was purged: {entry:?}",
                    ids[i]
                )
            },
        )?;
    }
    check.call("store", backend.store(letter(check, 3)?).await)?;
    let now = held(check, backend).await?;
    check.equal("entries held", &now.len(), &3)?;
    let new_id = &now[2];
    check.ensure(!ids.contains(new_id), || {
        format!("a new letter got the id {new_id}, which the queue issued before")
    })
}

pub(super) async fn paging<B: DeadLetterQueue>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("paging");
    let (letters, ids) = store_letters(check, backend, 25).await?;
    let oldest = walk(check, backend, DeadLetterQuery::new(7)).await?;
    check.equal(
        "ids met walking oldest first, 7 a page",
        &ids_of(&oldest),
        &ids,
    )?;
    let newest = walk(check, backend, newest_first(DeadLetterQuery::new(7))).await?;
    check.equal(
        "ids met walking newest first, 7 a page",
        &ids_of(&newest),
        &reversed(&ids),
    )?;

    let after = |q: DeadLetterQuery| q.after(Some(ids[3].clone()));
    let forward = page(check, backend, &after(DeadLetterQuery::new(3))).await?;
    check.equal(
        "3 entries after the 4th, oldest first",
        &ids_of(&forward.entries),
        &ids[4..7].to_vec(),
    )?;
    let back = page(
        check,
        backend,
        &after(newest_first(DeadLetterQuery::new(10))),
    )
    .await?;
    check.equal(
        "entries before the 4th, newest first",
        &ids_of(&back.entries),
        &reversed(&ids[..3]),
    )?;
    check.equal("`next` at the oldest end", &back.next, &None)?;

    let mailer = DeadLetterFilter::new().organ("Mailer");
    let expected: Vec<DeadLetterId> = ids
        .iter()
        .zip(&letters)
        .filter(|(_, l)| mailer.matches(l))
        .map(|(id, _)| id.clone())
        .collect();
    let filtered = walk(
        check,
        backend,
        DeadLetterQuery::new(2).filter(mailer.clone()),
    )
    .await?;
    check.equal(
        "ids met walking organ Mailer, 2 a page",
        &ids_of(&filtered),
        &expected,
    )?;
    let filtered = walk(
        check,
        backend,
        newest_first(DeadLetterQuery::new(2).filter(mailer)),
    )
    .await?;
    check.equal(
        "ids met walking organ Mailer newest first, 2 a page",
        &ids_of(&filtered),
        &reversed(&expected),
    )?;

    let foreign = DeadLetterQuery::new(5).after(Some(DeadLetterId::new("not-an-id")));
    match backend.dead_letter_page(&foreign).await {
        Err(BackendError::Other(e)) if e.downcast_ref::<InvalidDeadLetterId>().is_some() => Ok(()),
        other => Err(check.fail(format!(
            "a cursor of a foreign form should fail with InvalidDeadLetterId, got {other:?}"
        ))),
    }
}

pub(super) async fn filters<B: DeadLetterQueue>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("filters");
    let (letters, ids) = store_letters(check, backend, 12).await?;
    let cases = [
        (DeadLetterFilter::new().organ("Mailer"), 4),
        (DeadLetterFilter::new().organ("Billing"), 4),
        (
            DeadLetterFilter::new().kind(DeadLetterKind::HandlerFailed),
            6,
        ),
        (
            DeadLetterFilter::new().kind(DeadLetterKind::EnqueueFailed),
            3,
        ),
        (DeadLetterFilter::new().event_type("PAYMENT_TAKEN"), 6),
        (
            DeadLetterFilter::new()
                .organ("Mailer")
                .kind(DeadLetterKind::MaxDeliveries),
            1,
        ),
        (
            DeadLetterFilter::new()
                .organ("Billing")
                .event_type("PAYMENT_TAKEN"),
            2,
        ),
        (DeadLetterFilter::new().event_type("NOBODY_SENDS_THIS"), 0),
        (DeadLetterFilter::new().kind(DeadLetterKind::Malformed), 0),
    ];
    for (filter, n) in cases {
        let expected: Vec<DeadLetterId> = ids
            .iter()
            .zip(&letters)
            .filter(|(_, l)| filter.matches(l))
            .map(|(id, _)| id.clone())
            .collect();
        check.equal(
            &format!("letters stored matching {filter:?}"),
            &expected.len(),
            &n,
        )?;
        let oldest = page(
            check,
            backend,
            &DeadLetterQuery::new(100).filter(filter.clone()),
        )
        .await?;
        check.equal(
            &format!("ids matching {filter:?}"),
            &ids_of(&oldest.entries),
            &expected,
        )?;
        check.equal(
            "`next` of a page that holds every match",
            &oldest.next,
            &None,
        )?;
        let query = newest_first(DeadLetterQuery::new(100).filter(filter.clone()));
        let newest = page(check, backend, &query).await?;
        check.equal(
            &format!("ids matching {filter:?}, newest first"),
            &ids_of(&newest.entries),
            &reversed(&expected),
        )?;
    }
    Ok(())
}
