//! The connections and the state all clones of a backend share ([`Inner`]): connecting them
//! (and counting reconnections), creating the consumer group, failing fast once closed, and
//! closing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::clients::{Client, Pool};
use fred::error::Error as FredError;
use fred::interfaces::{ClientLike, EventInterface, StreamsInterface};
use fred::types::config::ReconnectPolicy;
use fred::types::streams::{XCap, XCapKind, XCapTrim};
use fred::types::{Builder, CustomCommand, Key, Value};
use necro_core::BackendError;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::RedisConfig;
use crate::entry::{flat_pairs, value_string};
use crate::error::{ConnectError, NoPermission, TlsRefusal, backend_error, is_busygroup};
use crate::retention::{EvictionCheck, evicts_streams};
use crate::stats::Counters;

/// What all clones of a `RedisBackend` share: the validated configuration, the connections,
/// the keys and names, the counters, the reclaim schedule and the closed flag. Its methods are
/// spread by concept: connecting and closing here, writes in `commit.rs`, redelivery in
/// `reclaim.rs`, reading in `read.rs`.
pub(crate) struct Inner {
    pub(crate) config: RedisConfig,
    /// Non-blocking commands: enqueue, ack, claim, DLQ, health.
    pub(crate) pool: Pool,
    /// The blocking `XREADGROUP` only, so nothing ever queues behind it.
    pub(crate) reader: Client,
    pub(crate) stream: Key,
    pub(crate) dlq: Key,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) cap: XCap,
    pub(crate) counters: Arc<Counters>,
    pub(crate) claim: Mutex<ClaimState>,
    /// Where the stream's end was at each retention tick (`trim.rs`).
    pub(crate) marks: Mutex<crate::floor::Marks>,
    closed: AtomicBool,
    listeners: Vec<JoinHandle<()>>,
}

/// The `XAUTOCLAIM` scan's progress and schedule.
pub(crate) struct ClaimState {
    /// Where the next `XAUTOCLAIM` scan starts (`0-0` = from the beginning of the PEL).
    pub(crate) cursor: String,
    /// When the next scan is due.
    pub(crate) next_check: Instant,
    /// A nack or release marked entries idle since the current pass started at `0-0`: they
    /// may lie behind the cursor, so the pass that ends next starts again at once.
    pub(crate) rescan: bool,
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

/// A connect failure, typed when it is a TLS refusal or an ACL refusal.
fn connect_error(url: &str, e: FredError) -> ConnectError {
    let url = url.to_owned();
    if let Some(source) = NoPermission::from_reply(e.details()) {
        return ConnectError::NoPermission { url, source };
    }
    if url.starts_with("rediss://")
        && let Some(source) = TlsRefusal::from_text(e.details())
    {
        return ConnectError::Tls { url, source };
    }
    ConnectError::Connect {
        url,
        source: Box::new(crate::error::RedisError::from(e)),
    }
}

/// The `NOPERM` refusal inside a backend error, if that is what it is.
fn no_permission(err: &BackendError) -> Option<NoPermission> {
    match err {
        BackendError::Command(source) => source.downcast_ref::<NoPermission>().cloned(),
        _ => None,
    }
}

impl Inner {
    /// Connects the pool and the reading connection, starts counting reconnections, and
    /// (unless `create_group` is off) creates the consumer group (and the stream) if they do
    /// not exist yet: the body of
    /// `RedisBackend::connect`, whose docs list the errors.
    pub(crate) async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let url = config.masked_url().to_owned();
        let connect_err = |e: FredError| connect_error(&url, e);
        #[allow(unused_mut)] // Only the `tls` feature sets a connector.
        let mut fred_config = fred::types::config::Config::from_url_centralized(&config.redis_url)
            .map_err(connect_err)?;
        #[cfg(feature = "tls")]
        if let Some(options) = &config.tls {
            fred_config.tls = Some(crate::tls::client_config(options)?.into());
        }
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
        let inner = Self {
            stream: Key::from(config.stream_key()),
            dlq: Key::from(config.dlq_stream()),
            group: config.consumer_group.clone(),
            consumer: config.consumer_name.clone(),
            cap,
            counters,
            claim: Mutex::new(ClaimState {
                cursor: "0-0".to_owned(),
                next_check: Instant::now(),
                rescan: false,
            }),
            marks: Mutex::new(crate::floor::Marks::default()),
            closed: AtomicBool::new(false),
            listeners,
            pool,
            reader,
            config,
        };
        if let Err(e) = inner.check_eviction().await {
            let _ = inner.pool.quit().await;
            let _ = inner.reader.quit().await;
            return Err(e);
        }
        if inner.config.create_group {
            inner
                .ensure_group()
                .await
                .map_err(|source| match no_permission(&source) {
                    Some(refused) => ConnectError::NoPermission {
                        url: inner.config.masked_url().to_owned(),
                        source: refused,
                    },
                    None => ConnectError::Group {
                        stream: inner.config.stream_key().to_owned(),
                        group: inner.group.clone(),
                        source,
                    },
                })?;
        }
        debug!(
            url = %inner.config.masked_url(),
            stream = %inner.config.stream_key(),
            group = %inner.group,
            consumer = %inner.consumer,
            "connected to Redis"
        );
        Ok(inner)
    }

    /// Reads `maxmemory-policy` (`CONFIG GET`): a policy that may evict the stream keys is a
    /// warning, or with [`EvictionCheck::Refuse`] an error. A server that refuses `CONFIG`
    /// (managed services often do) is not checked.
    async fn check_eviction(&self) -> Result<(), ConnectError> {
        let check = self.config.retention.eviction_check;
        if check == EvictionCheck::Off {
            return Ok(());
        }
        let reply: Result<Value, FredError> = self
            .pool
            .next()
            .custom(
                CustomCommand::new_static("CONFIG", None::<u16>, false),
                vec!["GET", "maxmemory-policy"],
            )
            .await;
        let policy = match reply {
            Ok(v) => flat_pairs(v)
                .into_iter()
                .find(|(k, _)| k == "maxmemory-policy")
                .and_then(|(_, v)| value_string(&v)),
            Err(e) => {
                debug!(url = %self.config.masked_url(), error = %e, "cannot read maxmemory-policy; not checked");
                None
            }
        };
        let Some(policy) = policy.filter(|p| evicts_streams(p)) else {
            return Ok(());
        };
        if check == EvictionCheck::Refuse {
            return Err(ConnectError::EvictionPolicy {
                url: self.config.masked_url().to_owned(),
                policy,
            });
        }
        warn!(
            url = %self.config.masked_url(),
            stream = %self.config.stream_key(),
            maxmemory_policy = %policy,
            "Redis may evict the stream keys under memory pressure, losing events silently; use noeviction (or a volatile-* policy), or EvictionCheck::Refuse to refuse such a server"
        );
        Ok(())
    }

    /// Creates the consumer group at the start of the stream (and the stream itself) unless
    /// it exists. Called by [`connect`](Self::connect); again whenever Redis answers
    /// `NOGROUP` (say, after a restart without persistence).
    ///
    /// # Errors
    /// A [`BackendError`] when Redis cannot be reached or refuses.
    pub(crate) async fn ensure_group(&self) -> Result<(), BackendError> {
        self.check_open()?;
        let r: Result<Value, FredError> = self
            .pool
            .next()
            .xgroup_create(self.stream.clone(), self.group.as_str(), "0", true)
            .await;
        match r {
            Ok(_) => {
                debug!(stream = %self.config.stream_key(), group = %self.group, "created consumer group");
                Ok(())
            }
            Err(e) if is_busygroup(&e) => Ok(()),
            Err(e) => Err(backend_error(e)),
        }
    }

    /// Leaves the group and closes the connections: the body of `RedisBackend::close`, whose
    /// docs say what it does.
    pub(crate) async fn close(&self) -> Result<(), BackendError> {
        let inner = self;
        if inner.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let left = inner.leave_group().await.map_err(backend_error);
        let _ = inner.reader.quit().await;
        let quit = inner.pool.quit().await.map_err(backend_error);
        left.and(quit)
    }

    /// With `python_compatible`, refuses events a Python consumer would dead-letter.
    pub(crate) fn check_python<'a>(
        &self,
        events: impl IntoIterator<Item = &'a necro_core::Event>,
    ) -> Result<(), BackendError> {
        if self.config.python_compatible {
            crate::python::check(events)
        } else {
            Ok(())
        }
    }

    /// Fails fast once [`close`](Self::close) ran, instead of waiting out a command timeout.
    pub(crate) fn check_open(&self) -> Result<(), BackendError> {
        if self.closed.load(Ordering::Relaxed) {
            Err(BackendError::Closed)
        } else {
            Ok(())
        }
    }
}
