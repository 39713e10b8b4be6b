//! `necro stats`: the stream, its dead letters, every consumer group with its pending count,
//! lag and oldest pending entry, and every consumer's pending count and idle time.

use std::fmt::Write;

use necro_backend_redis::StreamInfo;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::table::{duration, millis, table};

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
        "groups": groups,
    })
}
