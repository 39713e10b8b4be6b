//! The suite can fail: a memory backend with one bug planted in its dead-letter queue fails
//! the scenario that covers that bug, with a message saying what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterPage,
    DeadLetterQuery, DeadLetterQueue, DeadLetterSelection, DeadLetterStore, Delivery, Envelope,
    ListOrder, NackOutcome, PurgeReport, ReplayReport,
};
use necro_testkit::dead_letter_queue_conformance;

#[derive(Clone, Copy, Debug)]
enum Bug {
    /// Newest-first listings come oldest first.
    NewestAsOldest,
    /// A page ignores its cursor.
    IgnoresCursor,
    /// A replay enqueues every event twice.
    ReplaysTwice,
    /// A replay never reports missing ids.
    HidesMissing,
}

struct Broken {
    inner: MemoryBackend,
    bug: Bug,
}

impl Backend for Broken {
    type Token = MemoryToken;
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.inner.enqueue(batch).await
    }
    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<MemoryToken>>, BackendError> {
        self.inner.pull(max, wait).await
    }
    async fn ack(&self, tokens: Vec<MemoryToken>) -> Result<(), BackendError> {
        self.inner.ack(tokens).await
    }
    async fn nack(
        &self,
        delivery: Delivery<MemoryToken>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.inner.nack(delivery, reason).await
    }
}

impl DeadLetterStore for Broken {
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        self.inner.store(letter).await
    }
}

impl DeadLetterQueue for Broken {
    async fn dead_letter_count(&self) -> Result<u64, BackendError> {
        self.inner.dead_letter_count().await
    }
    async fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> Result<DeadLetterPage, BackendError> {
        let query = match self.bug {
            Bug::NewestAsOldest => query.clone().order(ListOrder::OldestFirst),
            Bug::IgnoresCursor => query.clone().after(None),
            _ => query.clone(),
        };
        self.inner.dead_letter_page(&query).await
    }
    async fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> Result<Option<DeadLetterEntry>, BackendError> {
        self.inner.dead_letter(id).await
    }
    async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<ReplayReport, BackendError> {
        let before = self.inner.dead_letters().list();
        let mut report = self.inner.replay_dead_letters(selection).await?;
        match self.bug {
            Bug::ReplaysTwice => {
                let after = self.inner.dead_letters().list();
                let again = before
                    .into_iter()
                    .filter(|l| !after.contains(l))
                    .map(|l| Envelope::with_meta(l.event, l.meta))
                    .collect();
                self.inner.enqueue(again).await?;
            }
            Bug::HidesMissing => report.missing.clear(),
            _ => {}
        }
        Ok(report)
    }
    async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeReport, BackendError> {
        self.inner.purge_dead_letters(selection).await
    }
}

async fn failure_of(bug: Bug) -> necro_testkit::ConformanceError {
    dead_letter_queue_conformance(|| async move {
        Broken {
            inner: MemoryBackend::new(),
            bug,
        }
    })
    .await
    .expect_err("a broken backend passed the suite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_planted_bug_fails_the_scenario_that_covers_it() {
    for (bug, scenario, says) in [
        (Bug::NewestAsOldest, "count_and_order", "ids newest first"),
        (Bug::IgnoresCursor, "paging", "did not end"),
        (Bug::ReplaysTwice, "replay_one", "nothing more on the queue"),
        (Bug::HidesMissing, "replay_one", "missing"),
    ] {
        let failure = failure_of(bug).await;
        assert_eq!(failure.scenario, scenario, "{bug:?}: {failure}");
        assert!(failure.message.contains(says), "{bug:?}: {failure}");
        assert!(failure.to_string().contains(scenario), "{failure}");
    }
}
