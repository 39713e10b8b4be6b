//! A nacked or released entry comes back on the next pull even when the reclaim scan's cursor
//! has already passed it (the model check found this): the scan finishes its pass, then starts
//! again at once instead of waiting `claim_interval` (5 s with the default `claim_min_idle`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::{Duration, Instant};

use necro_core::{Backend, Envelope, NackOutcome};
use support::{Ctx, event};

const SOON: Duration = Duration::from_secs(1);

#[tokio::test]
async fn an_entry_nacked_behind_the_cursor_comes_back_on_the_next_pull() {
    let Some(ctx) = Ctx::shared("nack_behind_the_scan") else {
        return;
    };
    let backend = ctx.backend().await;
    backend
        .enqueue(vec![Envelope::new(event(1)), Envelope::new(event(2))])
        .await
        .unwrap();
    let mut first = backend.pull(2, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 2);
    let held = first.pop().unwrap();
    // e1 is idle; the scan claims it with a count of 1 and leaves its cursor on e2.
    backend.release(first).await.unwrap();
    let again = backend.pull(1, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1);
    let e1 = again.into_iter().next().unwrap();
    assert_eq!(e1.attempt, 1);
    let id = e1.event.id();
    assert_eq!(
        backend.nack(e1, "again".into()).await.unwrap(),
        NackOutcome::Requeued { next_attempt: 2 }
    );
    // The scan from e2 finds nothing idle and ends its pass; e1, behind it, is found by a
    // new pass in the same pull.
    let started = Instant::now();
    let back = backend.pull(1, Duration::from_millis(50)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(back.len(), 1, "e1 did not come back on the next pull");
    assert_eq!(back[0].event.id(), id);
    assert_eq!(back[0].attempt, 2);
    assert!(took < SOON, "took {took:?}");
    backend
        .ack(vec![back[0].token.clone(), held.token])
        .await
        .unwrap();
    backend.close().await.unwrap();
}

#[tokio::test]
async fn an_entry_nacked_behind_the_cursor_comes_after_the_rest_of_the_pass() {
    let Some(ctx) = Ctx::shared("nack_behind_the_scan") else {
        return;
    };
    let backend = ctx.backend().await;
    let events = vec![
        Envelope::new(event(1)),
        Envelope::new(event(2)),
        Envelope::new(event(3)),
    ];
    backend.enqueue(events).await.unwrap();
    let all = backend.pull(3, Duration::ZERO).await.unwrap();
    backend.release(all).await.unwrap();
    let e1 = backend.pull(1, Duration::ZERO).await.unwrap().remove(0);
    let id = e1.event.id();
    backend.nack(e1, "again".into()).await.unwrap();
    // The rest of the pass (e2, e3), then e1 at once: not after `claim_interval`.
    let deadline = Instant::now() + SOON;
    let mut got = Vec::new();
    while got.len() < 3 && Instant::now() < deadline {
        got.extend(backend.pull(3, Duration::from_millis(20)).await.unwrap());
    }
    assert_eq!(got.len(), 3, "e1 did not come back within {SOON:?}");
    assert!(got.iter().any(|d| d.event.id() == id && d.attempt == 2));
    backend
        .ack(got.iter().map(|d| d.token.clone()).collect())
        .await
        .unwrap();
    backend.close().await.unwrap();
}
