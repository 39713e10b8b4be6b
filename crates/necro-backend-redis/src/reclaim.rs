//! Redelivery: the periodic reclaim of entries pending too long (`XAUTOCLAIM`, with their
//! delivery counts from `XPENDING`), and `nack`/`release`, which mark entries idle (`XCLAIM …
//! IDLE`) so that the next pull of any worker reclaims them.

use std::sync::PoisonError;
use std::time::Instant;

use fred::error::Error as FredError;
use fred::interfaces::StreamsInterface;
use fred::types::Value;
use necro_core::{BackendError, DeadLetterKind, Delivery, NackOutcome};
use tracing::{debug, warn};

use crate::connect::Inner;
use crate::entry::{EntryId, parse_entries, value_string, value_u64};
use crate::error::{backend_error, is_nogroup, unexpected_reply};
use crate::record::{DlqRecord, classify, now_timestamp};

impl Inner {
    /// `Backend::nack`: marks the entry idle for redelivery, or dead-letters it at
    /// `max_retries`.
    pub(crate) async fn nack(
        &self,
        delivery: Delivery<EntryId>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.check_open()?;
        let inner = self;
        if delivery.attempt >= inner.config.max_retries {
            let record = DlqRecord {
                original_id: Some(delivery.token),
                event: delivery.event.to_json(),
                reason,
                kind: DeadLetterKind::MaxDeliveries,
                attempts: delivery.attempt,
                organ: None,
                failures: None,
                meta: delivery.meta,
                fields: None,
                failed_at: now_timestamp(),
            };
            self.write_dead_letters(std::slice::from_ref(&record), &[])
                .await?;
            return Ok(NackOutcome::DeadLettered);
        }
        self.mark_idle(vec![delivery.token.as_str().to_owned()], None)
            .await?;
        inner.counters.nacked(1);
        self.wake_claim();
        debug!(
            stream = %inner.config.stream_key(),
            entry_id = %delivery.token,
            attempt = delivery.attempt,
            reason = %reason,
            "nacked; will be redelivered"
        );
        Ok(NackOutcome::Requeued {
            next_attempt: delivery.attempt + 1,
        })
    }

    /// `Backend::release`: marks the entries idle with their delivery counts set back.
    pub(crate) async fn release(
        &self,
        deliveries: Vec<Delivery<EntryId>>,
    ) -> Result<(), BackendError> {
        self.check_open()?;
        let inner = self;
        let mut by_attempt: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
        for delivery in &deliveries {
            by_attempt
                .entry(delivery.attempt)
                .or_default()
                .push(delivery.token.as_str().to_owned());
        }
        for (attempt, ids) in by_attempt {
            self.mark_idle(ids, Some(u64::from(attempt.saturating_sub(1))))
                .await?;
        }
        if !deliveries.is_empty() {
            self.wake_claim();
        }
        debug!(
            stream = %inner.config.stream_key(),
            count = deliveries.len(),
            "released unhandled deliveries"
        );
        Ok(())
    }

    /// Whether the next reclaim scan is due (see `claim_interval`).
    pub(crate) fn claim_due(&self) -> bool {
        let state = self.claim.lock().unwrap_or_else(PoisonError::into_inner);
        Instant::now() >= state.next_check
    }

    /// Makes the next pull scan for idle entries at once (after a nack or release).
    pub(crate) fn wake_claim(&self) {
        let mut state = self.claim.lock().unwrap_or_else(PoisonError::into_inner);
        state.next_check = Instant::now();
        state.rescan = true;
    }

    /// Claims entries idle longer than `claim_min_idle` (XAUTOCLAIM), reads their delivery
    /// counts (XPENDING, pipelined), dead-letters the over-delivered and malformed ones, and
    /// returns the rest.
    pub(crate) async fn reclaim(&self, max: usize) -> Result<Vec<Delivery<EntryId>>, BackendError> {
        let inner = self;
        let min_idle = u64::try_from(inner.config.claim_min_idle.as_millis()).unwrap_or(u64::MAX);
        let client = inner.pool.next();
        let mut restarted = false;
        let entries = loop {
            let start = {
                let mut state = inner.claim.lock().unwrap_or_else(PoisonError::into_inner);
                if state.cursor == "0-0" {
                    // A pass from the beginning sees every entry marked idle until now.
                    state.rescan = false;
                }
                state.cursor.clone()
            };
            let reply: Result<Value, FredError> = client
                .xautoclaim(
                    inner.stream.clone(),
                    inner.group.as_str(),
                    inner.consumer.as_str(),
                    min_idle,
                    start.as_str(),
                    Some(max as u64),
                    false,
                )
                .await;
            let reply = match reply {
                Ok(v) => v,
                Err(e) if is_nogroup(&e) => {
                    self.ensure_group().await?;
                    return Ok(Vec::new());
                }
                Err(e) => return Err(backend_error(e)),
            };
            let Value::Array(mut parts) = reply else {
                return Err(unexpected_reply("XAUTOCLAIM"));
            };
            if parts.len() < 2 {
                return Err(unexpected_reply("XAUTOCLAIM"));
            }
            let deleted = if parts.len() >= 3 { parts.pop() } else { None };
            let entries = parse_entries(parts.pop().unwrap_or(Value::Null), "XAUTOCLAIM")?;
            let next = parts
                .pop()
                .as_ref()
                .and_then(value_string)
                .unwrap_or_else(|| "0-0".to_owned());
            if let Some(Value::Array(ids)) = deleted
                && !ids.is_empty()
            {
                warn!(
                    stream = %inner.config.stream_key(),
                    count = ids.len(),
                    "pending entries were deleted from the stream before being acknowledged (trimmed?)"
                );
            }
            let again = {
                let mut state = inner.claim.lock().unwrap_or_else(PoisonError::into_inner);
                // A pass ends at `0-0`; the next is due after `claim_interval`, or at once when
                // entries were marked idle meanwhile (they may lie behind the cursor).
                let ended = next == "0-0";
                state.next_check = if ended && !state.rescan {
                    Instant::now() + inner.config.claim_interval
                } else {
                    Instant::now()
                };
                state.cursor = next;
                ended && state.rescan && start != "0-0" && entries.is_empty() && !restarted
            };
            if again {
                // Nothing claimed in the rest of the pass: start the new one in this pull.
                restarted = true;
                continue;
            }
            break entries;
        };
        if entries.is_empty() {
            return Ok(Vec::new());
        }

        // The delivery count of each claimed entry (XAUTOCLAIM has just raised it).
        let pipeline = client.pipeline();
        for e in &entries {
            let _: Value = pipeline
                .xpending(
                    inner.stream.clone(),
                    inner.group.as_str(),
                    (e.id.as_str(), e.id.as_str(), 1),
                )
                .await
                .map_err(backend_error)?;
        }
        let counts = pipeline.try_all::<Value>().await;
        let mut deliveries = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut acks = Vec::new();
        let mut ignored_headers = 0;
        for (entry, count) in entries.into_iter().zip(counts) {
            let count = count.map_err(backend_error)?;
            let Some(count) = delivery_count(count) else {
                // Acked meanwhile by the consumer we took it from: nothing to do.
                continue;
            };
            let attempt = u32::try_from(count).unwrap_or(u32::MAX).max(1);
            if let Some(d) = classify(
                entry,
                attempt,
                inner.config.max_retries,
                &mut records,
                &mut acks,
                &mut ignored_headers,
            ) {
                deliveries.push(d);
            }
        }
        inner.counters.headers_ignored(ignored_headers);
        self.write_dead_letters(&records, &acks).await?;
        if !deliveries.is_empty() {
            inner.counters.recovered(deliveries.len() as u64);
            inner.counters.pulled(deliveries.len() as u64);
            debug!(stream = %inner.config.stream_key(), count = deliveries.len(), "reclaimed pending entries");
        }
        Ok(deliveries)
    }

    /// `XCLAIM key group consumer 0 ids IDLE claim_min_idle [RETRYCOUNT n] JUSTID`: the entries
    /// stay pending on this consumer but look idle, so the next pull of any worker reclaims
    /// them at once. `retry_count` sets their delivery count (else it is left as it is).
    pub(crate) async fn mark_idle(
        &self,
        ids: Vec<String>,
        retry_count: Option<u64>,
    ) -> Result<(), BackendError> {
        let inner = self;
        let idle = u64::try_from(inner.config.claim_min_idle.as_millis()).unwrap_or(u64::MAX);
        let _: Value = inner
            .pool
            .next()
            .xclaim(
                inner.stream.clone(),
                inner.group.as_str(),
                inner.consumer.as_str(),
                0,
                ids,
                Some(idle),
                None,
                retry_count,
                false,
                true,
            )
            .await
            .map_err(backend_error)?;
        Ok(())
    }
}

/// The delivery count from `XPENDING key group id id 1`: `[[id, consumer, idle, count]]`.
fn delivery_count(reply: Value) -> Option<u64> {
    let Value::Array(rows) = reply else {
        return None;
    };
    let Value::Array(row) = rows.into_iter().next()? else {
        return None;
    };
    row.get(3).and_then(value_u64)
}
