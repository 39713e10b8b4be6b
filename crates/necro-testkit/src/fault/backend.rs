//! [`FaultyBackend`]: the wrapper, and its forwarding impls of every backend trait.

use std::future::Future;
use std::time::Duration;

use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterPage,
    DeadLetterQuery, DeadLetterQueue, DeadLetterSelection, DeadLetterStore, Delivery, Envelope,
    Event, Health, HealthReport, NackOutcome, PurgeReport, ReplayReport, error_chain,
};

use super::{Faults, Op};

/// A backend that forwards every call to the one it wraps — the trait methods with defaults
/// to the inner backend's own versions, and [`DeadLetterStore`], [`DeadLetterQueue`] and
/// [`Health`] when the inner backend implements them — except where its [`Faults`] script
/// fails or delays the call. It counts every call ([`Faults::calls`]).
///
/// [`atomic_commit`](Backend::atomic_commit) is the inner backend's, unless
/// [`split_commit`](Self::split_commit) makes the wrapper commit the non-atomic way.
#[derive(Debug, Clone)]
pub struct FaultyBackend<B> {
    inner: B,
    faults: Faults,
    split_commit: bool,
}

impl<B> FaultyBackend<B> {
    /// Wraps `inner` with an empty script of its own (see [`faults`](Self::faults)).
    #[must_use]
    pub fn new(inner: B) -> Self {
        Self::with_faults(inner, Faults::new())
    }

    /// Wraps `inner` with `faults`, a script the caller keeps a clone of.
    #[must_use]
    pub fn with_faults(inner: B, faults: Faults) -> Self {
        Self {
            inner,
            faults,
            split_commit: false,
        }
    }

    /// Commits the way [`Backend::commit`]'s default does, through this wrapper: an
    /// [`enqueue`](Backend::enqueue) of the emitted events, then an [`ack`](Backend::ack) of
    /// the tokens, each a call of its own that the script can fail (after the `Commit` call's
    /// own rules). [`atomic_commit`](Backend::atomic_commit) is then `false`. A failure of the
    /// ack leaves the events enqueued and the sources unacked: what a crash between the two
    /// steps does to a backend without an atomic commit.
    #[must_use]
    pub fn split_commit(mut self) -> Self {
        self.split_commit = true;
        self
    }

    /// The script (clone it to keep it: clones share the rules and counters).
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The wrapped backend.
    #[must_use]
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The wrapped backend, unwrapped.
    #[must_use]
    pub fn into_inner(self) -> B {
        self.inner
    }

    /// Runs one call of `op` through the script: counts it, waits its delay, then fails it or
    /// makes it (`call`), and after a successful call fails it if the script says so.
    async fn intercept<T, F, Fut>(&self, op: Op, call: F) -> Result<T, BackendError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let plan = self.faults.enter(op);
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        match plan.fail {
            None => call().await,
            Some((err, after)) => {
                if after {
                    call().await?;
                }
                self.faults.record_injected(op);
                Err(err)
            }
        }
    }
}

impl<B: Backend> Backend for FaultyBackend<B> {
    type Token = B::Token;

    async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.intercept(Op::Enqueue, || self.inner.enqueue(batch))
            .await
    }

    async fn send(&self, event: Event) -> Result<(), BackendError> {
        self.intercept(Op::Send, || self.inner.send(event)).await
    }

    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<B::Token>>, BackendError> {
        self.intercept(Op::Pull, || self.inner.pull(max, wait))
            .await
    }

    async fn ack(&self, tokens: Vec<B::Token>) -> Result<(), BackendError> {
        self.intercept(Op::Ack, || self.inner.ack(tokens)).await
    }

    async fn nack(
        &self,
        delivery: Delivery<B::Token>,
        reason: String,
    ) -> Result<NackOutcome, BackendError> {
        self.intercept(Op::Nack, || self.inner.nack(delivery, reason))
            .await
    }

    async fn release(&self, deliveries: Vec<Delivery<B::Token>>) -> Result<(), BackendError> {
        self.intercept(Op::Release, || self.inner.release(deliveries))
            .await
    }

    async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<B::Token>,
    ) -> Result<(), BackendError> {
        if self.split_commit {
            self.intercept(Op::Commit, || async move {
                if !emitted.is_empty() {
                    self.enqueue(emitted).await?;
                }
                if !acks.is_empty() {
                    self.ack(acks).await?;
                }
                Ok(())
            })
            .await
        } else {
            self.intercept(Op::Commit, || self.inner.commit(emitted, acks))
                .await
        }
    }

    fn atomic_commit(&self) -> bool {
        !self.split_commit && self.inner.atomic_commit()
    }

    async fn close(&self) -> Result<(), BackendError> {
        self.intercept(Op::Close, || self.inner.close()).await
    }
}

impl<B: DeadLetterStore> DeadLetterStore for FaultyBackend<B> {
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        self.intercept(Op::Store, || self.inner.store(letter)).await
    }
}

impl<B: DeadLetterQueue> DeadLetterQueue for FaultyBackend<B> {
    async fn dead_letter_count(&self) -> Result<u64, BackendError> {
        self.intercept(Op::DeadLetterQueue, || self.inner.dead_letter_count())
            .await
    }

    async fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> Result<DeadLetterPage, BackendError> {
        self.intercept(Op::DeadLetterQueue, || self.inner.dead_letter_page(query))
            .await
    }

    async fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> Result<Option<DeadLetterEntry>, BackendError> {
        self.intercept(Op::DeadLetterQueue, || self.inner.dead_letter(id))
            .await
    }

    async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<ReplayReport, BackendError> {
        self.intercept(Op::DeadLetterQueue, || {
            self.inner.replay_dead_letters(selection)
        })
        .await
    }

    async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeReport, BackendError> {
        self.intercept(Op::DeadLetterQueue, || {
            self.inner.purge_dead_letters(selection)
        })
        .await
    }
}

impl<B: Health> Health for FaultyBackend<B> {
    /// The inner backend's report, or (when the script fails the call) an unhealthy one with
    /// the injected error's message.
    async fn health(&self) -> HealthReport {
        let result = self
            .intercept(Op::Health, || async { Ok(self.inner.health().await) })
            .await;
        result.unwrap_or_else(|err| HealthReport::unhealthy(error_chain(&err)))
    }
}
