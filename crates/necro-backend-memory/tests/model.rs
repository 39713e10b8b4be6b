//! The in-memory backend passes the model check of `necro-testkit` with everything it
//! documents: strict queue order (a nack to the back, a release to the front) and eager
//! pulls, its dead letters compared after every step; with one delivery allowed and with
//! three; and with crashes, recovered by `requeue_in_flight`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use necro_backend_memory::MemoryBackend;
use necro_testkit::{
    ModelConfig, ModelOrder, backend_model_check_with_crashes,
    backend_model_check_with_dead_letters,
};

async fn check(max_deliveries: u32, cases: u32) {
    let config = ModelConfig::new(max_deliveries)
        .cases(cases)
        .max_steps(40)
        .order(ModelOrder::Strict)
        .eager_pull(true);
    backend_model_check_with_dead_letters(
        || async move {
            MemoryBackend::builder()
                .max_deliveries(max_deliveries)
                .build()
                .unwrap()
        },
        config,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn passes_the_model_check_with_three_deliveries() {
    check(3, 128).await;
}

#[tokio::test]
async fn passes_the_model_check_with_one_delivery() {
    check(1, 64).await;
}

#[tokio::test]
async fn passes_the_model_check_with_two_deliveries() {
    check(2, 128).await;
}

/// A consumer that crashes holding deliveries: `requeue_in_flight` gives them back at the
/// back of the queue with the attempt raised, or dead-letters the last allowed delivery.
async fn check_with_crashes(max_deliveries: u32, cases: u32) {
    let config = ModelConfig::new(max_deliveries)
        .cases(cases)
        .max_steps(40)
        .order(ModelOrder::Strict)
        .eager_pull(true);
    backend_model_check_with_crashes(
        || async move {
            MemoryBackend::builder()
                .max_deliveries(max_deliveries)
                .build()
                .unwrap()
        },
        |crashed: &MemoryBackend| {
            let queue = crashed.clone();
            async move {
                queue.requeue_in_flight();
                queue
            }
        },
        config,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn passes_the_model_check_with_crashes() {
    check_with_crashes(3, 128).await;
}

#[tokio::test]
async fn passes_the_model_check_with_crashes_and_one_delivery() {
    check_with_crashes(1, 64).await;
}
