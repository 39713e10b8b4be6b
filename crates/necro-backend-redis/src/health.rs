//! `Health`: reachability, round-trip latency, stream length, pending count, consumer lag.

use std::time::Instant;

use fred::interfaces::{ClientLike, StreamsInterface};
use fred::types::Value;
use necro_core::{Health, HealthReport, error_chain};

use crate::backend::RedisBackend;
use crate::entry::{flat_pairs, value_string, value_u64};
use crate::error::RedisError;
use crate::floor::{Floor, FloorHold, safe_floor};

impl Health for RedisBackend {
    /// `PING` (its round trip is the latency), then the group is created if missing (so a
    /// fresh backend is healthy; not with `create_group(false)`), then one pipelined `XLEN` / `XINFO GROUPS` / `XLEN dlq`.
    ///
    /// Details: `stream`, `group`, `consumer`, `stream_length`, `pending`, `lag` (entries not
    /// yet read by the group; `null` when Redis cannot tell), `consumers`, `last_delivered_id`,
    /// `dlq_stream`, `dlq_length`, `reconnections`, and what holds trimming back:
    /// `trim_floor` (the oldest entry some group still needs), `trim_floor_group`,
    /// `trim_floor_hold` (`pending` or `undelivered`) and `trim_floor_lag` (see
    /// [`SafeFloor`](crate::SafeFloor); absent without groups). A group that stopped consuming
    /// shows here; it does not make the backend unhealthy. Also sets the `necro_redis_pending`
    /// and `necro_redis_stream_length` gauges.
    async fn health(&self) -> HealthReport {
        let inner = &self.inner;
        let cfg = &inner.config;
        let base = |report: HealthReport| {
            report
                .detail("url", cfg.masked_url())
                .detail("stream", cfg.stream_key())
                .detail("group", cfg.consumer_group())
                .detail("consumer", cfg.consumer_name())
        };
        if let Err(e) = inner.check_open() {
            return base(HealthReport::unhealthy(e.to_string()));
        }
        let client = inner.pool.next();
        let started = Instant::now();
        if let Err(e) = client.ping::<Value>(None).await {
            return base(HealthReport::unhealthy(format!(
                "Redis at {} is unreachable: {}",
                cfg.masked_url(),
                error_chain(&RedisError::from(e))
            )));
        }
        let latency = started.elapsed();
        let created = if cfg.create_group() {
            self.ensure_group().await
        } else {
            Ok(())
        };
        if let Err(e) = created {
            let mut r = base(HealthReport::unhealthy(format!(
                "cannot create consumer group: {}",
                error_chain(&e)
            )));
            r.latency = Some(latency);
            return r;
        }

        let pipeline = client.pipeline();
        let queued = async {
            let _: Value = pipeline.xlen(inner.stream.clone()).await?;
            let _: Value = pipeline.xinfo_groups(inner.stream.clone()).await?;
            let _: Value = pipeline.xlen(inner.dlq.clone()).await?;
            Ok::<(), fred::error::Error>(())
        };
        if let Err(e) = queued.await {
            return base(HealthReport::unhealthy(error_chain(&RedisError::from(e))));
        }
        let mut replies = pipeline.try_all::<Value>().await.into_iter();
        let mut next = || match replies.next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(error_chain(&RedisError::from(e))),
            None => Err("missing reply".to_owned()),
        };
        let (length, groups, dlq_length) = match (next(), next(), next()) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                let mut r = base(HealthReport::unhealthy(e));
                r.latency = Some(latency);
                return r;
            }
        };
        let length = value_u64(&length);
        let group = match groups {
            Value::Array(items) => items.into_iter().map(flat_pairs).find(|pairs| {
                pairs.iter().any(|(k, v)| {
                    k == "name" && value_string(v).as_deref() == Some(cfg.consumer_group())
                })
            }),
            _ => None,
        }
        .unwrap_or_default();
        let field = |name: &str| group.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let pending = field("pending").and_then(value_u64);
        let lag = field("lag").and_then(value_u64);
        let consumers = field("consumers").and_then(value_u64);
        let last_delivered = field("last-delivered-id").and_then(value_string);
        inner.counters.gauges(pending, length);

        let mut report = base(HealthReport::healthy())
            .detail("stream_length", length)
            .detail("pending", pending)
            .detail("lag", lag)
            .detail("consumers", consumers)
            .detail("last_delivered_id", last_delivered)
            .detail("dlq_stream", cfg.dlq_stream())
            .detail("dlq_length", value_u64(&dlq_length))
            .detail("reconnections", self.stats().reconnections);
        // What holds trimming back (`XINFO GROUPS` again, then the `XPENDING` summaries).
        match inner.group_needs(client).await {
            Ok(needs) => {
                if let Floor::At(_, floor) = safe_floor(&needs, &cfg.retention.ignore_groups) {
                    report = report
                        .detail("trim_floor", floor.id.as_str())
                        .detail("trim_floor_group", floor.group)
                        .detail(
                            "trim_floor_hold",
                            match floor.hold {
                                FloorHold::Pending => "pending",
                                FloorHold::Undelivered => "undelivered",
                            },
                        )
                        .detail("trim_floor_lag", floor.lag);
                }
            }
            Err(e) => {
                report = report.detail("trim_floor_error", error_chain(&e));
            }
        }
        report.latency = Some(latency);
        report
    }
}
