//! The public backend: [`RedisBackend`], a cheap handle on the shared state of `connect.rs`,
//! its own methods and its `Backend` impl, each a call into `connect.rs`, `commit.rs`,
//! `reclaim.rs` or `read.rs`; and [`RedisConfigBuilder::connect`], which builds one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::KeysInterface;
use fred::types::{Key, Value};
use necro_core::{Backend, BackendError, Delivery, Envelope, NackOutcome};

use crate::config::{RedisConfig, RedisConfigBuilder};
use crate::connect::Inner;
use crate::consumers::PruneReport;
use crate::entry::EntryId;
use crate::error::{ConnectError, backend_error};
use crate::stats::RedisStats;
use crate::trim::TrimReport;

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
    pub fn builder(redis_url: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder::new(redis_url)
    }

    /// Starts a configuration builder from the environment (`NECRO_REDIS_URL`, `NECRO_STREAM`,
    /// `NECRO_GROUP`, `NECRO_CONSUMER`, …): `RedisBackend::builder_from_env()?.….connect().await`.
    /// See [`RedisConfig::builder_from_env`] for every variable.
    ///
    /// # Errors
    /// As [`RedisConfig::builder_from_env`]: a [`ConfigError`](crate::ConfigError) naming a
    /// variable that is required but unset, or set to a value that does not read.
    pub fn builder_from_env() -> Result<RedisConfigBuilder, crate::ConfigError> {
        RedisConfig::builder_from_env()
    }

    /// Connects the pool and the reading connection, checks Redis's `maxmemory-policy` (see
    /// [`EvictionCheck`](crate::EvictionCheck)), creates the consumer group (and the stream)
    /// if they do not exist yet, and starts the retention task (both unless
    /// [`create_group(false)`](RedisConfigBuilder::create_group); see
    /// [`RetentionPolicy`](crate::RetentionPolicy)).
    ///
    /// # Errors
    /// [`ConnectError`] when Redis cannot be reached in time, refuses the credentials, may
    /// evict the streams under [`EvictionCheck::Refuse`](crate::EvictionCheck::Refuse), or the
    /// group cannot be created. Its message masks the password.
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let inner = Arc::new(Inner::connect(config).await?);
        crate::trim::spawn(&inner);
        Ok(Self { inner })
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
        self.inner.ensure_group().await
    }

    /// Deletes this backend's stream and its dead-letter stream, with every entry, the
    /// consumer group and its pending entries, and the retention task's lease. Meant for
    /// throwaway streams (tests, demos): other workers on the same stream lose their work too.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn delete_streams(&self) -> Result<(), BackendError> {
        self.inner.check_open()?;
        let dlq = Key::from(self.inner.config.dlq_stream());
        let lease = Key::from(format!("{}:trim-lease", self.inner.config.stream_key()));
        let _: Value = self
            .inner
            .pool
            .next()
            .del(vec![self.inner.stream.clone(), dlq, lease])
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// Leaves the group cleanly and closes the connections: if this consumer holds no pending
    /// entries it is deleted from the group (so short-lived workers do not pile up in
    /// `XINFO CONSUMERS`); if it holds some it stays, so that other workers can claim them
    /// (`XGROUP DELCONSUMER` would drop them from the group). The check and the delete are one
    /// atomic step (a Lua script). A stream or group that is gone is nothing to leave. Every
    /// later call on this backend or its clones fails; a second `close` does nothing.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached (the connections are closed anyway).
    pub async fn close(&self) -> Result<(), BackendError> {
        self.inner.close().await
    }

    /// Deletes from the group the consumers that processes left behind without
    /// [`close`](Self::close) (a crash, a kill, a drop without close): every consumer idle for
    /// at least `min_idle` (`XINFO CONSUMERS`' `idle`) that holds no pending entries, never this
    /// backend's own. Consumers that still hold entries are kept, and listed in
    /// [`PruneReport::kept_pending`]: deleting them would drop their entries from the group;
    /// live workers claim the entries once they are `claim_min_idle_ms` old, and a later prune
    /// removes the emptied consumer. Each consumer's check and delete are one atomic step (a Lua
    /// script), so an entry read or claimed meanwhile is never lost.
    ///
    /// Choose `min_idle` well above `block_timeout` and your slowest handler: a live worker
    /// touches its consumer on every pull. Even so, removing a live worker's consumer loses
    /// nothing (it holds nothing); its next read recreates it. A missing stream or group has
    /// no consumers to remove.
    ///
    /// ```no_run
    /// # async fn demo(backend: necro_backend_redis::RedisBackend) -> Result<(), necro_core::BackendError> {
    /// use std::time::Duration;
    /// let report = backend.prune_consumers(Duration::from_secs(3600)).await?;
    /// println!("removed {:?}, still holding entries {:?}", report.removed, report.kept_pending);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`BackendError::Closed`] after [`close`](Self::close); another [`BackendError`] if Redis
    /// could not be reached or refused the script.
    pub async fn prune_consumers(&self, min_idle: Duration) -> Result<PruneReport, BackendError> {
        self.inner.prune_consumers(min_idle).await
    }
}

impl RedisBackend {
    /// Runs one retention pass now, whether or not this worker holds the trim lease: trims
    /// the main stream at the smaller of the safe floor and the retention bound, and bounds
    /// the dead-letter stream, as the background task does every
    /// [`interval`](crate::RetentionPolicy::interval). Safe alongside any other worker's
    /// pass (see `docs/redis.md`, "Retention"). The count bound applies once this backend
    /// has watched `max_entries` entries being added.
    ///
    /// # Errors
    /// [`BackendError::Closed`] after [`close`](Self::close); another [`BackendError`] if
    /// Redis could not be reached or answered in an unexpected shape.
    pub async fn trim(&self) -> Result<TrimReport, BackendError> {
        self.inner.check_open()?;
        Ok(self.inner.trim_pass(true).await?.unwrap_or_default())
    }
}

impl Backend for RedisBackend {
    type Token = EntryId;

    /// One `XADD` for a single event; a MULTI/EXEC of `XADD`s (one round trip, all or
    /// nothing) for a batch.
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.inner.enqueue(batch).await
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
        self.inner.check_open()?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let max = max.min(self.inner.config.batch_size);
        if self.inner.claim_due() {
            let reclaimed = self.inner.reclaim(max).await?;
            if !reclaimed.is_empty() {
                return Ok(reclaimed);
            }
        }
        self.inner.read_new(max, wait).await
    }

    /// One `XACK` for all the tokens.
    async fn ack(&self, tokens: Vec<EntryId>) -> Result<(), BackendError> {
        self.inner.ack(tokens).await
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
        self.inner.nack(delivery, reason).await
    }

    /// `XCLAIM ... IDLE claim_min_idle RETRYCOUNT attempt-1 JUSTID`, one call per attempt
    /// number among the deliveries: each entry becomes claimable at once and its delivery count
    /// is set back, so its next delivery carries the same attempt number and does not count
    /// towards `max_retries`.
    async fn release(&self, deliveries: Vec<Delivery<EntryId>>) -> Result<(), BackendError> {
        self.inner.release(deliveries).await
    }

    /// The `XADD`s of every emitted event and the `XACK` of the sources in one MULTI/EXEC:
    /// a crash cannot leave the outputs without the ack or the ack without the outputs.
    async fn commit(&self, emitted: Vec<Envelope>, acks: Vec<EntryId>) -> Result<(), BackendError> {
        self.inner.commit(emitted, acks).await
    }

    fn atomic_commit(&self) -> bool {
        true
    }

    /// The same as the inherent [`close`](RedisBackend::close): leaves the group when this
    /// consumer holds nothing pending, then closes the connections.
    async fn close(&self) -> Result<(), BackendError> {
        self.inner.close().await
    }
}

impl RedisConfigBuilder {
    /// Validates the options and connects: `builder.connect().await` is
    /// `RedisBackend::connect(builder.build()?).await`.
    ///
    /// # Errors
    /// [`ConnectError::Config`] for a bad option, the other variants when Redis cannot be
    /// reached or the group cannot be created.
    pub async fn connect(self) -> Result<RedisBackend, ConnectError> {
        RedisBackend::connect(self.build()?).await
    }
}
