//! The Redis backend passes the model check of `necro-testkit`, each case on a fresh stream
//! and group of the shared Redis (skipped without one, failed under `CI=true`), its dead
//! letters compared after every step. Redis claims first deliveries in order only: a pull
//! returns reclaimed (nacked, released) entries before new ones, and without them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use necro_testkit::{ModelConfig, ModelOrder, backend_model_check_with_dead_letters};
use support::{Ctx, unique_key};

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
