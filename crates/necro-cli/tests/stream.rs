//! `necro stats` and `necro consumers prune` against a real Redis, and what connecting does
//! not do: create a stream, a group or a consumer. Unreachable Redis and unknown streams are
//! one error line and exit code 1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use support::{Ctx, Reply, fails, json, necro, ok, shared_url};

fn consumers(ctx: &mut Ctx, group: &str) -> Vec<String> {
    let stream = ctx.stream.clone();
    ctx.redis
        .cmd(&["XINFO", "CONSUMERS", &stream, group])
        .items()
        .into_iter()
        .map(|c| {
            let f = c.items();
            let at = f
                .iter()
                .position(|x| *x == Reply::Bulk(Some("name".into())))
                .unwrap();
            f[at + 1].text()
        })
        .collect()
}

/// A stream with group `g`: consumer `busy` holds one pending entry, `idle` holds none.
fn stream_with_consumers(ctx: &mut Ctx) {
    let s = ctx.stream.clone();
    assert_eq!(
        ctx.redis
            .cmd(&["XGROUP", "CREATE", &s, "g", "0", "MKSTREAM"]),
        Reply::Status("OK".into())
    );
    for t in ["A", "B", "C"] {
        let event = support::event_json(t);
        ctx.redis.cmd(&["XADD", &s, "*", "event", &event]);
    }
    ctx.redis.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "busy",
        "COUNT",
        "1",
        "STREAMS",
        &s,
        ">",
    ]);
    ctx.redis
        .cmd(&["XGROUP", "CREATECONSUMER", &s, "g", "idle"]);
}

#[test]
fn stats_show_groups_consumers_lag_and_dead_letters() {
    let Some(mut ctx) = Ctx::shared("stats") else {
        return;
    };
    stream_with_consumers(&mut ctx);
    ctx.python_dead_letter("A", "Max retries exceeded");
    let v = json(&ctx.necro(&["--json", "--group", "g", "stats"]));
    assert_eq!(v["length"], 3);
    assert_eq!(v["dlq_length"], 1);
    let g = &v["groups"][0];
    assert_eq!(g["name"], "g");
    assert_eq!(g["pending"], 1);
    assert_eq!(g["lag"], 2);
    assert!(g["oldest_pending_id"].is_string(), "{g}");
    assert!(g["oldest_pending_age_ms"].is_u64(), "{g}");
    let names: Vec<&str> = g["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["busy", "idle"]);
    assert_eq!(g["consumers"][0]["pending"], 1);
    // `busy` holds the first entry: trimming may not pass it.
    assert_eq!(v["trim_floor"]["group"], "g");
    assert_eq!(v["trim_floor"]["hold"], "pending");
    assert_eq!(v["trim_floor"]["id"], g["oldest_pending_id"]);
    assert_eq!(v["trim_floor"]["lag"], 2);

    let text = ok(&ctx.necro(&["stats"]));
    for part in [
        "length        3",
        "dead letters  1",
        "group g",
        "lag             2",
        "trim floor    ",
        "(held by group g: its oldest pending entry; lag 2)",
        "busy",
        "idle",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    // Neither look left a consumer (or a group) behind.
    assert_eq!(consumers(&mut ctx, "g"), ["busy", "idle"]);
    let s = ctx.stream.clone();
    assert_eq!(ctx.redis.cmd(&["XINFO", "GROUPS", &s]).items().len(), 1);
}

#[test]
fn prune_removes_idle_empty_consumers_and_refuses_busy_ones() {
    let Some(mut ctx) = Ctx::shared("prune") else {
        return;
    };
    stream_with_consumers(&mut ctx);
    let out = ok(&ctx.necro(&["--group", "g", "consumers", "prune", "--idle", "0s"]));
    assert!(out.contains("removed idle"), "{out}");
    assert!(out.contains("kept busy: it still holds 1 pending"), "{out}");
    assert_eq!(consumers(&mut ctx, "g"), ["busy"]);
    let v = json(&ctx.necro(&[
        "--json",
        "--group",
        "g",
        "consumers",
        "prune",
        "--idle",
        "0s",
    ]));
    assert_eq!(v["removed"], serde_json::json!([]));
    assert_eq!(v["kept_pending"][0]["name"], "busy");
    assert_eq!(v["kept_pending"][0]["pending"], 1);
    // A long bound removes nothing.
    let out = ok(&ctx.necro(&["--group", "g", "consumers", "prune", "--idle", "1day"]));
    assert!(out.contains("removed 0"), "{out}");

    let line = fails(&ctx.necro(&["--group", "nope", "consumers", "prune"]));
    assert!(
        line.contains("consumer group nope does not exist"),
        "{line}"
    );
}

#[test]
fn an_unknown_stream_is_an_error_and_is_not_created() {
    let Some(mut ctx) = Ctx::shared("unknown") else {
        return;
    };
    for args in [
        &["stats"][..],
        &["dlq", "list"],
        &["dlq", "replay", "--all", "--yes"],
        &["consumers", "prune"],
    ] {
        let line = fails(&ctx.necro(args));
        assert!(
            line.starts_with(&format!("error: stream {} does not exist", ctx.stream)),
            "{line}"
        );
    }
    let (s, d) = (ctx.stream.clone(), ctx.dlq());
    assert_eq!(ctx.redis.cmd(&["EXISTS", &s, &d]).int(), 0);
}

#[test]
fn unreachable_redis_is_one_error_line() {
    let out = necro("redis://127.0.0.1:1", &["stats"]);
    let line = fails(&out);
    assert!(
        line.contains("could not connect to redis://127.0.0.1:1"),
        "{line}"
    );
    let out = necro("redis://:hunter2@127.0.0.1:1/0", &["dlq", "list"]);
    let line = fails(&out);
    assert!(!line.contains("hunter2"), "{line}");
    let line = fails(&necro("http://127.0.0.1", &["stats"]));
    assert!(line.contains("unsupported Redis URL scheme"), "{line}");
    let _ = shared_url();
}

#[test]
fn usage_errors_are_one_line_and_help_has_examples() {
    let url = "redis://127.0.0.1:1";
    for args in [
        &["dlq"][..],
        &["nope"],
        &["dlq", "list", "--limit", "x"],
        &["dlq", "list", "--since", "soon"],
    ] {
        fails(&necro(url, args));
    }
    for args in [
        &["--help"][..],
        &["stats", "--help"],
        &["dlq", "--help"],
        &["dlq", "list", "--help"],
        &["dlq", "show", "--help"],
        &["dlq", "replay", "--help"],
        &["dlq", "purge", "--help"],
        &["consumers", "--help"],
        &["consumers", "prune", "--help"],
    ] {
        let help = ok(&necro(url, args));
        assert!(help.contains("Example"), "{args:?}: {help}");
    }
}
