//! `necro stats`: the stream, its dead letters, the trim floor and the group that holds it,
//! every consumer group with its pending count, lag and oldest pending entry, and every
//! consumer's pending count and idle time; and `necro dlq bound`: what the dead-letter
//! retention bound would drop next.

use std::fmt::Write;

use necro_backend_redis::{FloorHold, RedisBackend, SafeFloor, StreamInfo};
use serde_json::{Value, json};

use crate::cli::BoundArgs;
use crate::error::CliError;
use crate::table::{duration, millis, one_line, table};

fn hold(floor: &SafeFloor) -> &'static str {
    match floor.hold {
        FloorHold::Pending => "pending",
        FloorHold::Undelivered => "undelivered",
        _ => "unknown",
    }
}

fn floor_json(floor: Option<&SafeFloor>) -> Value {
    floor.map_or(Value::Null, |f| {
        json!({
            "id": f.id.as_str(),
            "group": f.group,
            "hold": hold(f),
            "lag": f.lag,
        })
    })
}

/// What `necro stats` prints, from what [`connect::open`](crate::connect::open) inspected.
pub(crate) fn stats(info: &StreamInfo, json: bool) -> Result<String, CliError> {
    if json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&as_json(info))?
        ));
    }
    let mut out = String::new();
    let exists = if info.exists { "" } else { " (does not exist)" };
    let _ = writeln!(out, "stream        {}{exists}", info.stream);
    let _ = writeln!(out, "length        {}", info.length);
    let _ = writeln!(
        out,
        "dead letters  {} (in {})",
        info.dlq_length, info.dlq_stream
    );
    if let Some(f) = &info.floor {
        let what = match f.hold {
            FloorHold::Pending => "its oldest pending entry",
            _ => "the last entry delivered to it",
        };
        let lag = f
            .lag
            .map_or_else(|| "unknown".to_owned(), |l| l.to_string());
        let _ = writeln!(
            out,
            "trim floor    {} (held by group {}: {what}; lag {lag})",
            f.id, f.group
        );
    }
    if info.groups.is_empty() {
        let _ = writeln!(out, "groups        none");
    }
    for g in &info.groups {
        let lag = g
            .lag
            .map_or_else(|| "unknown".to_owned(), |l| l.to_string());
        let oldest = match (&g.oldest_pending, g.oldest_pending_age) {
            (Some(id), Some(age)) => format!("{} ago ({id})", duration(age)),
            (Some(id), None) => id.to_string(),
            _ => "none".to_owned(),
        };
        let _ = writeln!(out, "\ngroup {}", g.name);
        let _ = writeln!(out, "  pending         {}", g.pending);
        let _ = writeln!(out, "  lag             {lag}");
        let _ = writeln!(out, "  oldest pending  {oldest}");
        let _ = writeln!(
            out,
            "  last delivered  {}",
            g.last_delivered_id.as_deref().unwrap_or("none")
        );
        if g.consumers.is_empty() {
            let _ = writeln!(out, "  consumers       none");
            continue;
        }
        let rows: Vec<Vec<String>> = g
            .consumers
            .iter()
            .map(|c| vec![c.name.clone(), c.pending.to_string(), duration(c.idle)])
            .collect();
        for line in table(&["consumer", "pending", "idle"], &rows).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    Ok(out)
}

fn as_json(info: &StreamInfo) -> Value {
    let groups: Vec<Value> = info
        .groups
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "pending": g.pending,
                "lag": g.lag,
                "last_delivered_id": g.last_delivered_id,
                "oldest_pending_id": g.oldest_pending.as_ref().map(ToString::to_string),
                "oldest_pending_age_ms": g.oldest_pending_age.map(millis),
                "consumers": g.consumers.iter().map(|c| json!({
                    "name": c.name,
                    "pending": c.pending,
                    "idle_ms": millis(c.idle),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "stream": info.stream,
        "exists": info.exists,
        "length": info.length,
        "dlq_stream": info.dlq_stream,
        "dlq_length": info.dlq_length,
        "trim_floor": floor_json(info.floor.as_ref()),
        "groups": groups,
    })
}

/// What `necro dlq bound` prints.
pub(crate) async fn bound(
    backend: &RedisBackend,
    args: &BoundArgs,
    json: bool,
) -> Result<String, CliError> {
    let report = backend.dlq().over_bound(args.limit).await?;
    if json {
        let next: Vec<Value> = report
            .next
            .iter()
            .map(|e| json!({"id": e.id.as_str(), "failed_at": e.failed_at, "reason": e.reason}))
            .collect();
        let v = json!({
            "dlq_stream": backend.config().dlq_stream(),
            "length": report.length,
            "max_entries": report.max_entries,
            "max_age_ms": report.max_age.map(millis),
            "would_drop": report.would_drop,
            "next": next,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut out = String::new();
    let age = report.max_age.map_or_else(
        || "no age bound".to_owned(),
        |a| format!("none older than {}", duration(a)),
    );
    let count = report
        .max_entries
        .map_or_else(|| "no count bound".to_owned(), |n| format!("at most {n}"));
    let _ = writeln!(
        out,
        "dead letters  {} (in {})",
        report.length,
        backend.config().dlq_stream()
    );
    let _ = writeln!(out, "bound         {count}, {age}");
    let _ = writeln!(out, "would drop    {}", report.would_drop);
    if !report.next.is_empty() {
        let rows: Vec<Vec<String>> = report
            .next
            .iter()
            .map(|e| {
                vec![
                    e.id.to_string(),
                    e.failed_at.clone(),
                    one_line(&e.reason, 60),
                ]
            })
            .collect();
        let _ = writeln!(out, "\nnext to go, oldest first:");
        out.push_str(&table(&["id", "failed at", "reason"], &rows));
    }
    Ok(out)
}
