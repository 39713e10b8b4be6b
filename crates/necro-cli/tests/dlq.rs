//! `necro dlq` against a real Redis: a dead letter written byte for byte the way the Python
//! original writes it is listed, shown and replayed; filters, the time window, both orders;
//! replay by id puts the entry on the main stream once; purge; `--dry-run` changes nothing;
//! unknown ids, empty selections and a missing `--yes` off a terminal are one error line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use support::{Ctx, fails, json, ok};

#[test]
fn a_python_dead_letter_is_listed_shown_and_replayed() {
    let Some(mut ctx) = Ctx::shared("python") else {
        return;
    };
    let id = ctx.python_dead_letter("ORDER_PLACED", "Max retries exceeded");
    let written = ctx.entries(&ctx.dlq())[0].1.clone();
    let event = written[3].clone();

    let list = ok(&ctx.necro(&["dlq", "list"]));
    let row = list.lines().nth(1).expect("a row");
    for cell in [
        id.as_str(),
        "2024-01-15 10:30:45",
        "ORDER_PLACED",
        "max_deliveries",
        "Max retries exceeded",
    ] {
        assert!(row.contains(cell), "{cell:?} not in {row:?}");
    }
    assert!(list.contains("1 dead letter(s)"), "{list}");

    let show = ok(&ctx.necro(&["dlq", "show", &id]));
    assert!(show.contains("original id     1705314645000-0"), "{show}");
    assert!(
        show.contains("failed at       2024-01-15T10:30:45.123456+00:00"),
        "{show}"
    );
    assert!(show.contains("hidden: pass --payload"), "{show}");
    assert!(
        !show.contains("order_id"),
        "payload shown without --payload: {show}"
    );
    let shown = ok(&ctx.necro(&["dlq", "show", &id, "--payload"]));
    assert!(shown.contains("\"order_id\": 123"), "{shown}");
    assert!(shown.contains("café"), "{shown}");
    let v = json(&ctx.necro(&["--json", "dlq", "show", &id, "--payload"]));
    assert_eq!(v["event"]["payload"]["note"], "café");
    assert_eq!(v["original_id"], "1705314645000-0");
    assert_eq!(v["reason"], "Max retries exceeded");

    let out = ok(&ctx.necro(&["dlq", "replay", &id, "--yes"]));
    assert!(out.contains("replayed 1 dead letter(s)"), "{out}");
    assert_eq!(ctx.xlen(&ctx.dlq()), 0);
    let main = ctx.entries(&ctx.stream.clone());
    assert_eq!(main.len(), 1, "on the main stream once");
    let fields = &main[0].1;
    assert_eq!(fields[0], "event");
    // The four-field JSON, compact now, same event (escapes and all).
    let replayed: serde_json::Value = serde_json::from_str(&fields[1]).unwrap();
    let original: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(replayed, original);
    assert!(fields[1].contains(r"caf\u00e9"), "{}", fields[1]);

    // Replaying it again: it is gone, so the id is unknown.
    let line = fails(&ctx.necro(&["dlq", "replay", &id, "--yes"]));
    assert!(line.contains(&format!("no dead letter {id}")), "{line}");
    assert_eq!(ctx.xlen(&ctx.stream.clone()), 1);
}

#[test]
fn list_filters_orders_limits_and_time_windows() {
    let Some(mut ctx) = Ctx::shared("filters") else {
        return;
    };
    let old = ctx.rust_dead_letter("A", "Mailer", "handler_failed", "2020-01-01T00:00:00+00:00");
    let now = necro_core::format_timestamp(time::OffsetDateTime::now_utc());
    let mailer = ctx.rust_dead_letter("B", "Mailer", "handler_failed", &now);
    let billing = ctx.rust_dead_letter("B", "Billing", "enqueue_failed", &now);
    let python = ctx.python_dead_letter("C", "Max retries exceeded");

    let v = |xs: &[&String]| xs.iter().map(|x| (*x).clone()).collect::<Vec<String>>();
    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["--json", "dlq", "list"];
        full.extend_from_slice(args);
        json(&ctx.necro(&full))
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&[]), v(&[&old, &mailer, &billing, &python]));
    assert_eq!(
        ids(&["--newest-first"]),
        v(&[&python, &billing, &mailer, &old])
    );
    assert_eq!(ids(&["--limit", "2"]), v(&[&old, &mailer]));
    assert_eq!(
        ids(&["--limit", "2", "--newest-first"]),
        v(&[&python, &billing])
    );
    assert_eq!(ids(&["--organ", "Mailer"]), v(&[&old, &mailer]));
    assert_eq!(ids(&["--kind", "enqueue_failed"]), v(&[&billing]));
    assert_eq!(ids(&["--kind", "max_deliveries"]), v(&[&python]));
    assert_eq!(ids(&["--type", "B"]), v(&[&mailer, &billing]));
    assert_eq!(ids(&["--type", "B", "--organ", "Billing"]), v(&[&billing]));
    assert_eq!(ids(&["--organ", "Nobody"]), Vec::<String>::new());
    // The Python letter failed in 2024, the first in 2020: a day's window has the two others.
    assert_eq!(ids(&["--since", "1day"]), v(&[&mailer, &billing]));
    assert_eq!(
        ids(&["--since", "1day", "--newest-first"]),
        v(&[&billing, &mailer])
    );
    assert_eq!(ids(&["--since", "1day", "--limit", "1"]), v(&[&mailer]));
    assert_eq!(
        ids(&["--since", "1day", "--organ", "Billing"]),
        v(&[&billing])
    );

    let table = ok(&ctx.necro(&["dlq", "list", "--organ", "Billing"]));
    let header = table.lines().next().unwrap();
    for col in [
        "id",
        "failed at",
        "event type",
        "organ",
        "kind",
        "attempts",
        "reason",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(table.contains("Billing: boom"), "{table}");
    assert!(table.contains("enqueue_failed"), "{table}");

    let none = ok(&ctx.necro(&["dlq", "list", "--organ", "Nobody"]));
    assert!(none.contains("no dead letters"), "{none}");
}

#[test]
fn replay_and_purge_by_filter_dry_run_first() {
    let Some(mut ctx) = Ctx::shared("act") else {
        return;
    };
    let a = ctx.rust_dead_letter("A", "Mailer", "handler_failed", "2024-01-15T10:30:45+00:00");
    let b = ctx.rust_dead_letter(
        "B",
        "Billing",
        "handler_failed",
        "2024-01-15T10:30:45+00:00",
    );
    let c = ctx.rust_dead_letter("C", "Mailer", "handler_failed", "2024-01-15T10:30:45+00:00");
    let dlq = ctx.dlq();
    let before = ctx.entries(&dlq);

    let dry = ok(&ctx.necro(&["dlq", "replay", "--organ", "Mailer", "--dry-run"]));
    assert!(
        dry.contains(&a) && dry.contains(&c) && !dry.contains(&b),
        "{dry}"
    );
    assert!(dry.contains("would replay 2"), "{dry}");
    let dry = ok(&ctx.necro(&["dlq", "purge", "--all", "--dry-run"]));
    assert!(dry.contains("would purge 3"), "{dry}");
    let v = json(&ctx.necro(&["--json", "dlq", "purge", &b, "--dry-run"]));
    assert_eq!(v["would"], serde_json::json!([b]));
    assert_eq!(ctx.entries(&dlq), before, "a dry run changes nothing");
    assert_eq!(ctx.xlen(&ctx.stream.clone()), 0);

    let v = json(&ctx.necro(&["--json", "dlq", "replay", "--organ", "Mailer", "--yes"]));
    assert_eq!(v["done"], serde_json::json!([a, c]));
    assert_eq!(ctx.xlen(&ctx.stream.clone()), 2);
    let left: Vec<String> = ctx.entries(&dlq).into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, std::slice::from_ref(&b));

    let out = ok(&ctx.necro(&["dlq", "purge", &b, "--yes"]));
    assert!(out.contains("purged 1 dead letter(s)"), "{out}");
    assert_eq!(ctx.xlen(&dlq), 0);
    assert_eq!(
        ctx.xlen(&ctx.stream.clone()),
        2,
        "purge leaves the main stream alone"
    );

    let out = ok(&ctx.necro(&["dlq", "purge", "--all", "--yes"]));
    assert!(out.contains("nothing to purge"), "{out}");
}

#[test]
fn purge_all_and_unreadable_letters() {
    let Some(mut ctx) = Ctx::shared("purge") else {
        return;
    };
    let dlq = ctx.dlq();
    let bad = ctx
        .redis
        .cmd(&[
            "XADD",
            &dlq,
            "*",
            "original_id",
            "1-0",
            "event",
            "not json",
            "reason",
            "malformed entry: not JSON",
            "failed_at",
            "2024-01-15T10:30:45.123456+00:00",
            "kind",
            "malformed",
        ])
        .text();
    let good = ctx.python_dead_letter("A", "Max retries exceeded");
    let show = ok(&ctx.necro(&["dlq", "show", &bad]));
    assert!(show.contains("unreadable"), "{show}");
    assert!(
        !show.contains("not json"),
        "raw event shown without --payload: {show}"
    );

    let out = ok(&ctx.necro(&["dlq", "replay", "--all", "--yes"]));
    assert!(
        out.contains("replayed 1") && out.contains("1 skipped"),
        "{out}"
    );
    assert!(out.contains(&format!("skipped {bad}")), "{out}");
    let left: Vec<String> = ctx.entries(&dlq).into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, std::slice::from_ref(&bad));
    assert_ne!(good, bad);

    let out = ok(&ctx.necro(&["dlq", "purge", "--kind", "malformed", "--yes"]));
    assert!(out.contains("purged 1"), "{out}");
    assert_eq!(ctx.xlen(&dlq), 0);
}

#[test]
fn bad_selections_are_one_error_line_and_change_nothing() {
    let Some(mut ctx) = Ctx::shared("errors") else {
        return;
    };
    let id = ctx.python_dead_letter("A", "Max retries exceeded");
    let dlq = ctx.dlq();

    let line = fails(&ctx.necro(&["dlq", "show", "999-0"]));
    assert_eq!(line, format!("error: no dead letter 999-0 in {dlq}"));
    let line = fails(&ctx.necro(&["dlq", "show", "not-an-id"]));
    assert!(line.contains("no dead letter not-an-id"), "{line}");
    let line = fails(&ctx.necro(&["dlq", "replay", &id, "999-0", "--yes"]));
    assert!(line.contains("no dead letter 999-0"), "{line}");
    let line = fails(&ctx.necro(&["dlq", "purge", "999-0", "--yes"]));
    assert!(line.contains("no dead letter 999-0"), "{line}");
    let line = fails(&ctx.necro(&["dlq", "replay"]));
    assert!(line.contains("nothing selected"), "{line}");
    // Standard input is not a terminal here: without --yes the action is refused.
    for action in ["replay", "purge"] {
        let line = fails(&ctx.necro(&["dlq", action, "--all"]));
        assert!(line.contains("pass --yes"), "{line}");
        assert!(line.contains("not a terminal"), "{line}");
    }
    let line = fails(&ctx.necro(&["dlq", "replay", "--all", &id]));
    assert!(line.contains("cannot be used with"), "{line}");
    assert!(line.contains("necro dlq replay --help"), "{line}");
    assert_eq!(ctx.xlen(&dlq), 1);
    assert_eq!(ctx.xlen(&ctx.stream.clone()), 0);
}

#[test]
fn bound_shows_what_the_dead_letter_bound_would_drop_and_drops_nothing() {
    let Some(mut ctx) = Ctx::shared("dlq-bound") else {
        return;
    };
    let ids: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|t| ctx.python_dead_letter(t, &format!("failure {t}")))
        .collect();
    let v = json(&ctx.necro(&["--json", "dlq", "bound", "--max-entries", "1"]));
    assert_eq!(v["length"], 3);
    assert_eq!(v["max_entries"], 1);
    assert_eq!(v["would_drop"], 2);
    let next: Vec<&str> = v["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(next, [ids[0].as_str(), ids[1].as_str()]);

    let text = ok(&ctx.necro(&["dlq", "bound", "--max-entries", "2", "--max-age", "1day"]));
    for part in [
        "dead letters  3",
        "bound         at most 2, none older than",
        "would drop    1",
        "failure A",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    assert!(!text.contains("failure B"), "{text}");
    // The default bound drops nothing here; and nothing was dropped.
    assert_eq!(
        json(&ctx.necro(&["--json", "dlq", "bound"]))["would_drop"],
        0
    );
    let dlq = ctx.dlq();
    assert_eq!(ctx.xlen(&dlq), 3);
}
