//! `necro dlq list` and `necro dlq show`: finding dead letters (filters, a time window, both
//! orders) and reading one in full, the payload only on request.

use std::collections::VecDeque;
use std::fmt::Write;
use std::time::Duration;

use necro_backend_redis::{DlqEntry, RedisBackend};
use necro_core::{DeadLetterEntry, DeadLetterId, DeadLetterQuery, DeadLetterQueue, ListOrder};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::cli::{ListArgs, ShowArgs};
use crate::error::CliError;
use crate::table::{one_line, short_time, table};

/// Entries read per round trip while walking.
const CHUNK: usize = 100;
/// How wide the reason column of the table is.
const REASON_WIDTH: usize = 60;

/// What `necro dlq list` prints.
pub(crate) async fn list(
    backend: &RedisBackend,
    args: &ListArgs,
    json: bool,
) -> Result<String, CliError> {
    let entries = match args.since {
        None => first(backend, args).await?,
        Some(window) => recent(backend, args, OffsetDateTime::now_utc() - window).await?,
    };
    if json {
        let items: Vec<Value> = entries.iter().map(|e| entry_json(e, false)).collect();
        return Ok(format!("{}\n", serde_json::to_string_pretty(&items)?));
    }
    let dlq = backend.config().dlq_stream();
    if entries.is_empty() {
        return Ok(format!("no dead letters in {dlq} match\n"));
    }
    let rows: Vec<Vec<String>> = entries.iter().map(row).collect();
    let mut out = table(
        &[
            "id",
            "failed at (UTC)",
            "event type",
            "organ",
            "kind",
            "attempts",
            "reason",
        ],
        &rows,
    );
    let _ = writeln!(out, "{} dead letter(s) of {dlq}", entries.len());
    Ok(out)
}

/// The first `limit` matching entries in the chosen order, following the page cursor.
async fn first(backend: &RedisBackend, args: &ListArgs) -> Result<Vec<DeadLetterEntry>, CliError> {
    let mut entries = Vec::new();
    let mut cursor: Option<DeadLetterId> = None;
    while entries.len() < args.limit {
        let query = DeadLetterQuery::new(args.limit - entries.len())
            .order(order(args))
            .filter(args.filter.filter())
            .after(cursor.take());
        let page = backend.dead_letter_page(&query).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(entries)
}

/// How much earlier than the window a letter may have been added to the queue and still be
/// looked at (clocks of workers and Redis differ).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The matching entries that failed at or after `cutoff`: a walk from the newest entry back
/// that stops at the first one added to the queue (the time in a Redis stream id) before the
/// window, less [`CLOCK_SKEW`]; with oldest first, the `limit` oldest of the window.
async fn recent(
    backend: &RedisBackend,
    args: &ListArgs,
    cutoff: OffsetDateTime,
) -> Result<Vec<DeadLetterEntry>, CliError> {
    let filter = args.filter.filter();
    let mut kept: VecDeque<DeadLetterEntry> = VecDeque::new();
    let mut cursor: Option<DeadLetterId> = None;
    'walk: loop {
        let query = DeadLetterQuery::new(CHUNK)
            .order(ListOrder::NewestFirst)
            .after(cursor.take());
        let page = backend.dead_letter_page(&query).await?;
        for entry in page.entries {
            if added_at(&entry.id).is_some_and(|t| t + CLOCK_SKEW < cutoff) {
                break 'walk;
            }
            if failed_at(&entry).is_none_or(|t| t < cutoff) || !entry.matches(&filter) {
                continue;
            }
            kept.push_back(entry);
            if kept.len() > args.limit {
                if args.newest_first {
                    kept.pop_back();
                    break 'walk;
                }
                kept.pop_front();
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut entries: Vec<DeadLetterEntry> = kept.into();
    if !args.newest_first {
        entries.reverse();
    }
    Ok(entries)
}

fn order(args: &ListArgs) -> ListOrder {
    if args.newest_first {
        ListOrder::NewestFirst
    } else {
        ListOrder::OldestFirst
    }
}

/// When a letter was added to the dead-letter stream: the milliseconds of its stream id.
fn added_at(id: &DeadLetterId) -> Option<OffsetDateTime> {
    let (ms, _) = id.as_str().split_once('-')?;
    let ms: i128 = ms.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
}

fn failed_at(entry: &DeadLetterEntry) -> Option<OffsetDateTime> {
    match &entry.letter {
        Ok(l) => Some(l.failed_at),
        Err(u) => u.failed_at,
    }
}

fn attempts(entry: &DeadLetterEntry) -> Option<u32> {
    match &entry.letter {
        Ok(l) => Some(l.attempts).filter(|a| *a > 0),
        Err(u) => u.attempts,
    }
}

fn kind_name(entry: &DeadLetterEntry) -> Option<String> {
    entry
        .kind()
        .and_then(|k| serde_json::to_value(k).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn row(entry: &DeadLetterEntry) -> Vec<String> {
    let dash = || "-".to_owned();
    vec![
        entry.id.to_string(),
        failed_at(entry).map_or_else(dash, short_time),
        entry
            .event_type()
            .map_or_else(|| "(unreadable)".to_owned(), str::to_owned),
        entry.organ().map_or_else(dash, str::to_owned),
        kind_name(entry).unwrap_or_else(dash),
        attempts(entry).map_or_else(dash, |a| a.to_string()),
        one_line(entry.reason(), REASON_WIDTH),
    ]
}

/// One entry as JSON; the payload (or an unreadable entry's raw event) only with `payload`.
fn entry_json(entry: &DeadLetterEntry, payload: bool) -> Value {
    let mut v = json!({
        "id": entry.id.as_str(),
        "failed_at": failed_at(entry).map(necro_core::format_timestamp),
        "event_type": entry.event_type(),
        "organ": entry.organ(),
        "kind": kind_name(entry),
        "attempts": attempts(entry),
        "reason": entry.reason(),
        "readable": entry.letter.is_ok(),
    });
    match &entry.letter {
        Ok(letter) => {
            let e = &letter.event;
            let mut event = json!({
                "id": e.id().to_string(),
                "timestamp": e.timestamp_rfc3339(),
                "event_type": e.event_type().as_str(),
                "payload_bytes": e.payload_size(),
            });
            if payload {
                event["payload"] = Value::Object(e.payload().clone());
            }
            v["event"] = event;
            v["failures"] = serde_json::to_value(&letter.failures).unwrap_or(Value::Null);
            v["correlation_id"] = json!(letter.meta.correlation_id.map(|u| u.to_string()));
            v["causation_id"] = json!(letter.meta.causation_id.map(|u| u.to_string()));
            v["headers"] = letter
                .meta
                .headers
                .iter()
                .map(|(k, val)| (k.to_owned(), Value::from(val)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        Err(u) => {
            v["raw_event_bytes"] = json!(u.raw_event.len());
            if payload {
                v["raw_event"] = json!(u.raw_event);
            }
        }
    }
    v
}

/// What `necro dlq show` prints.
pub(crate) async fn show(
    backend: &RedisBackend,
    args: &ShowArgs,
    json: bool,
) -> Result<String, CliError> {
    let Some(raw) = backend.dlq().get(&args.id).await? else {
        return Err(CliError::UnknownIds {
            dlq: backend.config().dlq_stream().to_owned(),
            ids: vec![args.id.clone()],
        });
    };
    let entry = DeadLetterEntry::from(raw.clone());
    if json {
        let mut v = entry_json(&entry, args.payload);
        v["original_id"] = json!(raw.original_id.as_ref().map(ToString::to_string));
        v["consumer"] = json!(raw.consumer);
        v["failed_at_as_written"] = json!(raw.failed_at);
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    Ok(show_text(&raw, &entry, args.payload))
}

fn show_text(raw: &DlqEntry, entry: &DeadLetterEntry, payload: bool) -> String {
    let mut out = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    kv(&mut out, "id", entry.id.to_string());
    kv(
        &mut out,
        "original id",
        opt(raw.original_id.as_ref().map(ToString::to_string)),
    );
    kv(
        &mut out,
        "failed at",
        if raw.failed_at.is_empty() {
            opt(failed_at(entry).map(necro_core::format_timestamp))
        } else {
            raw.failed_at.clone()
        },
    );
    kv(&mut out, "kind", opt(kind_name(entry)));
    kv(
        &mut out,
        "attempts",
        opt(attempts(entry).map(|a| a.to_string())),
    );
    kv(&mut out, "organ", opt(entry.organ().map(str::to_owned)));
    kv(&mut out, "consumer", opt(raw.consumer.clone()));
    kv(&mut out, "reason", entry.reason().to_owned());
    match &entry.letter {
        Ok(letter) => {
            for f in &letter.failures {
                let who = f.organ.as_deref().unwrap_or("(no organ)");
                kv(
                    &mut out,
                    "failure",
                    format!("{who} ({:?}, {} retries): {}", f.kind, f.retries, f.error),
                );
            }
            let e = &letter.event;
            kv(&mut out, "event id", e.id().to_string());
            kv(&mut out, "event type", e.event_type().as_str().to_owned());
            kv(&mut out, "timestamp", e.timestamp_rfc3339());
            if let Some(c) = letter.meta.correlation_id {
                kv(&mut out, "correlation id", c.to_string());
            }
            if let Some(c) = letter.meta.causation_id {
                kv(&mut out, "causation id", c.to_string());
            }
            for (name, value) in letter.meta.headers.iter() {
                kv(&mut out, "header", format!("{name}: {value}"));
            }
            if payload {
                let pretty = serde_json::to_string_pretty(&Value::Object(e.payload().clone()))
                    .unwrap_or_else(|_| e.payload_json().to_owned());
                kv(&mut out, "payload", String::new());
                for l in pretty.lines() {
                    let _ = writeln!(out, "  {l}");
                }
            } else {
                kv(
                    &mut out,
                    "payload",
                    format!(
                        "({} bytes, hidden: pass --payload to show it)",
                        e.payload_size()
                    ),
                );
            }
        }
        Err(u) => {
            kv(
                &mut out,
                "event",
                "unreadable: it cannot be replayed, only purged".to_owned(),
            );
            if payload {
                kv(&mut out, "raw event", u.raw_event.clone());
            } else {
                kv(
                    &mut out,
                    "raw event",
                    format!(
                        "({} bytes, hidden: pass --payload to show it)",
                        u.raw_event.len()
                    ),
                );
            }
        }
    }
    out
}

/// One `key  value` line of `necro dlq show`.
fn kv(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{key:<15} {value}");
}
