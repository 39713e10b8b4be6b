//! The in-memory backend passes the backend conformance suite of `necro-testkit`: every case
//! it claims the capability for, each on a fresh queue. It does not claim what it cannot do:
//! `close` closes the one queue for every clone (no `independent_close`), a dropped consumer's
//! deliveries stay in flight until `requeue_in_flight` (no `crash_redelivery`), and nothing
//! survives the process (no `persistent`). It also passes the dead-letter queue suite through
//! the same factory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use necro_backend_memory::{DEFAULT_MAX_DELIVERIES, MemoryBackend};
use necro_core::BoxError;
use necro_testkit::backend::{BackendFactory, CASES, Capabilities};
use necro_testkit::{backend_conformance, dead_letter_queue_conformance_with};

/// A new queue per case; another consumer is a clone (the same queue).
struct Memory {
    max_deliveries: u32,
}

impl BackendFactory for Memory {
    type Backend = MemoryBackend;

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(self.max_deliveries)
            .atomic_commit(true)
            .ordered(true)
            .shared_consumers(true)
    }

    async fn fresh(&self) -> Result<MemoryBackend, BoxError> {
        Ok(MemoryBackend::builder()
            .max_deliveries(self.max_deliveries)
            .build()?)
    }

    async fn another_consumer(&self, of: &MemoryBackend) -> Result<MemoryBackend, BoxError> {
        Ok(of.clone())
    }

    /// A queue bounded at two, and three events: more than it can take at once.
    async fn refusing_commit(
        &self,
    ) -> Result<necro_testkit::backend::RefusedCommit<MemoryBackend>, BoxError> {
        let backend = MemoryBackend::builder()
            .max_deliveries(self.max_deliveries)
            .capacity(2)
            .build()?;
        let events = (0..3)
            .map(|n| necro_core::Event::new("REFUSED", necro_core::serde_json::json!({ "n": n })))
            .map(|e| e.map(necro_core::Envelope::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((backend, events)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_backend_conformance_suite() {
    let factory = Memory {
        max_deliveries: DEFAULT_MAX_DELIVERIES,
    };
    let report = backend_conformance(&factory).await.unwrap();
    for case in [
        "round_trip",
        "batch_pull",
        "ack_removes",
        "metadata",
        "bad_input",
        "order",
        "nack",
        "release",
        "commit",
        "atomic_commit_all_or_nothing",
        "shared_consumers",
        "concurrent_close",
    ] {
        assert!(report.ran(case), "{case} did not run: {report:?}");
    }
    for case in ["crash_redelivery", "consumer_restart", "persistence"] {
        assert!(report.skipped(case), "{case} was not skipped: {report:?}");
    }
    assert_eq!(report.ran.len() + report.skipped.len(), CASES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_with_other_maximum_deliveries() {
    for max_deliveries in [1, 5] {
        let factory = Memory { max_deliveries };
        let report = necro_testkit::backend::redelivery(&factory).await.unwrap();
        assert!(report.ran("nack") && report.ran("release"), "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_dead_letter_queue_suite_through_the_factory() {
    let factory = Memory {
        max_deliveries: DEFAULT_MAX_DELIVERIES,
    };
    dead_letter_queue_conformance_with(&factory).await.unwrap();
}
