//! The group's consumers over a backend's life: `close` leaves the group only when it holds
//! nothing pending, `prune_consumers` removes consumers that processes left behind.

mod support;

use std::time::Duration;

use fred::clients::Client;
use fred::types::Value;
use necro_core::Backend;
use support::{Ctx, cmd, event, pull_n};

const GROUP: &str = "necrostack";

/// `XINFO CONSUMERS`: each consumer's name and pending count, sorted by name.
async fn consumers(admin: &Client, stream: &str) -> Vec<(String, u64)> {
    let Value::Array(items) = cmd(admin, "XINFO", &["CONSUMERS", stream, GROUP]).await else {
        panic!("XINFO CONSUMERS is not an array");
    };
    let mut out: Vec<(String, u64)> = items
        .into_iter()
        .map(|item| {
            let Value::Array(flat) = item else {
                panic!("consumer is not a flat array: {item:?}");
            };
            let field = |name: &str| {
                flat.chunks(2)
                    .find(|kv| kv[0].as_str().as_deref() == Some(name))
                    .map(|kv| kv[1].clone())
                    .unwrap_or_else(|| panic!("no {name} in {flat:?}"))
            };
            (
                field("name")
                    .as_string()
                    .unwrap_or_else(|| panic!("name is not text")),
                field("pending")
                    .as_u64()
                    .unwrap_or_else(|| panic!("pending is not a number")),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_a_consumer_that_holds_pending_entries() {
    let Some(ctx) = Ctx::shared("close_pending") else {
        return;
    };
    let backend = ctx
        .builder()
        .consumer_name("holder")
        .connect()
        .await
        .unwrap();
    backend.send(event(1)).await.unwrap();
    let got = pull_n(&backend, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    backend.close().await.unwrap();

    let admin = ctx.admin().await;
    assert_eq!(
        consumers(&admin, &ctx.stream).await,
        vec![("holder".to_owned(), 1)],
        "a consumer holding an entry stays, so another worker can claim the entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_delete_streams_succeeds() {
    let Some(ctx) = Ctx::shared("close_deleted") else {
        return;
    };
    let backend = ctx.backend().await;
    backend.send(event(1)).await.unwrap();
    backend.delete_streams().await.unwrap();
    backend
        .close()
        .await
        .expect("no group left means no consumer to remove, not an error");
    assert!(backend.send(event(2)).await.is_err(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_consumers_removes_only_idle_consumers_with_nothing_pending() {
    let Some(ctx) = Ctx::shared("prune") else {
        return;
    };
    let live = ctx.builder().consumer_name("live").connect().await.unwrap();
    // The live consumer has handled an entry and holds nothing.
    live.send(event(1)).await.unwrap();
    let got = pull_n(&live, 1, Duration::from_secs(5)).await;
    live.ack(got.into_iter().map(|d| d.token).collect())
        .await
        .unwrap();
    live.send(event(2)).await.unwrap();
    let admin = ctx.admin().await;
    // Two consumers a crashed process left behind: one holds the entry, one holds nothing.
    cmd(
        &admin,
        "XREADGROUP",
        &[
            "GROUP",
            GROUP,
            "stale-pending",
            "COUNT",
            "1",
            "STREAMS",
            &ctx.stream,
            ">",
        ],
    )
    .await;
    cmd(
        &admin,
        "XGROUP",
        &["CREATECONSUMER", &ctx.stream, GROUP, "stale-empty"],
    )
    .await;
    let all = vec![
        ("live".to_owned(), 0),
        ("stale-empty".to_owned(), 0),
        ("stale-pending".to_owned(), 1),
    ];
    assert_eq!(consumers(&admin, &ctx.stream).await, all);

    // Nobody has been idle for an hour: nothing goes.
    let report = live
        .prune_consumers(Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(report.kept_pending.is_empty(), "{report:?}");
    assert_eq!(consumers(&admin, &ctx.stream).await, all);

    tokio::time::sleep(Duration::from_millis(150)).await;
    let report = live
        .prune_consumers(Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(report.removed, vec!["stale-empty".to_owned()]);
    assert_eq!(report.kept_pending, vec!["stale-pending".to_owned()]);
    assert_eq!(
        consumers(&admin, &ctx.stream).await,
        vec![("live".to_owned(), 0), ("stale-pending".to_owned(), 1)],
        "the one holding an entry stays, and so does this backend's own consumer"
    );

    // The entry the stale consumer held is still pending, so it can be claimed.
    assert_eq!(support::pending_count(&admin, &ctx.stream, GROUP).await, 1);
    live.close().await.unwrap();
    assert!(matches!(
        live.prune_consumers(Duration::ZERO).await,
        Err(necro_core::BackendError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_consumers_on_a_deleted_stream_removes_nothing() {
    let Some(ctx) = Ctx::shared("prune_deleted") else {
        return;
    };
    let backend = ctx.backend().await;
    backend.delete_streams().await.unwrap();
    let report = backend.prune_consumers(Duration::ZERO).await.unwrap();
    assert!(report.removed.is_empty() && report.kept_pending.is_empty());
    backend.close().await.unwrap();
}

/// Generic code closes through the `Backend` trait: that must leave the group like the
/// inherent `close` (the trait's default does nothing).
#[allow(clippy::unwrap_used)] // Test helper: a panic fails the test.
async fn close_generically<B: Backend>(backend: &B) {
    Backend::close(backend).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_through_the_backend_trait_leaves_the_group() {
    let Some(ctx) = Ctx::shared("close_trait") else {
        return;
    };
    let backend = ctx
        .builder()
        .consumer_name("generic")
        .connect()
        .await
        .unwrap();
    backend.send(event(1)).await.unwrap();
    let got = pull_n(&backend, 1, Duration::from_secs(5)).await;
    backend
        .ack(got.into_iter().map(|d| d.token).collect())
        .await
        .unwrap();
    let admin = ctx.admin().await;
    assert_eq!(
        consumers(&admin, &ctx.stream).await,
        vec![("generic".to_owned(), 0)]
    );
    close_generically(&backend).await;
    assert_eq!(consumers(&admin, &ctx.stream).await, Vec::new());
    assert!(backend.send(event(2)).await.is_err(), "closed");
}
