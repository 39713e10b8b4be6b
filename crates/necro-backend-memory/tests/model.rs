//! The in-memory backend passes the model check of `necro-testkit` with everything it
//! documents: strict queue order (a nack to the back, a release to the front) and eager
//! pulls, its dead letters compared after every step; with one delivery allowed and with
//! three.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use necro_backend_memory::MemoryBackend;
use necro_testkit::{ModelConfig, ModelOrder, backend_model_check_with_dead_letters};

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
