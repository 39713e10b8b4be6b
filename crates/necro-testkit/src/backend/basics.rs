//! The cases every backend passes whatever it claims: a round trip, batch pulls, acks that
//! remove, metadata (correlation, causation, headers) through enqueue and commit, and order
//! for a backend that claims it.

use necro_core::{Backend, Envelope, Metadata};

use crate::backend::fixtures::{
    DEADLINE, ack, attempts_are, enqueue_all, envelopes, event, number, numbers, pull_ack,
    pull_keep,
};
use crate::error::{Check, ConformanceError};
use crate::queue::nothing_more;

/// `round_trip`: an event sent alone and a batch of three come back once each, unchanged,
/// at attempt 1, with empty metadata; once acked nothing more is queued.
pub(super) async fn round_trip<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("round_trip");
    let alone = event(check, 0)?;
    check.call("send", backend.send(alone.clone()).await)?;
    let batch = envelopes(check, 1..4)?;
    let mut sent = vec![alone];
    sent.extend(batch.iter().map(|e| e.event.clone()));
    check.call("enqueue", backend.enqueue(batch).await)?;
    let mut got = pull_ack(check, backend, 4).await?;
    got.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    for (d, want) in got.iter().zip(&sent) {
        check.ensure(d.event == *want, || {
            format!(
                "pulled {}, expected the event as sent: {}",
                d.event.to_json(),
                want.to_json()
            )
        })?;
        check.equal(
            "metadata of an event sent without any",
            &d.meta,
            &Metadata::default(),
        )?;
    }
    attempts_are(check, &got, 1)?;
    nothing_more(check, backend).await
}

/// `batch_pull`: with 10 events queued, pulls of at most 4 never answer more than 4, the
/// first answers something, and together they hand out the 10 once each; a pull of 0 answers
/// nothing and takes nothing.
pub(super) async fn batch_pull<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("batch_pull");
    enqueue_all(check, backend, envelopes(check, 0..10)?).await?;
    let none = check.call("pull of 0", backend.pull(0, DEADLINE).await)?;
    check.equal("deliveries of a pull of 0", &none.len(), &0)?;
    let first = check.call("pull", backend.pull(4, DEADLINE).await)?;
    check.ensure(!first.is_empty() && first.len() <= 4, || {
        format!(
            "a pull of at most 4 with 10 queued answered {} deliveries",
            first.len()
        )
    })?;
    ack(check, backend, &first).await?;
    let mut seen = numbers(check, &first)?;
    while seen.len() < 10 {
        let batch = pull_keep(check, backend, (10 - seen.len()).min(4), DEADLINE).await?;
        ack(check, backend, &batch).await?;
        seen.extend(numbers(check, &batch)?);
    }
    seen.sort_unstable();
    check.equal("numbers pulled", &seen, &(0..10).collect::<Vec<u64>>())?;
    nothing_more(check, backend).await
}

/// `ack_removes`: of five deliveries, the two acked never come back; the three released do,
/// once each.
pub(super) async fn ack_removes<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("ack_removes");
    enqueue_all(check, backend, envelopes(check, 0..5)?).await?;
    let mut got = pull_keep(check, backend, 5, DEADLINE).await?;
    got.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    let rest = got.split_off(2);
    ack(check, backend, &got).await?;
    check.call("release", backend.release(rest).await)?;
    let again = pull_ack(check, backend, 3).await?;
    let mut back = numbers(check, &again)?;
    back.sort_unstable();
    check.equal("numbers back after acking 0 and 1", &back, &vec![2, 3, 4])?;
    nothing_more(check, backend).await
}

/// The metadata the `metadata` case sends: a chain (correlation, causation) and headers,
/// trace context and application ones, a value with non-ASCII text included.
fn rich_meta(check: Check, parent: &necro_core::Event) -> Result<Metadata, ConformanceError> {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    Metadata::child_of(parent, &Metadata::default())
        .with_header("traceparent", traceparent)
        .and_then(|m| m.with_header("tenant", "acme"))
        .and_then(|m| m.with_header("note.x-1", "grüße, 東京 \"quoted\""))
        .map_err(|e| check.fail(format!("building headers: {e}")))
}

/// `metadata`: correlation id, causation id and every header survive enqueue → pull, and
/// commit → pull; an event without any comes back without any.
pub(super) async fn metadata<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("metadata");
    let root = event(check, 0)?;
    let meta = rich_meta(check, &root)?;
    let plain = event(check, 1)?;
    let sent = vec![
        Envelope::with_meta(event(check, 2)?, meta.clone()),
        Envelope::new(plain),
    ];
    check.call("enqueue", backend.enqueue(sent).await)?;
    let mut got = pull_keep(check, backend, 2, DEADLINE).await?;
    got.sort_by_key(|d| number(check, d).unwrap_or(u64::MAX));
    check.equal(
        "metadata of an event without any",
        &got[0].meta,
        &Metadata::default(),
    )?;
    check.equal("metadata after enqueue and pull", &got[1].meta, &meta)?;

    // What handling the rich one emits, committed with its ack.
    let source = got.pop().ok_or_else(|| check.fail("no delivery"))?;
    let emitted_meta = Metadata::child_of(&source.event, &source.meta)
        .with_header("tenant", "acme")
        .map_err(|e| check.fail(format!("building headers: {e}")))?;
    let emitted = Envelope::with_meta(event(check, 3)?, emitted_meta.clone());
    let acks = vec![source.token.clone(), got[0].token.clone()];
    check.call("commit", backend.commit(vec![emitted], acks).await)?;
    let after = pull_ack(check, backend, 1).await?;
    check.equal(
        "number of the committed event",
        &number(check, &after[0])?,
        &3,
    )?;
    check.equal(
        "metadata after commit and pull",
        &after[0].meta,
        &emitted_meta,
    )?;
    check.equal(
        "correlation id kept down the chain",
        &after[0].meta.correlation_id,
        &Some(root.id()),
    )?;
    nothing_more(check, backend).await
}

/// `order`: 200 events enqueued in batches and one by one come to one consumer in that
/// order.
pub(super) async fn order<B: Backend>(backend: &B) -> Result<(), ConformanceError> {
    let check = Check::new("order");
    enqueue_all(check, backend, envelopes(check, 0..150)?).await?;
    for n in 150..200 {
        check.call("send", backend.send(event(check, n)?).await)?;
    }
    let mut seen = Vec::with_capacity(200);
    while seen.len() < 200 {
        let batch = pull_ack(check, backend, (200 - seen.len()).min(50)).await?;
        seen.extend(numbers(check, &batch)?);
    }
    let want: Vec<u64> = (0..200).collect();
    if seen != want {
        let at = seen.iter().zip(&want).position(|(a, b)| a != b);
        return Err(check.fail(format!(
            "events came out of order: first difference at position {at:?}, got {:?}",
            &seen[at.unwrap_or(0)..(at.unwrap_or(0) + 5).min(seen.len())]
        )));
    }
    nothing_more(check, backend).await
}
