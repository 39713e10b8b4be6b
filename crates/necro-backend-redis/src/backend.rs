//! The backend: connections, enqueue, pull (reclaim + read), ack, nack, commit.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fred::clients::{Client, Pool};
use fred::error::Error as FredError;
use fred::interfaces::{
    ClientLike, EventInterface, KeysInterface, StreamsInterface, TransactionInterface,
};
use fred::types::config::{Options, ReconnectPolicy};
use fred::types::streams::{XCap, XCapKind, XCapTrim};
use fred::types::{Builder, Key, Value};
use necro_core::{Backend, BackendError, DeadLetterKind, Delivery, Envelope, NackOutcome};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::RedisConfig;
use crate::entry::{
    EntryId, event_fields, parse_entries, parse_xreadgroup, value_string, value_u64,
};
use crate::error::{
    ConnectError, backend_error, is_busygroup, is_nogroup, sent_write_error, unexpected_reply,
};
use crate::record::{DlqRecord, classify, kind_str, now_timestamp};
use crate::stats::{Counters, RedisStats};

/// Extra time a command is given beyond its own blocking time before fred gives up on it.
const MIN_COMMAND_SLACK: Duration = Duration::from_millis(500);

/// A NecroStack backend on Redis Streams: durable, shared by any number of workers through a
/// consumer group, at-least-once.
///
/// Cheap to clone: clones share the connections, counters and consumer name. The connections
/// close when the last clone is dropped (or on [`close`](Self::close)).
///
/// See the crate docs for the stream layout and `docs/redis.md` for the failure model.
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: RedisConfig,
    /// Non-blocking commands: enqueue, ack, claim, DLQ, health.
    pub(crate) pool: Pool,
    /// The blocking `XREADGROUP` only, so nothing ever queues behind it.
    reader: Client,
    pub(crate) stream: Key,
    pub(crate) dlq: Key,
    pub(crate) group: String,
    pub(crate) consumer: String,
    cap: XCap,
    pub(crate) counters: Arc<Counters>,
    claim: Mutex<ClaimState>,
    closed: AtomicBool,
    listeners: Vec<JoinHandle<()>>,
}

struct ClaimState {
    /// Where the next `XAUTOCLAIM` scan starts (`0-0` = from the beginning of the PEL).
    cursor: String,
    /// When the next scan is due.
    next_check: Instant,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.listeners {
            task.abort();
        }
        if !self.closed.load(Ordering::Relaxed)
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let pool = self.pool.clone();
            let reader = self.reader.clone();
            handle.spawn(async move {
                let _ = reader.quit().await;
                let _ = pool.quit().await;
            });
        }
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("RedisBackend")
            .field("url", &c.masked_url())
            .field("stream", &c.stream_key())
            .field("group", &c.consumer_group())
            .field("consumer", &c.consumer_name())
            .field("dlq", &c.dlq_stream())
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Starts a configuration builder: `RedisBackend::builder(url).….connect().await`.
    pub fn builder(redis_url: impl Into<String>) -> crate::RedisConfigBuilder {
        crate::RedisConfigBuilder::new(redis_url)
    }

    /// Connects the pool and the reading connection, and creates the consumer group (and the
    /// stream) if they do not exist yet.
    ///
    /// # Errors
    /// [`ConnectError`] when Redis cannot be reached in time, refuses the credentials, or the
    /// group cannot be created. Its message masks the password.
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let url = config.masked_url().to_owned();
        let connect_err = |e: FredError| ConnectError::Connect {
            url: url.clone(),
            source: Box::new(crate::error::RedisError::from(e)),
        };
        let fred_config = fred::types::config::Config::from_url_centralized(&config.redis_url)
            .map_err(connect_err)?;
        let mut builder = Builder::from_config(fred_config);
        let command_timeout = config.command_timeout;
        let connect_timeout = config.connect_timeout;
        builder
            .with_connection_config(|c| {
                c.connection_timeout = connect_timeout;
                c.internal_command_timeout = command_timeout.max(Duration::from_secs(1));
                c.tcp.nodelay = Some(true);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2));
        let pool = builder.build_pool(config.pool_size).map_err(connect_err)?;
        let reader = builder.build().map_err(connect_err)?;

        let init = async {
            pool.init().await?;
            reader.init().await?;
            Ok::<(), FredError>(())
        };
        match tokio::time::timeout(connect_timeout, init).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = pool.quit().await;
                let _ = reader.quit().await;
                return Err(connect_err(e));
            }
            Err(_) => {
                let _ = pool.quit().await;
                let _ = reader.quit().await;
                return Err(ConnectError::Timeout {
                    url,
                    timeout: connect_timeout,
                });
            }
        }

        let counters = Arc::new(Counters::new(config.stream_key()));
        // Subscribed after the first connection, so every notification is a reconnection.
        let mut listeners = Vec::with_capacity(config.pool_size + 1);
        for client in pool.clients().iter().chain(std::iter::once(&reader)) {
            let mut rx = client.reconnect_rx();
            let counters = Arc::clone(&counters);
            let stream = config.stream_key().to_owned();
            listeners.push(tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match rx.recv().await {
                        Ok(server) => {
                            counters.reconnections(1);
                            info!(stream = %stream, server = %server, "reconnected to Redis");
                        }
                        Err(RecvError::Lagged(n)) => counters.reconnections(n),
                        Err(RecvError::Closed) => break,
                    }
                }
            }));
        }

        let cap = match config.max_len {
            Some(n) => XCap::try_from((
                XCapKind::MaxLen,
                XCapTrim::AlmostExact,
                i64::try_from(n).unwrap_or(i64::MAX),
            ))
            .map_err(connect_err)?,
            None => XCap::from(None::<()>),
        };
        let backend = Self {
            inner: Arc::new(Inner {
                stream: Key::from(config.stream_key()),
                dlq: Key::from(config.dlq_stream()),
                group: config.consumer_group.clone(),
                consumer: config.consumer_name.clone(),
                cap,
                counters,
                claim: Mutex::new(ClaimState {
                    cursor: "0-0".to_owned(),
                    next_check: Instant::now(),
                }),
                closed: AtomicBool::new(false),
                listeners,
                pool,
                reader,
                config,
            }),
        };
        backend
            .ensure_group()
            .await
            .map_err(|source| ConnectError::Group {
                stream: backend.inner.config.stream_key().to_owned(),
                group: backend.inner.group.clone(),
                source,
            })?;
        debug!(
            url = %backend.inner.config.masked_url(),
            stream = %backend.inner.config.stream_key(),
            group = %backend.inner.group,
            consumer = %backend.inner.consumer,
            "connected to Redis"
        );
        Ok(backend)
    }

    /// The validated configuration (its `Debug` masks the password).
    #[must_use]
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// This worker's consumer name within the group.
    #[must_use]
    pub fn consumer_name(&self) -> &str {
        &self.inner.consumer
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> RedisStats {
        self.inner.counters.snapshot()
    }

    /// Creates the consumer group at the start of the stream (and the stream itself) unless
    /// it exists. Called by [`connect`](Self::connect); again whenever Redis answers
    /// `NOGROUP` (say, after a restart without persistence).
    ///
    /// # Errors
    /// A [`BackendError`] when Redis cannot be reached or refuses.
    pub async fn ensure_group(&self) -> Result<(), BackendError> {
        self.check_open()?;
        let r: Result<Value, FredError> = self
            .inner
            .pool
            .next()
            .xgroup_create(
                self.inner.stream.clone(),
                self.inner.group.as_str(),
                "0",
                true,
            )
            .await;
        match r {
            Ok(_) => {
                debug!(stream = %self.inner.config.stream_key(), group = %self.inner.group, "created consumer group");
                Ok(())
            }
            Err(e) if is_busygroup(&e) => Ok(()),
            Err(e) => Err(backend_error(e)),
        }
    }

    /// Deletes this backend's stream and its dead-letter stream, with every entry, the
    /// consumer group and its pending entries. Meant for throwaway streams (tests, demos):
    /// other workers on the same stream lose their work too.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn delete_streams(&self) -> Result<(), BackendError> {
        self.check_open()?;
        let dlq = Key::from(self.inner.config.dlq_stream());
        let _: Value = self
            .inner
            .pool
            .next()
            .del(vec![self.inner.stream.clone(), dlq])
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Leaves the group cleanly and closes the connections: if this consumer owns no pending
    /// entries it is deleted from the group (so short-lived workers do not pile up in
    /// `XINFO CONSUMERS`). Every later call on this backend or its clones fails.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn close(&self) -> Result<(), BackendError> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let leave = async {
            let pending: Value = inner
                .pool
                .next()
                .xpending(
                    inner.stream.clone(),
                    inner.group.as_str(),
                    ("-", "+", 1, inner.consumer.as_str()),
                )
                .await?;
            if matches!(&pending, Value::Array(a) if a.is_empty()) {
                let _: Value = inner
                    .pool
                    .next()
                    .xgroup_delconsumer(
                        inner.stream.clone(),
                        inner.group.as_str(),
                        inner.consumer.as_str(),
                    )
                    .await?;
            }
            Ok::<(), FredError>(())
        };
        let left = leave.await.map_err(backend_error);
        let _ = inner.reader.quit().await;
        let quit = inner.pool.quit().await.map_err(backend_error);
        left.and(quit)
    }

    /// With `python_compatible`, refuses events a Python consumer would dead-letter.
    pub(crate) fn check_python<'a>(
        &self,
        events: impl IntoIterator<Item = &'a necro_core::Event>,
    ) -> Result<(), BackendError> {
        if self.inner.config.python_compatible {
            crate::python::check(events)
        } else {
            Ok(())
        }
    }

    /// Fails fast once [`close`](Self::close) ran, instead of waiting out a command timeout.
    pub(crate) fn check_open(&self) -> Result<(), BackendError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            Err(BackendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Queues one `XADD` per envelope into a MULTI/EXEC transaction (sent at `exec`).
    async fn queue_xadds(
        &self,
        tx: &fred::clients::Transaction,
        batch: &[Envelope],
    ) -> Result<(), BackendError> {
        for e in batch {
            let _: Value = tx
                .xadd(
                    self.inner.stream.clone(),
                    false,
                    self.max_len_cap(),
                    "*",
                    event_fields(&e.event, &e.meta),
                )
                .await
                .map_err(backend_error)?;
        }
        Ok(())
    }

    fn max_len_cap(&self) -> XCap {
        self.inner.cap.clone()
    }

    /// Writes dead letters and acks their originals (plus `extra_acks`) in one MULTI/EXEC.
    pub(crate) async fn write_dead_letters(
        &self,
        records: &[DlqRecord],
        extra_acks: &[EntryId],
    ) -> Result<(), BackendError> {
        self.check_open()?;
        if records.is_empty() && extra_acks.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let acks: Vec<&str> = records
            .iter()
            .filter_map(|r| r.original_id.as_ref().map(EntryId::as_str))
            .chain(extra_acks.iter().map(EntryId::as_str))
            .collect();
        let tx = inner.pool.next().multi();
        for r in records {
            let _: Value = tx
                .xadd(
                    inner.dlq.clone(),
                    false,
                    None::<()>,
                    "*",
                    r.fields(&inner.consumer),
                )
                .await
                .map_err(backend_error)?;
        }
        if !acks.is_empty() {
            let _: Value = tx
                .xack(inner.stream.clone(), inner.group.as_str(), acks)
                .await
                .map_err(backend_error)?;
        }
        let _: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC of dead letters"))?;
        let malformed = records
            .iter()
            .filter(|r| r.kind == DeadLetterKind::Malformed)
            .count();
        inner.counters.dead_lettered(records.len() as u64);
        inner.counters.malformed(malformed as u64);
        for r in records {
            warn!(
                stream = %inner.config.stream_key(),
                original_id = r.original_id.as_ref().map(EntryId::as_str).unwrap_or(""),
                kind = %kind_str(r.kind),
                attempts = r.attempts,
                reason = %r.reason,
                "dead-lettered"
            );
        }
        Ok(())
    }

    /// `XCLAIM key group consumer 0 ids IDLE claim_min_idle [RETRYCOUNT n] JUSTID`: the entries
    /// stay pending on this consumer but look idle, so the next pull of any worker reclaims
    /// them at once. `retry_count` sets their delivery count (else it is left as it is).
    async fn mark_idle(
        &self,
        ids: Vec<String>,
        retry_count: Option<u64>,
    ) -> Result<(), BackendError> {
        let inner = &self.inner;
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

    fn claim_due(&self) -> bool {
        let state = self
            .inner
            .claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Instant::now() >= state.next_check
    }

    fn wake_claim(&self) {
        let mut state = self
            .inner
            .claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.next_check = Instant::now();
    }

    /// Claims entries idle longer than `claim_min_idle` (XAUTOCLAIM), reads their delivery
    /// counts (XPENDING, pipelined), dead-letters the over-delivered and malformed ones, and
    /// returns the rest.
    async fn reclaim(&self, max: usize) -> Result<Vec<Delivery<EntryId>>, BackendError> {
        let inner = &self.inner;
        let start = {
            let state = inner.claim.lock().unwrap_or_else(PoisonError::into_inner);
            state.cursor.clone()
        };
        let min_idle = u64::try_from(inner.config.claim_min_idle.as_millis()).unwrap_or(u64::MAX);
        let client = inner.pool.next();
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
        {
            let mut state = inner.claim.lock().unwrap_or_else(PoisonError::into_inner);
            state.next_check = if next == "0-0" {
                Instant::now() + inner.config.claim_interval
            } else {
                Instant::now()
            };
            state.cursor = next;
        }
        if let Some(Value::Array(ids)) = deleted
            && !ids.is_empty()
        {
            warn!(
                stream = %inner.config.stream_key(),
                count = ids.len(),
                "pending entries were deleted from the stream before being acknowledged (trimmed?)"
            );
        }
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
            ) {
                deliveries.push(d);
            }
        }
        self.write_dead_letters(&records, &acks).await?;
        if !deliveries.is_empty() {
            inner.counters.recovered(deliveries.len() as u64);
            inner.counters.pulled(deliveries.len() as u64);
            debug!(stream = %inner.config.stream_key(), count = deliveries.len(), "reclaimed pending entries");
        }
        Ok(deliveries)
    }

    /// `XREADGROUP ... COUNT max [BLOCK wait] STREAMS key >`: on the reading connection when
    /// it blocks, otherwise on a pooled one, so that a spine's runners asking without waiting
    /// never queue behind another runner's `BLOCK`.
    async fn read_new(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<EntryId>>, BackendError> {
        let inner = &self.inner;
        let block = wait.min(inner.config.block_timeout);
        let block_ms = if block.is_zero() {
            None
        } else {
            Some(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1))
        };
        let options = Options {
            timeout: Some(block + inner.config.command_timeout.max(MIN_COMMAND_SLACK)),
            ..Options::default()
        };
        let mut retried = false;
        let reply = loop {
            let client = if block_ms.is_some() {
                &inner.reader
            } else {
                inner.pool.next()
            };
            let r: Result<Value, FredError> = client
                .with_options(&options)
                .xreadgroup(
                    inner.group.as_str(),
                    inner.consumer.as_str(),
                    Some(max as u64),
                    block_ms,
                    false,
                    inner.stream.clone(),
                    ">",
                )
                .await;
            match r {
                Ok(v) => break v,
                Err(e) if is_nogroup(&e) && !retried => {
                    retried = true;
                    self.ensure_group().await?;
                }
                Err(e) => return Err(backend_error(e)),
            }
        };
        let entries = parse_xreadgroup(reply)?;
        let mut deliveries = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut acks = Vec::new();
        for entry in entries {
            if let Some(d) = classify(entry, 1, inner.config.max_retries, &mut records, &mut acks) {
                deliveries.push(d);
            }
        }
        self.write_dead_letters(&records, &acks).await?;
        inner.counters.pulled(deliveries.len() as u64);
        Ok(deliveries)
    }

    async fn xack(&self, ids: &[EntryId]) -> Result<u64, BackendError> {
        let inner = &self.inner;
        let ids: Vec<&str> = ids.iter().map(EntryId::as_str).collect();
        let n: Value = inner
            .pool
            .next()
            .xack(inner.stream.clone(), inner.group.as_str(), ids)
            .await
            .map_err(backend_error)?;
        Ok(value_u64(&n).unwrap_or(0))
    }

    fn note_acked(&self, requested: usize, acked: u64) {
        self.inner.counters.acked(acked);
        if acked < requested as u64 {
            debug!(
                stream = %self.inner.config.stream_key(),
                requested,
                acked,
                "some entries were already acknowledged"
            );
        }
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

impl Backend for RedisBackend {
    type Token = EntryId;

    /// One `XADD` for a single event; a MULTI/EXEC of `XADD`s (one round trip, all or
    /// nothing) for a batch.
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.check_open()?;
        self.check_python(batch.iter().map(|e| &e.event))?;
        let inner = &self.inner;
        match batch.len() {
            0 => return Ok(()),
            1 => {
                let e = &batch[0];
                let _: Value = inner
                    .pool
                    .next()
                    .xadd(
                        inner.stream.clone(),
                        false,
                        self.max_len_cap(),
                        "*",
                        event_fields(&e.event, &e.meta),
                    )
                    .await
                    .map_err(|e| sent_write_error(e, "XADD"))?;
            }
            _ => {
                let tx = inner.pool.next().multi();
                self.queue_xadds(&tx, &batch).await?;
                let _: Value = tx
                    .exec(true)
                    .await
                    .map_err(|e| sent_write_error(e, "MULTI/EXEC enqueue"))?;
            }
        }
        inner.counters.enqueued(batch.len() as u64);
        Ok(())
    }

    /// Reclaims idle pending entries first (when a scan is due), then reads new ones.
    ///
    /// `max` is capped by `batch_size`, `wait` by `block_timeout`. Malformed and
    /// over-delivered entries are dead-lettered and acked on the way; they are not returned.
    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<EntryId>>, BackendError> {
        self.check_open()?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let max = max.min(self.inner.config.batch_size);
        if self.claim_due() {
            let reclaimed = self.reclaim(max).await?;
            if !reclaimed.is_empty() {
                return Ok(reclaimed);
            }
        }
        self.read_new(max, wait).await
    }

    /// One `XACK` for all the tokens.
    async fn ack(&self, tokens: Vec<EntryId>) -> Result<(), BackendError> {
        self.check_open()?;
        if tokens.is_empty() {
            return Ok(());
        }
        let n = self.xack(&tokens).await?;
        self.note_acked(tokens.len(), n);
        Ok(())
    }

    /// Below `max_retries` deliveries the entry stays pending, marked idle (`XCLAIM … IDLE
    /// claim_min_idle JUSTID`) so the next pull of any worker reclaims it at once, with its
    /// Redis delivery count (the attempt) raised by one. At `max_retries` it is dead-lettered
    /// and acked in one MULTI/EXEC.
    async fn nack(
        &self,
        delivery: Delivery<EntryId>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.check_open()?;
        let inner = &self.inner;
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

    /// `XCLAIM ... IDLE claim_min_idle RETRYCOUNT attempt-1 JUSTID`, one call per attempt
    /// number among the deliveries: each entry becomes claimable at once and its delivery count
    /// is set back, so its next delivery carries the same attempt number and does not count
    /// towards `max_retries`.
    async fn release(&self, deliveries: Vec<Delivery<EntryId>>) -> Result<(), BackendError> {
        self.check_open()?;
        let inner = &self.inner;
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

    /// The `XADD`s of every emitted event and the `XACK` of the sources in one MULTI/EXEC:
    /// a crash cannot leave the outputs without the ack or the ack without the outputs.
    async fn commit(&self, emitted: Vec<Envelope>, acks: Vec<EntryId>) -> Result<(), BackendError> {
        self.check_open()?;
        if emitted.is_empty() {
            return self.ack(acks).await;
        }
        if acks.is_empty() {
            return self.enqueue(emitted).await;
        }
        self.check_python(emitted.iter().map(|e| &e.event))?;
        let inner = &self.inner;
        let tx = inner.pool.next().multi();
        self.queue_xadds(&tx, &emitted).await?;
        let ids: Vec<&str> = acks.iter().map(EntryId::as_str).collect();
        let _: Value = tx
            .xack(inner.stream.clone(), inner.group.as_str(), ids)
            .await
            .map_err(backend_error)?;
        let reply: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC commit"))?;
        let acked = match &reply {
            Value::Array(items) => items.last().and_then(value_u64).unwrap_or(0),
            _ => 0,
        };
        inner.counters.enqueued(emitted.len() as u64);
        self.note_acked(acks.len(), acked);
        Ok(())
    }

    fn atomic_commit(&self) -> bool {
        true
    }
}
