//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::serde_json::json;
use necro_core::{Backend, Delivery, Envelope, Event};

/// An event of type `TEST` whose payload carries `n`.
pub fn event(n: u64) -> Event {
    Event::new("TEST", json!({ "n": n })).unwrap()
}

/// Envelopes for events numbered by `ns`.
pub fn envelopes(ns: impl IntoIterator<Item = u64>) -> Vec<Envelope> {
    ns.into_iter().map(|n| Envelope::new(event(n))).collect()
}

/// The number an event made by [`event`] carries.
pub fn n_of(event: &Event) -> u64 {
    event.payload()["n"].as_u64().unwrap()
}

/// The numbers of a batch of deliveries, in order.
pub fn ns(deliveries: &[Delivery<MemoryToken>]) -> Vec<u64> {
    deliveries.iter().map(|d| n_of(&d.event)).collect()
}

/// The tokens of a batch of deliveries.
pub fn tokens(deliveries: &[Delivery<MemoryToken>]) -> Vec<MemoryToken> {
    deliveries.iter().map(|d| d.token).collect()
}

/// Pulls up to `max` without waiting.
pub async fn pull_now(backend: &MemoryBackend, max: usize) -> Vec<Delivery<MemoryToken>> {
    backend.pull(max, Duration::ZERO).await.unwrap()
}
