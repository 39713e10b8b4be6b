//! The Redis backend passes the model check of `necro-testkit`, each case on a fresh stream
//! and group of the shared Redis (skipped without one, failed under `CI=true`), its dead
//! letters compared after every step. Redis claims first deliveries in order only: a pull
//! returns reclaimed (nacked, released) entries before new ones, and without them.
//!
//! With crashes: the crashed consumer is dropped unclosed, its pending entries are made idle
//! past `claim_min_idle` (as 30 s of silence would), and another consumer of the group goes
//! on; its pulls reclaim them (XAUTOCLAIM raises the delivery count) or dead-letter them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::interfaces::ClientLike;
use fred::prelude::Value;
use necro_backend_redis::RedisBackend;
use necro_testkit::{
    ModelConfig, ModelOrder, backend_model_check_with_crashes,
    backend_model_check_with_dead_letters,
};
use support::{Ctx, admin, cmd, unique_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_model_check() {
    if Ctx::shared("model").is_none() {
        return;
    }
    let max_retries = 2;
    // Every case's streams live until the end of the test, then are deleted (on drop).
    let contexts: Arc<Mutex<Vec<Ctx>>> = Arc::default();
    let config = ModelConfig::new(max_retries)
        .cases(32)
        .max_steps(40)
        .order(ModelOrder::FirstDeliveriesFifo)
        .pull_wait(Duration::from_millis(20));
    let started = Instant::now();
    let result = backend_model_check_with_dead_letters(
        || {
            let contexts = Arc::clone(&contexts);
            async move {
                let ctx = Ctx::shared("model").expect("Redis answered a moment ago");
                let backend = ctx
                    .builder()
                    .consumer_group(unique_key("group"))
                    .max_retries(max_retries)
                    .connect()
                    .await
                    .expect("connect");
                contexts.lock().unwrap().push(ctx);
                backend
            }
        },
        config,
    )
    .await;
    let cases = contexts.lock().unwrap().len();
    eprintln!("model check: {cases} backends in {:?}", started.elapsed());
    result.unwrap();
}

/// How long an entry must be idle before another consumer claims it, in these runs: longer
/// than any case lasts, so only a crash (which makes entries this idle) hands entries over.
const CLAIM_MIN_IDLE: Duration = Duration::from_secs(60);

/// The crash hook: the crashed consumer's pending entries look abandoned (idle past
/// `CLAIM_MIN_IDLE`; `XCLAIM … IDLE … JUSTID` leaves their delivery counts as they are), and
/// another consumer of the same group takes over.
async fn crash(url: String, crashed: (String, String, String), max_retries: u32) -> RedisBackend {
    let (stream, group, consumer) = crashed;
    let client = admin(&url).await;
    let reply = cmd(
        &client,
        "XPENDING",
        &[&stream, &group, "-", "+", "10000", &consumer],
    )
    .await;
    let ids: Vec<String> = match reply {
        Value::Array(rows) => rows
            .into_iter()
            .filter_map(|row| match row {
                Value::Array(row) => row.first().and_then(Value::as_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !ids.is_empty() {
        let idle = (CLAIM_MIN_IDLE.as_millis() * 2).to_string();
        let mut args: Vec<&str> = vec![&stream, &group, &consumer, "0"];
        args.extend(ids.iter().map(String::as_str));
        args.extend(["IDLE", &idle, "JUSTID"]);
        cmd(&client, "XCLAIM", &args).await;
    }
    client.quit().await.ok();
    RedisBackend::builder(url)
        .stream_key(stream)
        .consumer_group(group)
        .consumer_name(unique_key("after-crash"))
        .max_retries(max_retries)
        .claim_min_idle(CLAIM_MIN_IDLE)
        .connect()
        .await
        .expect("the next consumer connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_model_check_with_crashes() {
    let Some(shared) = Ctx::shared("model_crash") else {
        return;
    };
    let url = shared.url.clone();
    let max_retries = 2;
    let contexts: Arc<Mutex<Vec<Ctx>>> = Arc::default();
    let config = ModelConfig::new(max_retries)
        .cases(24)
        .max_steps(30)
        .order(ModelOrder::FirstDeliveriesFifo)
        .pull_wait(Duration::from_millis(20));
    let started = Instant::now();
    let result = backend_model_check_with_crashes(
        || {
            let contexts = Arc::clone(&contexts);
            async move {
                let ctx = Ctx::shared("model_crash").expect("Redis answered a moment ago");
                let backend = ctx
                    .builder()
                    .consumer_group(unique_key("group"))
                    .max_retries(max_retries)
                    .claim_min_idle(CLAIM_MIN_IDLE)
                    .connect()
                    .await
                    .expect("connect");
                contexts.lock().unwrap().push(ctx);
                backend
            }
        },
        |crashed: &RedisBackend| {
            let config = crashed.config();
            let who = (
                config.stream_key().to_owned(),
                config.consumer_group().to_owned(),
                config.consumer_name().to_owned(),
            );
            crash(url.clone(), who, max_retries)
        },
        config,
    )
    .await;
    let cases = contexts.lock().unwrap().len();
    eprintln!(
        "model check with crashes: {cases} backends in {:?}",
        started.elapsed()
    );
    result.unwrap();
}
