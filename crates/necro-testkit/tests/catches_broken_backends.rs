//! The suites can fail: a memory backend with one bug planted in its dead-letter queue fails
//! the scenario that covers that bug, and one with a bug planted in its queue (nack, pull,
//! release, close) fails the backend suite's case that covers it, each with a message saying
//! what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::{
    Backend, BackendError, BoxError, DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterPage,
    DeadLetterQuery, DeadLetterQueue, DeadLetterSelection, DeadLetterStore, Delivery, Envelope,
    Headers, ListOrder, NackOutcome, PurgeReport, ReplayReport,
};
use necro_testkit::backend::{BackendFactory, Capabilities};
use necro_testkit::{backend_conformance, dead_letter_queue_conformance};

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

/// Bugs planted in the queue itself, for the backend suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueueBug {
    /// A nack gives the delivery back without raising its attempt (a release).
    NackKeepsAttempt,
    /// Every thousandth delivery a pull takes is acked and never handed out.
    LosesOneInThousand,
    /// `release` is the trait's default: it nacks, counting an attempt.
    ReleaseCountsAttempt,
    /// A pull hands out deliveries without their headers.
    DropsHeaders,
    /// `close` is the trait's default: it does nothing.
    CloseDoesNothing,
    /// `commit` acks the sources first, then enqueues the emitted events: a refused enqueue
    /// leaves the sources acked and lost.
    CommitAcksFirst,
}

/// A memory backend with one [`QueueBug`]; clones share the queue and the pull counter.
#[derive(Clone)]
struct Planted {
    inner: MemoryBackend,
    bug: QueueBug,
    pulled: Arc<AtomicUsize>,
}

impl Backend for Planted {
    type Token = MemoryToken;
    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.inner.enqueue(batch).await
    }
    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<MemoryToken>>, BackendError> {
        let mut batch = self.inner.pull(max, wait).await?;
        match self.bug {
            QueueBug::LosesOneInThousand => {
                let before = self.pulled.fetch_add(batch.len(), Ordering::SeqCst);
                let lost = (before..before + batch.len()).position(|i| i % 1000 == 999);
                if let Some(at) = lost {
                    let gone = batch.remove(at);
                    self.inner.ack(vec![gone.token]).await?;
                }
            }
            QueueBug::DropsHeaders => {
                for d in &mut batch {
                    d.meta.headers = Headers::default();
                }
            }
            _ => {}
        }
        Ok(batch)
    }
    async fn ack(&self, tokens: Vec<MemoryToken>) -> Result<(), BackendError> {
        self.inner.ack(tokens).await
    }
    async fn nack(
        &self,
        delivery: Delivery<MemoryToken>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        if self.bug == QueueBug::NackKeepsAttempt && delivery.attempt < self.inner.max_deliveries()
        {
            let next_attempt = delivery.attempt + 1;
            self.inner.release(vec![delivery]).await?;
            return Ok(NackOutcome::Requeued { next_attempt });
        }
        self.inner.nack(delivery, reason).await
    }
    async fn release(&self, deliveries: Vec<Delivery<MemoryToken>>) -> Result<(), BackendError> {
        if self.bug == QueueBug::ReleaseCountsAttempt {
            for delivery in deliveries {
                self.nack(delivery, "released unhandled".to_owned()).await?;
            }
            return Ok(());
        }
        self.inner.release(deliveries).await
    }
    async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<MemoryToken>,
    ) -> Result<(), BackendError> {
        if self.bug == QueueBug::CommitAcksFirst {
            self.inner.ack(acks).await?;
            return self.inner.enqueue(emitted).await;
        }
        self.inner.commit(emitted, acks).await
    }
    fn atomic_commit(&self) -> bool {
        self.inner.atomic_commit()
    }
    async fn close(&self) -> Result<(), BackendError> {
        if self.bug == QueueBug::CloseDoesNothing {
            return Ok(());
        }
        Backend::close(&self.inner).await
    }
}

struct PlantedFactory(QueueBug);

impl BackendFactory for PlantedFactory {
    type Backend = Planted;

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(necro_backend_memory::DEFAULT_MAX_DELIVERIES)
            .atomic_commit(true)
            .ordered(true)
            .shared_consumers(true)
    }

    async fn fresh(&self) -> Result<Planted, BoxError> {
        Ok(Planted {
            inner: MemoryBackend::new(),
            bug: self.0,
            pulled: Arc::default(),
        })
    }

    async fn another_consumer(&self, of: &Planted) -> Result<Planted, BoxError> {
        Ok(of.clone())
    }

    /// A queue bounded at two, and three events to commit.
    async fn refusing_commit(
        &self,
    ) -> Result<necro_testkit::backend::RefusedCommit<Planted>, BoxError> {
        let planted = Planted {
            inner: MemoryBackend::builder().capacity(2).build()?,
            bug: self.0,
            pulled: Arc::default(),
        };
        let events = (0..3)
            .map(|n| necro_core::Event::new("REFUSED", necro_core::serde_json::json!({ "n": n })))
            .map(|e| e.map(Envelope::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((planted, events)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_bug_planted_in_the_queue_fails_the_case_that_covers_it() {
    for (bug, case, says) in [
        (
            QueueBug::NackKeepsAttempt,
            "nack",
            "attempt of the delivery: got 1, expected 2",
        ),
        (
            QueueBug::LosesOneInThousand,
            "shared_consumers",
            "acked 4995 events of 5000",
        ),
        (
            QueueBug::ReleaseCountsAttempt,
            "release",
            "after 1 releases",
        ),
        (
            QueueBug::DropsHeaders,
            "metadata",
            "metadata after enqueue and pull",
        ),
        (
            QueueBug::CloseDoesNothing,
            "bad_input",
            "a send after close was accepted",
        ),
        (
            QueueBug::CommitAcksFirst,
            "atomic_commit_all_or_nothing",
            "release after the refused commit failed",
        ),
    ] {
        let failure = backend_conformance(&PlantedFactory(bug))
            .await
            .expect_err("a broken backend passed the suite");
        assert_eq!(failure.scenario, case, "{bug:?}: {failure}");
        assert!(failure.message.contains(says), "{bug:?}: {failure}");
        assert!(failure.to_string().contains(case), "{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_unbroken_wrapper_passes() {
    // The wrapper forwards everything when its bug does not apply: a bug of `pull` only,
    // checked by the cases that do not pull a thousand events, passes them.
    let factory = PlantedFactory(QueueBug::LosesOneInThousand);
    let report = necro_testkit::backend::basics(&factory).await.unwrap();
    assert_eq!(report.ran.len(), 5, "{report:?}");
}
