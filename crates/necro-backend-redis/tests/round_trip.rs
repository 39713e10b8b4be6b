//! Round trip, batching, ordering, group auto-creation, atomic commit, nack, health, stats.

mod support;

use std::time::Duration;

use fred::interfaces::StreamsInterface;
use fred::types::Value;
use necro_core::{Backend, Envelope, Event, Health, Metadata, NackOutcome};
use serde_json::json;
use support::{Ctx, cmd, drain, event, ids, pending_count, pull_n};

const GROUP: &str = "necrostack";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_goes_round_trip_with_its_metadata() {
    let Some(ctx) = Ctx::shared("round_trip") else {
        return;
    };
    let backend = ctx.backend().await;
    let root = Event::new(
        "ORDER_PLACED",
        json!({"order_id": 123, "items": ["a", "b"]}),
    )
    .unwrap();
    let child = Event::new("ORDER_PAID", json!({"order_id": 123})).unwrap();
    let meta = Metadata::child_of(&root, &Metadata::default());
    backend.send(root.clone()).await.unwrap();
    backend
        .enqueue(vec![Envelope::with_meta(child.clone(), meta.clone())])
        .await
        .unwrap();

    let got = pull_n(&backend, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].event, root);
    assert_eq!(got[0].meta, Metadata::default());
    assert_eq!(got[0].attempt, 1);
    assert_eq!(got[1].event, child);
    assert_eq!(got[1].meta, meta);
    assert_eq!(got[1].attempt, 1);
    assert_eq!(
        got[0].event.to_json(),
        root.to_json(),
        "exact wire JSON survives"
    );

    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, GROUP).await, 2);
    backend
        .ack(got.iter().map(|d| d.token.clone()).collect())
        .await
        .unwrap();
    assert_eq!(pending_count(&admin, &ctx.stream, GROUP).await, 0);

    let stats = backend.stats();
    assert_eq!((stats.enqueued, stats.pulled, stats.acked), (2, 2, 2));
    assert!(backend.pull(10, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_respect_max_and_batch_size_and_keep_order() {
    let Some(ctx) = Ctx::shared("batching") else {
        return;
    };
    let backend = ctx.builder().batch_size(50).connect().await.unwrap();
    let events: Vec<Event> = (0..260).map(event).collect();
    // One call, one MULTI/EXEC.
    backend
        .enqueue(events.iter().cloned().map(Envelope::new).collect())
        .await
        .unwrap();
    let admin = ctx.admin().await;
    let len: u64 = admin.xlen(ctx.stream.as_str()).await.unwrap();
    assert_eq!(len, 260);

    let first = backend.pull(7, Duration::from_millis(100)).await.unwrap();
    assert_eq!(first.len(), 7, "max is honoured");
    let second = backend
        .pull(1_000, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(second.len(), 50, "batch_size caps max");

    let mut all = first;
    all.extend(second);
    backend
        .ack(all.iter().map(|d| d.token.clone()).collect())
        .await
        .unwrap();
    all.extend(drain(&backend, 260 - all.len(), Duration::from_secs(10)).await);
    let order: Vec<u64> = all
        .iter()
        .map(|d| d.event.payload()["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        (0..260).collect::<Vec<_>>(),
        "one consumer sees stream order"
    );
    let tokens: Vec<&str> = all.iter().map(|d| d.token.as_str()).collect();
    let mut sorted = tokens.clone();
    sorted.sort_by_key(|t| {
        let (ms, seq) = t.split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    });
    assert_eq!(tokens, sorted, "entry ids ascend");
    assert_eq!(pending_count(&admin, &ctx.stream, GROUP).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_is_created_on_first_use_and_sees_earlier_entries() {
    let Some(ctx) = Ctx::shared("group_creation") else {
        return;
    };
    let admin = ctx.admin().await;
    // A producer wrote before any consumer existed: the group must start at 0, not `$`.
    let early = event(1);
    support::raw_xadd(&admin, &ctx.stream, &[("event", &early.to_json())]).await;
    let groups: Value = cmd(&admin, "XINFO", &["GROUPS", &ctx.stream]).await;
    assert_eq!(groups, Value::Array(vec![]), "no group yet");

    let backend = ctx
        .builder()
        .consumer_group("fresh-group")
        .connect()
        .await
        .unwrap();
    let groups = cmd(&admin, "XINFO", &["GROUPS", &ctx.stream]).await;
    let Value::Array(groups) = groups else {
        panic!("{groups:?}")
    };
    assert_eq!(groups.len(), 1);
    assert!(format!("{groups:?}").contains("fresh-group"));

    let got = drain(&backend, 1, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), [early.id()].into());

    // Connecting again (another worker) is fine: BUSYGROUP is not an error.
    let again = ctx
        .builder()
        .consumer_group("fresh-group")
        .connect()
        .await
        .unwrap();
    assert!(again.pull(10, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_gets_its_group_back() {
    let Some(ctx) = Ctx::shared("group_recreate") else {
        return;
    };
    let backend = ctx.backend().await;
    support::raw_command(&ctx.url, &["DEL", &ctx.stream]).unwrap();
    // XREADGROUP answers NOGROUP; the backend recreates the group and carries on.
    assert!(
        backend
            .pull(10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );
    backend.send(event(7)).await.unwrap();
    assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_adds_the_outputs_and_acks_the_input_together() {
    let Some(ctx) = Ctx::shared("commit") else {
        return;
    };
    let backend = ctx.backend().await;
    assert!(backend.atomic_commit());
    backend.send(event(0)).await.unwrap();
    let input = pull_n(&backend, 1, Duration::from_secs(5)).await.remove(0);
    let outputs: Vec<Envelope> = (1..=3)
        .map(|i| Envelope::with_meta(event(i), Metadata::child_of(&input.event, &input.meta)))
        .collect();
    backend
        .commit(outputs.clone(), vec![input.token.clone()])
        .await
        .unwrap();

    let admin = ctx.admin().await;
    assert_eq!(
        pending_count(&admin, &ctx.stream, GROUP).await,
        0,
        "input acked"
    );
    let got = drain(&backend, 3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    for (d, o) in got.iter().zip(&outputs) {
        assert_eq!(d.event, o.event);
        assert_eq!(d.meta.causation_id, Some(input.event.id()));
        assert_eq!(d.meta.correlation_id, Some(input.event.id()));
    }
    // Either half alone is fine too.
    backend.commit(vec![], vec![]).await.unwrap();
    backend
        .commit(vec![Envelope::new(event(9))], vec![])
        .await
        .unwrap();
    assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_redelivers_with_a_raised_attempt_then_dead_letters() {
    let Some(ctx) = Ctx::shared("nack") else {
        return;
    };
    // Default claim_min_idle (30 s): a nack must still redeliver at once.
    let backend = ctx.builder().max_retries(3).connect().await.unwrap();
    let ev = event(42);
    backend.send(ev.clone()).await.unwrap();

    let mut token = None;
    for attempt in 1..=3u32 {
        let d = pull_n(&backend, 1, Duration::from_secs(5))
            .await
            .pop()
            .expect("redelivered");
        assert_eq!(d.event, ev);
        assert_eq!(d.attempt, attempt);
        if let Some(t) = &token {
            assert_eq!(&d.token, t, "same stream entry");
        }
        token = Some(d.token.clone());
        let outcome = backend.nack(d, format!("boom #{attempt}")).await.unwrap();
        if attempt < 3 {
            assert_eq!(
                outcome,
                NackOutcome::Requeued {
                    next_attempt: attempt + 1
                }
            );
        } else {
            assert_eq!(outcome, NackOutcome::DeadLettered);
        }
    }
    assert!(
        backend
            .pull(10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
    let admin = ctx.admin().await;
    assert_eq!(pending_count(&admin, &ctx.stream, GROUP).await, 0);
    let dead = backend.dlq().list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event.as_ref(), Some(&ev));
    assert_eq!(dead[0].reason, "boom #3");
    assert_eq!(dead[0].attempts, Some(3));
    assert_eq!(dead[0].original_id, token);
    let stats = backend.stats();
    assert_eq!(
        (stats.nacked, stats.dead_lettered, stats.recovered),
        (2, 1, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_backend_is_healthy_and_reports_its_figures() {
    let Some(ctx) = Ctx::shared("health") else {
        return;
    };
    let backend = ctx.backend().await;
    let report = backend.health().await;
    assert!(report.healthy, "{report:?}");
    assert!(report.latency.is_some());
    assert_eq!(report.details["stream_length"], json!(0));
    assert_eq!(report.details["pending"], json!(0));
    assert_eq!(report.details["lag"], json!(0));
    assert_eq!(report.details["dlq_length"], json!(0));

    backend
        .enqueue((0..5).map(|i| Envelope::new(event(i))).collect())
        .await
        .unwrap();
    let got = pull_n(&backend, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    let report = backend.health().await;
    assert!(report.healthy);
    assert_eq!(report.details["stream_length"], json!(5));
    assert_eq!(report.details["pending"], json!(2));
    assert_eq!(report.details["lag"], json!(3));
    assert_eq!(report.details["consumers"], json!(1));

    // Even a stream and group that vanished are recreated by the check.
    support::raw_command(&ctx.url, &["DEL", &ctx.stream]).unwrap();
    let report = backend.health().await;
    assert!(report.healthy, "{report:?}");
    assert_eq!(report.details["stream_length"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_connect_error_and_close_is_clean() {
    let Some(ctx) = Ctx::shared("close") else {
        return;
    };
    // Nothing listens on port 1.
    let err = necro_backend_redis::RedisBackend::builder("redis://:topsecret@127.0.0.1:1")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("topsecret"), "{err}");
    assert!(!format!("{err:?}").contains("topsecret"), "{err:?}");

    let backend = ctx
        .builder()
        .consumer_name("short-lived")
        .connect()
        .await
        .unwrap();
    backend.send(event(1)).await.unwrap();
    drain(&backend, 1, Duration::from_secs(5)).await;
    backend.close().await.unwrap();
    let admin = ctx.admin().await;
    let consumers = cmd(&admin, "XINFO", &["CONSUMERS", &ctx.stream, GROUP]).await;
    assert_eq!(
        consumers,
        Value::Array(vec![]),
        "a consumer with nothing pending leaves the group"
    );
    assert!(backend.send(event(2)).await.is_err(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_streams_removes_the_stream_and_its_dlq() {
    let Some(ctx) = Ctx::shared("delete_streams") else {
        return;
    };
    let backend = ctx.backend().await;
    backend.send(event(1)).await.unwrap();
    support::raw_command(&ctx.url, &["XADD", &ctx.dlq(), "*", "reason", "x"]).unwrap();
    assert_eq!(
        support::raw_command(&ctx.url, &["EXISTS", &ctx.stream])
            .unwrap()
            .trim(),
        ":1"
    );
    backend.delete_streams().await.unwrap();
    let exists = support::raw_command(&ctx.url, &["EXISTS", &ctx.stream, &ctx.dlq()]).unwrap();
    assert_eq!(exists.trim(), ":0", "{exists}");
}

// Issue 10, item 12: fred carries an I/O error as its Debug text (`Os { code: 111, kind:
// ConnectionRefused, .. }`); the backend's errors render it as prose, cause chain included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_reported_in_prose() {
    // A port where nothing listens: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let err = necro_backend_redis::RedisBackend::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap_err();
    let chain = necro_core::error_chain(&err);
    for debug_text in ["Os {", "kind:", "code:", "IO Error"] {
        assert!(!chain.contains(debug_text), "{chain}");
    }
    assert!(
        chain.contains(&format!("127.0.0.1:{port}")) && chain.contains("onnection refused"),
        "{chain}"
    );
    // The I/O error is the root of the cause chain, as a real `std::io::Error`.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut io_kind = None;
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        cur = e.source();
    }
    assert_eq!(
        io_kind,
        Some(std::io::ErrorKind::ConnectionRefused),
        "{chain}"
    );
}
