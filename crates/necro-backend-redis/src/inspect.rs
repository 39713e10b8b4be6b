//! Read-only inspection of a stream for operators: [`RedisBackend::inspect`] and what it
//! answers with ([`StreamInfo`], [`GroupInfo`], [`ConsumerInfo`]): lengths, every consumer
//! group with its pending count, lag and oldest pending entry, and every consumer's pending
//! count and idle time. It writes nothing.

use std::time::Duration;

use fred::interfaces::{ClientLike, KeysInterface, StreamsInterface};
use fred::types::{CustomCommand, Value};
use necro_core::BackendError;

use crate::backend::RedisBackend;
use crate::entry::{EntryId, entry_id_millis, flat_pairs, value_string, value_u64};
use crate::error::{backend_error, unexpected_reply};
use crate::floor::{Floor, GroupNeeds, SafeFloor, StreamId, safe_floor};

/// What [`RedisBackend::inspect`] found on the backend's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The main stream's key.
    pub stream: String,
    /// Whether the main stream exists.
    pub exists: bool,
    /// Entries in the main stream (`XLEN`).
    pub length: u64,
    /// The dead-letter stream's key.
    pub dlq_stream: String,
    /// Whether the dead-letter stream exists.
    pub dlq_exists: bool,
    /// Entries in the dead-letter stream.
    pub dlq_length: u64,
    /// Every consumer group of the main stream (`XINFO GROUPS`), in Redis's order.
    pub groups: Vec<GroupInfo>,
    /// What holds trimming back: the group whose needs are the oldest (`None` without
    /// groups, or when the backend's retention policy ignores them all).
    pub floor: Option<SafeFloor>,
}

impl StreamInfo {
    /// The group named `name`, if the stream has it.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<&GroupInfo> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// One consumer group of a [`StreamInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group's name.
    pub name: String,
    /// Entries delivered to the group's consumers and not acknowledged yet.
    pub pending: u64,
    /// Entries not yet delivered to the group (`None` when Redis cannot tell, or before 7.0).
    pub lag: Option<u64>,
    /// The id of the last entry delivered to the group.
    pub last_delivered_id: Option<String>,
    /// The oldest pending entry, if any.
    pub oldest_pending: Option<EntryId>,
    /// How long ago (by the server's clock) the oldest pending entry was added to the stream.
    pub oldest_pending_age: Option<Duration>,
    /// The group's consumers (`XINFO CONSUMERS`).
    pub consumers: Vec<ConsumerInfo>,
}

/// One consumer of a [`GroupInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// The consumer's name.
    pub name: String,
    /// Entries it holds pending.
    pub pending: u64,
    /// Time since it last read or claimed (`XINFO CONSUMERS`' `idle`).
    pub idle: Duration,
}

impl RedisBackend {
    /// Looks at the backend's stream without changing anything: whether it and its dead-letter
    /// stream exist, their lengths, and every consumer group with its consumers (one pipeline
    /// of `EXISTS`/`XLEN`/`TIME`, then `XINFO GROUPS`, then per group `XINFO CONSUMERS` and the
    /// `XPENDING` summary), and the trim floor they make. What the `necro stats` command
    /// shows.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached or answered in an unexpected shape.
    pub async fn inspect(&self) -> Result<StreamInfo, BackendError> {
        let inner = &self.inner;
        inner.check_open()?;
        let client = inner.pool.next();
        let pipeline = client.pipeline();
        let _: Value = pipeline
            .exists(inner.stream.clone())
            .await
            .map_err(backend_error)?;
        let _: Value = pipeline
            .exists(inner.dlq.clone())
            .await
            .map_err(backend_error)?;
        let _: Value = pipeline
            .xlen(inner.stream.clone())
            .await
            .map_err(backend_error)?;
        let _: Value = pipeline
            .xlen(inner.dlq.clone())
            .await
            .map_err(backend_error)?;
        let _: Value = pipeline
            .custom(
                CustomCommand::new_static("TIME", None::<u16>, false),
                Vec::<Value>::new(),
            )
            .await
            .map_err(backend_error)?;
        let replies: Vec<Value> = pipeline.all().await.map_err(backend_error)?;
        let [exists, dlq_exists, length, dlq_length, time] = <[Value; 5]>::try_from(replies)
            .map_err(|_| unexpected_reply("the inspect pipeline"))?;
        let now_ms = server_millis(&time).ok_or_else(|| unexpected_reply("TIME"))?;
        let mut info = StreamInfo {
            stream: inner.config.stream_key().to_owned(),
            exists: value_u64(&exists).unwrap_or(0) > 0,
            length: value_u64(&length).unwrap_or(0),
            dlq_stream: inner.config.dlq_stream().to_owned(),
            dlq_exists: value_u64(&dlq_exists).unwrap_or(0) > 0,
            dlq_length: value_u64(&dlq_length).unwrap_or(0),
            groups: Vec::new(),
            floor: None,
        };
        if !info.exists {
            return Ok(info);
        }
        let groups: Value = client
            .xinfo_groups(inner.stream.clone())
            .await
            .map_err(backend_error)?;
        let Value::Array(groups) = groups else {
            return Err(unexpected_reply("XINFO GROUPS"));
        };
        for group in groups {
            let pairs = flat_pairs(group);
            let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let Some(name) = field("name").and_then(value_string) else {
                return Err(unexpected_reply("XINFO GROUPS"));
            };
            let consumers: Value = client
                .xinfo_consumers(inner.stream.clone(), name.as_str())
                .await
                .map_err(backend_error)?;
            let summary: Value = client
                .custom(
                    CustomCommand::new_static("XPENDING", None::<u16>, false),
                    vec![Value::from(inner.config.stream_key()), name.as_str().into()],
                )
                .await
                .map_err(backend_error)?;
            let oldest_pending = oldest_pending(summary);
            let oldest_pending_age = oldest_pending
                .as_ref()
                .and_then(|id| entry_id_millis(id.as_str()))
                .map(|ms| Duration::from_millis(now_ms.saturating_sub(ms)));
            info.groups.push(GroupInfo {
                pending: field("pending").and_then(value_u64).unwrap_or(0),
                lag: field("lag").and_then(value_u64),
                last_delivered_id: field("last-delivered-id").and_then(value_string),
                oldest_pending,
                oldest_pending_age,
                consumers: parse_consumers(consumers)?,
                name,
            });
        }
        let needs: Vec<GroupNeeds> = info
            .groups
            .iter()
            .map(|g| GroupNeeds {
                name: g.name.clone(),
                last_delivered: g.last_delivered_id.as_deref().and_then(StreamId::parse),
                oldest_pending: g
                    .oldest_pending
                    .as_ref()
                    .map(|id| StreamId::parse(id.as_str()).unwrap_or(StreamId::ZERO)),
                lag: g.lag,
            })
            .collect();
        if let Floor::At(_, floor) = safe_floor(&needs, &inner.config.retention.ignore_groups) {
            info.floor = Some(floor);
        }
        Ok(info)
    }
}

/// `TIME`'s `[seconds, microseconds]` as milliseconds.
fn server_millis(time: &Value) -> Option<u64> {
    let Value::Array(parts) = time else {
        return None;
    };
    let secs = value_u64(parts.first()?)?;
    let micros = value_u64(parts.get(1)?)?;
    Some(secs.saturating_mul(1000).saturating_add(micros / 1000))
}

/// The smallest id of an `XPENDING` summary (`[count, min, max, [[consumer, n], …]]`).
fn oldest_pending(summary: Value) -> Option<EntryId> {
    let Value::Array(parts) = summary else {
        return None;
    };
    parts.get(1).and_then(value_string).map(EntryId::from)
}

fn parse_consumers(reply: Value) -> Result<Vec<ConsumerInfo>, BackendError> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(unexpected_reply("XINFO CONSUMERS")),
    };
    items
        .into_iter()
        .map(|c| {
            let pairs = flat_pairs(c);
            let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            Ok(ConsumerInfo {
                name: field("name")
                    .and_then(value_string)
                    .ok_or_else(|| unexpected_reply("XINFO CONSUMERS"))?,
                pending: field("pending").and_then(value_u64).unwrap_or(0),
                idle: Duration::from_millis(field("idle").and_then(value_u64).unwrap_or(0)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn reads_time_pending_summaries_and_consumers() {
        assert_eq!(
            server_millis(&Value::Array(vec![s("1700000000"), s("123456")])),
            Some(1_700_000_000_123)
        );
        assert_eq!(server_millis(&Value::Integer(1)), None);
        let summary = Value::Array(vec![
            Value::Integer(2),
            s("5-0"),
            s("9-0"),
            Value::Array(vec![]),
        ]);
        assert_eq!(oldest_pending(summary), Some(EntryId::from("5-0")));
        let empty = Value::Array(vec![
            Value::Integer(0),
            Value::Null,
            Value::Null,
            Value::Null,
        ]);
        assert_eq!(oldest_pending(empty), None);
        let consumers = Value::Array(vec![Value::Array(vec![
            s("name"),
            s("w1"),
            s("pending"),
            Value::Integer(3),
            s("idle"),
            Value::Integer(1500),
        ])]);
        assert_eq!(
            parse_consumers(consumers).unwrap(),
            vec![ConsumerInfo {
                name: "w1".to_owned(),
                pending: 3,
                idle: Duration::from_millis(1500),
            }]
        );
        assert!(parse_consumers(Value::Integer(1)).is_err());
    }
}
