//! `health()` reports the queue's figures, and unhealthy once closed.

mod support;

use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
use necro_core::serde_json::{Value, json};
use necro_core::{Backend, Health};
use support::{envelopes, pull_now};

#[tokio::test]
async fn health_reports_depth_in_flight_and_dead_letters() {
    let store = MemoryDeadLetters::new(1).unwrap();
    let backend = MemoryBackend::builder()
        .capacity(100)
        .max_deliveries(1)
        .dead_letters(store)
        .build()
        .unwrap();
    backend.enqueue(envelopes(0..5)).await.unwrap();
    let got = pull_now(&backend, 3).await;
    let mut got = got.into_iter();
    for d in got.by_ref().take(2) {
        backend.nack(d, "x".into()).await.unwrap();
    }

    let report = backend.health().await;
    assert!(report.healthy);
    assert_eq!(report.error, None);
    assert_eq!(report.details["depth"], json!(2));
    assert_eq!(report.details["in_flight"], json!(1));
    assert_eq!(report.details["dead_letters"], json!(1));
    assert_eq!(report.details["dead_letters_dropped"], json!(1));
    assert_eq!(report.details["capacity"], json!(100));
}

#[tokio::test]
async fn an_unbounded_queue_reports_no_capacity() {
    let report = MemoryBackend::new().health().await;
    assert!(report.healthy);
    assert_eq!(report.details["capacity"], Value::Null);
}

#[tokio::test]
async fn a_closed_backend_is_unhealthy() {
    let backend = MemoryBackend::new();
    backend.close();
    let report = backend.health().await;
    assert!(!report.healthy);
    assert!(report.error.is_some());
    assert_eq!(report.details["depth"], json!(0));
}
