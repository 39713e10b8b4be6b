//! The Redis backend passes the backend conformance suite of `necro-testkit`: every case on
//! a fresh stream and group of the shared Redis (skipped without one, failed under
//! `CI=true`), with `claim_min_idle` short so that a dropped consumer's deliveries are
//! claimed within a second; and the `persistence` case on a private `redis-server` with the
//! append-only file on, which the factory kills and starts again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use necro_backend_redis::{DEFAULT_MAX_RETRIES, RedisBackend, RedisConfigBuilder};
use necro_core::BoxError;
use necro_testkit::backend::{BackendFactory, CASES, Capabilities};
use necro_testkit::{backend_conformance, dead_letter_queue_conformance_with};
use support::{Ctx, RedisServer, unique_key};

/// How long a delivery stays with a consumer that does not finish it before another may claim
/// it. Short, for the crash case; well above what the cases take between pull and ack.
const CLAIM_MIN_IDLE: Duration = Duration::from_secs(1);

/// Test-friendly settings on `stream` and `group` of the server at `url`.
fn builder(url: &str, stream: &str, group: &str) -> RedisConfigBuilder {
    RedisBackend::builder(url)
        .stream_key(stream)
        .consumer_group(group)
        .pool_size(2)
        .block_timeout(Duration::from_millis(200))
        .claim_min_idle(CLAIM_MIN_IDLE)
}

/// A new stream and group per case; another consumer is a new connection and consumer in the
/// same group. The streams are deleted when the factory is dropped.
struct SharedRedis {
    contexts: Mutex<Vec<Ctx>>,
    url: String,
}

impl SharedRedis {
    fn new() -> Option<Self> {
        let ctx = Ctx::shared("backend_conformance")?;
        Some(Self {
            url: ctx.url.clone(),
            contexts: Mutex::new(vec![ctx]),
        })
    }
}

fn capabilities() -> Capabilities {
    Capabilities::new(DEFAULT_MAX_RETRIES)
        .atomic_commit(true)
        .ordered(true)
        .shared_consumers(true)
        .independent_close(true)
        .crash_redelivery(Some(CLAIM_MIN_IDLE))
}

async fn same_queue(url: &str, of: &RedisBackend) -> Result<RedisBackend, BoxError> {
    let config = of.config();
    Ok(builder(url, config.stream_key(), config.consumer_group())
        .connect()
        .await?)
}

impl BackendFactory for SharedRedis {
    type Backend = RedisBackend;

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn fresh(&self) -> Result<RedisBackend, BoxError> {
        let ctx = Ctx::shared("backend_conformance").ok_or("Redis stopped answering")?;
        let backend = builder(&ctx.url, &ctx.stream, &unique_key("group"))
            .connect()
            .await?;
        self.contexts.lock().unwrap().push(ctx);
        Ok(backend)
    }

    async fn another_consumer(&self, of: &RedisBackend) -> Result<RedisBackend, BoxError> {
        same_queue(&self.url, of).await
    }

    /// A `python_compatible` backend, and a batch with one event a Python consumer would
    /// dead-letter (its payload is 999,998 bytes to Rust, 1,999,989 characters to Python)
    /// between two it would read.
    async fn refusing_commit(
        &self,
    ) -> Result<necro_testkit::backend::RefusedCommit<RedisBackend>, BoxError> {
        let ctx = Ctx::shared("backend_conformance").ok_or("Redis stopped answering")?;
        let backend = builder(&ctx.url, &ctx.stream, &unique_key("group"))
            .python_compatible(true)
            .connect()
            .await?;
        self.contexts.lock().unwrap().push(ctx);
        let small = |n: u64| necro_core::Event::new("FINE", serde_json::json!({ "n": n }));
        let big = necro_core::Event::new(
            "TOO_BIG_FOR_PYTHON",
            serde_json::json!({ "x": "\u{4e2d}".repeat(333_330) }),
        )?;
        let batch = vec![small(1)?, big, small(2)?];
        Ok(Some((
            backend,
            batch.into_iter().map(necro_core::Envelope::new).collect(),
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_backend_conformance_suite() {
    let Some(factory) = SharedRedis::new() else {
        return;
    };
    let report = backend_conformance(&factory).await.unwrap();
    for case in CASES {
        let skipped = ["persistence"].contains(case);
        assert_eq!(report.skipped(case), skipped, "{case}: {report:?}");
        assert_eq!(report.ran(case), !skipped, "{case}: {report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_dead_letter_queue_suite_through_the_factory() {
    let Some(factory) = SharedRedis::new() else {
        return;
    };
    dead_letter_queue_conformance_with(&factory).await.unwrap();
}

/// A private `redis-server` with the append-only file on: `restart` kills it (`kill -9`),
/// starts it again on the same port and directory, and reconnects to the same stream and
/// group.
struct PrivateRedis {
    server: Mutex<RedisServer>,
    url: String,
}

impl BackendFactory for PrivateRedis {
    type Backend = RedisBackend;

    fn capabilities(&self) -> Capabilities {
        capabilities().persistent(true)
    }

    async fn fresh(&self) -> Result<RedisBackend, BoxError> {
        let stream = unique_key("backend_conformance");
        Ok(builder(&self.url, &stream, &unique_key("group"))
            .connect()
            .await?)
    }

    async fn another_consumer(&self, of: &RedisBackend) -> Result<RedisBackend, BoxError> {
        same_queue(&self.url, of).await
    }

    async fn restart(&self, backend: RedisBackend) -> Result<RedisBackend, BoxError> {
        let config = backend.config().clone();
        drop(backend);
        self.server.lock().unwrap().restart();
        Ok(
            builder(&self.url, config.stream_key(), config.consumer_group())
                .connect()
                .await?,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keeps_what_was_not_acked_across_a_server_restart() {
    let Some(server) = RedisServer::start(true) else {
        return;
    };
    let factory = PrivateRedis {
        url: server.url(),
        server: Mutex::new(server),
    };
    let report = necro_testkit::backend::persistence(&factory).await.unwrap();
    assert!(report.ran("persistence"), "{report:?}");
}
