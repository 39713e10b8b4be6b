//! The model check can fail: a memory backend with one bug planted in its queue fails it,
//! with the shrunk sequence that shows the bug and a message saying what went wrong; so does
//! a crash recovery with a bug planted in it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryToken};
use necro_core::{Backend, BackendError, Delivery, Envelope, NackOutcome};
use necro_testkit::{
    ModelConfig, ModelOrder, backend_model_check, backend_model_check_with_crashes,
};

#[derive(Clone, Copy, Debug)]
enum Bug {
    /// `release` is the trait's default: a nack, which raises the attempt.
    ReleaseCountsAttempt,
    /// An ack also takes the next queued event and acks it: that event is lost.
    AckLosesAnother,
    /// A release puts the events back twice.
    ReleaseDuplicates,
    /// A nack gives the delivery back without counting it, and never dead-letters.
    NackDoesNotCount,
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
        let some = !tokens.is_empty();
        self.inner.ack(tokens).await?;
        if let Bug::AckLosesAnother = self.bug
            && some
        {
            let lost = self.inner.pull(1, Duration::ZERO).await?;
            self.inner
                .ack(lost.into_iter().map(|d| d.token).collect())
                .await?;
        }
        Ok(())
    }

    async fn nack(
        &self,
        delivery: Delivery<MemoryToken>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        if let Bug::NackDoesNotCount = self.bug {
            let next_attempt = delivery.attempt + 1;
            self.inner.release(vec![delivery]).await?;
            return Ok(NackOutcome::Requeued { next_attempt });
        }
        self.inner.nack(delivery, reason).await
    }

    async fn release(&self, deliveries: Vec<Delivery<MemoryToken>>) -> Result<(), BackendError> {
        match self.bug {
            Bug::ReleaseCountsAttempt => {
                for delivery in deliveries {
                    self.inner
                        .nack(delivery, "released unhandled".into())
                        .await?;
                }
                Ok(())
            }
            Bug::ReleaseDuplicates => {
                let copies = deliveries
                    .iter()
                    .map(|d| Envelope::with_meta(d.event.clone(), d.meta.clone()))
                    .collect();
                self.inner.release(deliveries).await?;
                self.inner.enqueue(copies).await
            }
            _ => self.inner.release(deliveries).await,
        }
    }
}

async fn failure_of(bug: Bug, order: ModelOrder) -> necro_testkit::ConformanceError {
    let config = ModelConfig::new(3)
        .cases(64)
        .order(order)
        .seed(7)
        // A lost event is waited for this long, in every shrinking run that loses one.
        .drain_timeout(Duration::from_millis(300));
    backend_model_check(
        || async move {
            Broken {
                inner: MemoryBackend::builder().max_deliveries(3).build().unwrap(),
                bug,
            }
        },
        config,
    )
    .await
    .expect_err("a broken backend passed the model check")
}

#[tokio::test]
async fn each_planted_bug_fails_the_model_check_with_a_short_sequence() {
    for (bug, says) in [
        (
            Bug::ReleaseCountsAttempt,
            "expected 1 (raised by each nack, never by a release)",
        ),
        (Bug::AckLosesAnother, "never came"),
        (Bug::ReleaseDuplicates, "delivered twice"),
        (Bug::NackDoesNotCount, "with attempt 1, expected 2"),
    ] {
        // Tolerant order: these bugs break more than order.
        let failure = failure_of(bug, ModelOrder::Unordered).await;
        eprintln!("{bug:?}:\n{failure}\n");
        assert_eq!(failure.scenario, "model", "{bug:?}: {failure}");
        assert!(failure.message.contains(says), "{bug:?}: {failure}");
        assert!(failure.message.contains("minimal sequence"), "{failure}");
        let steps = failure.message.lines().filter(|l| l.contains(". ")).count();
        assert!(steps <= 8, "{bug:?}: not shrunk far: {failure}");
    }
}

#[tokio::test]
async fn the_unbroken_memory_backend_passes_with_the_same_seed() {
    let config = ModelConfig::new(3)
        .cases(64)
        .seed(7)
        .order(ModelOrder::Strict)
        .eager_pull(true);
    backend_model_check(
        || async { MemoryBackend::builder().max_deliveries(3).build().unwrap() },
        config,
    )
    .await
    .unwrap();
}

/// A crash recovery with a bug in it.
#[derive(Clone, Copy, Debug)]
enum RecoveryBug {
    /// The crashed consumer's deliveries are never given back: lost.
    LosesInFlight,
    /// They are given back, and a copy of each is enqueued too: delivered twice.
    Duplicates,
}

async fn recover(queue: MemoryBackend, bug: RecoveryBug) -> MemoryBackend {
    match bug {
        RecoveryBug::LosesInFlight => {}
        RecoveryBug::Duplicates => {
            let back = queue.requeue_in_flight();
            let again = queue.pull(back.max(1), Duration::ZERO).await.unwrap();
            let copies = again
                .iter()
                .map(|d| Envelope::with_meta(d.event.clone(), d.meta.clone()))
                .collect();
            queue.release(again).await.unwrap();
            queue.enqueue(copies).await.unwrap();
        }
    }
    queue
}

#[tokio::test]
async fn each_planted_recovery_bug_fails_the_model_check_with_crashes() {
    for (bug, says) in [
        (RecoveryBug::LosesInFlight, "never came"),
        (RecoveryBug::Duplicates, "delivered twice"),
    ] {
        let config = ModelConfig::new(3)
            .cases(64)
            .seed(7)
            .order(ModelOrder::Unordered)
            .drain_timeout(Duration::from_millis(300));
        let failure = backend_model_check_with_crashes(
            || async { MemoryBackend::builder().max_deliveries(3).build().unwrap() },
            |crashed: &MemoryBackend| recover(crashed.clone(), bug),
            config,
        )
        .await
        .expect_err("a broken recovery passed the model check");
        eprintln!("{bug:?}:\n{failure}\n");
        assert!(failure.message.contains(says), "{bug:?}: {failure}");
        assert!(failure.message.contains("Crash"), "{bug:?}: {failure}");
        let steps = failure.message.lines().filter(|l| l.contains(". ")).count();
        assert!(steps <= 8, "{bug:?}: not shrunk far: {failure}");
    }
}
