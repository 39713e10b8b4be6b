//! The retention task: every `interval`, each backend that may consume (`create_group` on)
//! asks for the trim lease and notes where the stream's end is; the holder reads the groups'
//! needs, trims the main stream at the smaller of the safe floor (`floor.rs`) and the retention
//! bound, and bounds the dead-letter stream. It runs on a task of its own, so pulls, acks and
//! commits never wait for it, and it holds the backend only weakly: dropping the last handle
//! (or closing) ends it. [`TrimReport`] is what a pass (`RedisBackend::trim`) answers.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, StreamsInterface};
use fred::types::{CustomCommand, Value};
use necro_core::BackendError;
use tracing::{debug, warn};

use crate::connect::Inner;
use crate::entry::{EntryId, flat_pairs, value_string, value_u64};
use crate::error::{backend_error, is_nogroup, unexpected_reply};
use crate::floor::SafeFloor;
use crate::floor::{Floor, GroupNeeds, StreamId, safe_floor, trim_target};

/// KEYS[1] the lease, KEYS[2] the stream; ARGV[1] this consumer, ARGV[2] the lease in ms,
/// ARGV[3] `force` to leave the lease alone and answer as its holder. Takes or renews the
/// lease (the holder keeps it while it lives), then answers
/// `{held, length, entries_added, last_generated_id, server_ms}`; `length` is -1 for a
/// missing stream and `entries_added` -1 before Redis 7.0. Only numbers and ids leave the
/// server, never the entries `XINFO STREAM` shows.
const TICK: &str = r"
local t = redis.call('TIME')
local held = 0
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'force' then
  held = 1
elseif cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  held = 1
elseif not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  held = 1
end
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {held, -1, -1, '0-0', ms}
end
local info = redis.call('XINFO', 'STREAM', KEYS[2])
local out = {held, 0, -1, '0-0', ms}
for i = 1, #info, 2 do
  local k = info[i]
  if k == 'length' then out[2] = info[i + 1]
  elseif k == 'entries-added' then out[3] = info[i + 1]
  elseif k == 'last-generated-id' then out[4] = info[i + 1] end
end
return out
";

/// What one retention pass ([`RedisBackend::trim`](crate::RedisBackend::trim)) found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrimReport {
    /// Entries removed from the main stream.
    pub trimmed: u64,
    /// The `MINID` the stream was trimmed at (entries below it went), if it was trimmed.
    pub trimmed_to: Option<EntryId>,
    /// What holds trimming back: the group whose needs are the oldest (`None` without
    /// groups, or when every group is ignored).
    pub floor: Option<SafeFloor>,
    /// The main stream's length after the pass.
    pub length: u64,
    /// Dead letters dropped by the dead-letter stream's bound.
    pub dlq_dropped: u64,
}

/// What one tick of the script answered.
struct Tick {
    held: bool,
    length: Option<u64>,
    added: Option<u64>,
    last: StreamId,
    now_ms: u64,
}

/// Starts the retention task of a freshly connected backend, unless its policy trims
/// nothing or it is an inspecting tool (`create_group(false)`).
pub(crate) fn spawn(inner: &Arc<Inner>) {
    let policy = &inner.config.retention;
    if !policy.trims() || !inner.config.create_group {
        return;
    }
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let interval = policy.interval;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            if inner.check_open().is_err() {
                break;
            }
            match inner.trim_pass(false).await {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    warn!(stream = %inner.config.stream_key(), error = %necro_core::error_chain(&e), "retention pass failed; will try again");
                }
                Err(e) => {
                    debug!(stream = %inner.config.stream_key(), error = %necro_core::error_chain(&e), "retention pass failed again");
                }
            }
        }
    });
}

impl Inner {
    /// One pass: the lease and the mark, then (holder only, or always when `force`d) the
    /// trims. `None` when another worker holds the lease.
    pub(crate) async fn trim_pass(&self, force: bool) -> Result<Option<TrimReport>, BackendError> {
        let policy = &self.config.retention;
        let client = self.pool.next();
        let tick = self.tick(client, force).await?;
        let by_count = {
            let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(added) = tick.added {
                marks.observe(added, tick.last);
            }
            policy
                .max_entries
                .zip(tick.added)
                .and_then(|(keep, added)| marks.cut(added, keep))
        };
        if !tick.held {
            return Ok(None);
        }
        let mut report = TrimReport {
            length: tick.length.unwrap_or(0),
            ..TrimReport::default()
        };
        if policy.trims_stream()
            && let Some(length) = tick.length
        {
            let needs = self.group_needs(client).await?;
            for g in &needs {
                if let Some(lag) = g.lag {
                    self.counters.group_lag(&g.name, lag);
                }
            }
            let floor = safe_floor(&needs, &policy.ignore_groups);
            let by_age = policy.max_age.map(|age| {
                let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                StreamId::from_millis(tick.now_ms.saturating_sub(age))
            });
            let retention = by_age.max(by_count);
            let mut trimmed = 0;
            if let Some(to) = trim_target(&floor, retention)
                && to > StreamId::ZERO
            {
                trimmed = self
                    .xtrim(client, self.stream.clone(), "MINID", to.to_string())
                    .await?;
                self.counters.trimmed(trimmed);
                report.trimmed_to = Some(EntryId::from(to.to_string()));
            }
            report.trimmed = trimmed;
            report.length = length.saturating_sub(trimmed);
            if let Floor::At(at, held) = &floor {
                report.floor = Some(held.clone());
                self.counters
                    .floor_age(Duration::from_millis(tick.now_ms.saturating_sub(at.ms)));
                debug!(stream = %self.config.stream_key(), floor = %at, group = %held.group, trimmed, "retention pass");
            }
            self.counters
                .gauges(None, Some(length.saturating_sub(trimmed)));
        }
        if policy.bounds_dlq() {
            report.dlq_dropped = self.bound_dlq(client, tick.now_ms).await?;
        }
        Ok(Some(report))
    }

    /// Drops the dead letters beyond the bound (count first, then age), counting and
    /// logging every drop.
    async fn bound_dlq(&self, client: &Client, now_ms: u64) -> Result<u64, BackendError> {
        let policy = &self.config.retention;
        let mut dropped = 0;
        if let Some(n) = policy.dlq_max_entries {
            dropped += self
                .xtrim(client, self.dlq.clone(), "MAXLEN", n.to_string())
                .await?;
        }
        if let Some(age) = policy.dlq_max_age {
            let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            let cut = StreamId::from_millis(now_ms.saturating_sub(age));
            dropped += self
                .xtrim(client, self.dlq.clone(), "MINID", cut.to_string())
                .await?;
        }
        if dropped > 0 {
            self.counters.dlq_dropped(dropped);
            warn!(
                dlq_stream = %self.config.dlq_stream(),
                dropped,
                max_entries = ?policy.dlq_max_entries,
                max_age = ?policy.dlq_max_age,
                "dropped the oldest dead letters: the dead-letter stream was over its retention bound"
            );
        }
        Ok(dropped)
    }

    async fn tick(&self, client: &Client, force: bool) -> Result<Tick, BackendError> {
        let lease_ms = u64::try_from(self.config.retention.lease().as_millis()).unwrap_or(u64::MAX);
        let args: Vec<Value> = vec![
            TICK.into(),
            2.into(),
            format!("{}:trim-lease", self.config.stream_key()).into(),
            self.config.stream_key().into(),
            self.consumer.as_str().into(),
            lease_ms.to_string().into(),
            if force { "force" } else { "lease" }.into(),
        ];
        let reply: Value = client
            .custom(CustomCommand::new_static("EVAL", None::<u16>, false), args)
            .await
            .map_err(backend_error)?;
        parse_tick(reply).ok_or_else(|| unexpected_reply("the retention lease script"))
    }

    /// Every group's needs: `XINFO GROUPS`, then the `XPENDING` summary of each group that
    /// had entries pending, in that order (see `floor.rs` for why the order matters).
    pub(crate) async fn group_needs(
        &self,
        client: &Client,
    ) -> Result<Vec<GroupNeeds>, BackendError> {
        let groups: Value = match client.xinfo_groups(self.stream.clone()).await {
            Ok(v) => v,
            Err(e) if is_nogroup(&e) => return Ok(Vec::new()),
            Err(e) if e.details().contains("no such key") => return Ok(Vec::new()),
            Err(e) => return Err(backend_error(e)),
        };
        let Value::Array(groups) = groups else {
            return Err(unexpected_reply("XINFO GROUPS"));
        };
        let mut needs = Vec::with_capacity(groups.len());
        let mut asks = Vec::new();
        for group in groups {
            let pairs = flat_pairs(group);
            let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let name = field("name")
                .and_then(value_string)
                .ok_or_else(|| unexpected_reply("XINFO GROUPS"))?;
            if field("pending").and_then(value_u64).unwrap_or(1) > 0 {
                asks.push(needs.len());
            }
            needs.push(GroupNeeds {
                last_delivered: field("last-delivered-id")
                    .and_then(value_string)
                    .and_then(|s| StreamId::parse(&s)),
                oldest_pending: None,
                lag: field("lag").and_then(value_u64),
                name,
            });
        }
        if asks.is_empty() {
            return Ok(needs);
        }
        let pipeline = client.pipeline();
        for &i in &asks {
            let _: Value = pipeline
                .custom(
                    CustomCommand::new_static("XPENDING", None::<u16>, false),
                    vec![
                        Value::from(self.config.stream_key()),
                        needs[i].name.as_str().into(),
                    ],
                )
                .await
                .map_err(backend_error)?;
        }
        let replies: Vec<Value> = pipeline.all().await.map_err(backend_error)?;
        for (&i, summary) in asks.iter().zip(replies) {
            needs[i].oldest_pending = match summary {
                Value::Array(parts) => match parts.get(1) {
                    None | Some(Value::Null) => None,
                    // A summary that names an id that does not read holds everything.
                    Some(v) => Some(
                        value_string(v)
                            .and_then(|s| StreamId::parse(&s))
                            .unwrap_or(StreamId::ZERO),
                    ),
                },
                _ => return Err(unexpected_reply("XPENDING")),
            };
        }
        Ok(needs)
    }

    /// `XTRIM key {MINID|MAXLEN} = threshold`: the number of entries removed.
    async fn xtrim(
        &self,
        client: &Client,
        key: fred::types::Key,
        strategy: &'static str,
        threshold: String,
    ) -> Result<u64, BackendError> {
        let reply: Value = client
            .custom(
                CustomCommand::new_static("XTRIM", None::<u16>, false),
                vec![
                    Value::from(key),
                    strategy.into(),
                    "=".into(),
                    threshold.into(),
                ],
            )
            .await
            .map_err(backend_error)?;
        value_u64(&reply).ok_or_else(|| unexpected_reply("XTRIM"))
    }
}

fn parse_tick(reply: Value) -> Option<Tick> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let int = |v: &Value| match v {
        Value::Integer(i) => Some(*i),
        other => value_string(other)?.parse().ok(),
    };
    let [held, length, added, last, now] = <[Value; 5]>::try_from(parts).ok()?;
    Some(Tick {
        held: int(&held)? == 1,
        length: u64::try_from(int(&length)?).ok(),
        added: u64::try_from(int(&added)?).ok(),
        last: StreamId::parse(&value_string(&last)?)?,
        now_ms: u64::try_from(int(&now)?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_replies_read_or_are_refused() {
        let reply = Value::Array(vec![
            Value::Integer(1),
            Value::Integer(7),
            Value::Integer(-1),
            Value::String("5-1".into()),
            Value::Integer(1_700_000_000_000),
        ]);
        let t = parse_tick(reply).unwrap();
        assert!(t.held);
        assert_eq!((t.length, t.added), (Some(7), None));
        assert_eq!(t.last, StreamId { ms: 5, seq: 1 });
        assert!(parse_tick(Value::Integer(1)).is_none());
    }
}
