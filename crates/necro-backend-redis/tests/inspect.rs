//! Operator tools' connection: `create_group(false)` connects without creating the group or
//! the stream, and `inspect` reads lengths, groups, consumers, lag and the oldest pending
//! entry without writing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::time::Duration;

use fred::types::Value;
use necro_core::{Backend, DeadLetterStore};
use support::{Ctx, cmd, event, pull_n};

#[tokio::test]
async fn create_group_off_writes_nothing_and_inspect_reads_the_stream() {
    let Some(ctx) = Ctx::shared("inspect") else {
        return;
    };
    let admin = ctx.admin().await;
    let tool = ctx.builder().create_group(false).connect().await.unwrap();
    assert!(!tool.config().create_group());
    let exists = cmd(&admin, "EXISTS", &[&ctx.stream, &ctx.dlq()]).await;
    assert_eq!(exists, Value::Integer(0), "connecting created nothing");
    let info = tool.inspect().await.unwrap();
    assert!(!info.exists && !info.dlq_exists);
    assert_eq!((info.length, info.dlq_length), (0, 0));
    assert!(info.groups.is_empty());
    let _ = necro_core::Health::health(&tool).await;
    let exists = cmd(&admin, "EXISTS", &[&ctx.stream]).await;
    assert_eq!(exists, Value::Integer(0), "health created nothing either");

    // A worker: creates the group, reads two of three events (pending), one dead letter.
    let worker = ctx.backend().await;
    worker
        .enqueue((0..3).map(|i| event(i).into()).collect())
        .await
        .unwrap();
    let got = pull_n(&worker, 2, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 2);
    let letter = necro_core::DeadLetter::new(
        event(9),
        necro_core::Metadata::default(),
        necro_core::DeadLetterKind::HandlerFailed,
        vec![necro_core::Failure::new(Some("Mailer".into()), "boom")],
        1,
    );
    worker.store(letter).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let info = tool.inspect().await.unwrap();
    assert!(info.exists && info.dlq_exists);
    assert_eq!((info.length, info.dlq_length), (3, 1));
    let group = info.group("necrostack").expect("the worker's group");
    assert_eq!(group.pending, 2);
    assert_eq!(group.lag, Some(1));
    assert!(group.oldest_pending.is_some());
    assert!(
        group
            .oldest_pending_age
            .is_some_and(|a| a >= Duration::from_millis(20))
    );
    assert_eq!(group.consumers.len(), 1, "the tool added no consumer");
    assert_eq!(group.consumers[0].name, worker.consumer_name());
    assert_eq!(group.consumers[0].pending, 2);
    tool.close().await.unwrap();
    worker.delete_streams().await.unwrap();
}
