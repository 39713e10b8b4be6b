//! Commit: settling what a runner's dispatches decided. Dead letters and nacks first, then one
//! batch commit of every ack and emitted event; when that fails, source by source per the
//! enqueue failure mode, or (the backend unreachable) the whole batch at once; and giving
//! deliveries back unhandled.

use necro_core::{
    Backend, BackendError, DeadLetter, DeadLetterKind, Delivery, Envelope, NackOutcome,
};
use tokio::time::Instant;

use crate::config::{EnqueueFailureMode, backoff};
use crate::dispatch::{Done, Outcome};
use crate::error::RunError;
use crate::state::{Inner, RunShared};
use crate::telemetry::TARGET;

/// Commits one runner's finished deliveries: borrows what it needs from the runner.
pub(crate) struct Committer<'a, B: Backend> {
    pub(crate) inner: &'a Inner<B>,
    pub(crate) shared: &'a RunShared,
    /// The runner's count of consecutive unreachable commits whose sources had to be given
    /// back (the pause before the next pull grows with it).
    pub(crate) commit_failures: &'a mut u32,
}

impl<B: Backend> Committer<'_, B> {
    /// Commits everything done: dead letters and nacks first, then one commit of all acks
    /// and emitted events; on failure, source by source per the enqueue failure mode.
    pub(crate) async fn commit(&mut self, done: Vec<Done<B::Token>>) -> Result<(), RunError> {
        let mut commits: Vec<(Delivery<B::Token>, Vec<Envelope>)> = Vec::with_capacity(done.len());
        let mut release = Vec::new();
        for Done { delivery, outcome } in done {
            match outcome {
                Outcome::Ack(emitted) => commits.push((delivery, emitted)),
                Outcome::DeadLetter(letter, emitted) => {
                    let event_type = letter.event.event_type().shared();
                    match self.inner.dead_letters.store_boxed(*letter).await {
                        Ok(()) => {
                            self.inner
                                .telemetry
                                .dead_lettered(DeadLetterKind::HandlerFailed, event_type);
                            commits.push((delivery, emitted));
                        }
                        Err(err) => {
                            self.inner.telemetry.backend_error("dead_letter", &err);
                            self.nack(delivery, format!("dead-letter store failed: {err}"))
                                .await;
                        }
                    }
                }
                Outcome::Nack(reason) => self.nack(delivery, reason).await,
                Outcome::Release => release.push(delivery),
            }
        }
        if !release.is_empty() {
            self.give_back(release, "at the shutdown deadline").await;
        }
        if commits.is_empty() {
            return Ok(());
        }
        let (all_emitted, acks) = batch_parts(&commits);
        let n_emitted = all_emitted.len();
        let started = Instant::now();
        let committed = self.inner.backend.commit(all_emitted, acks).await;
        self.inner
            .telemetry
            .batch_committed(started.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                *self.commit_failures = 0;
                self.count_emitted(commits.iter().flat_map(|(_, e)| e.iter()), n_emitted);
                Ok(())
            }
            Err(err) if err.is_unreachable() => self.commit_unreachable(commits, err).await,
            Err(err) => {
                tracing::warn!(
                    target: TARGET,
                    error = %necro_core::error_chain(&err),
                    sources = commits.len(),
                    "batch commit failed; committing source by source"
                );
                let mut rest = commits.into_iter();
                while let Some((delivery, emitted)) = rest.next() {
                    if let Err(e) = self.commit_one(delivery, emitted).await {
                        for (d, _) in rest {
                            self.nack(d, "run stopped by an enqueue failure".into())
                                .await;
                        }
                        return Err(e);
                    }
                }
                Ok(())
            }
        }
    }

    /// The batch commit failed because the backend cannot be reached. Going source by source
    /// (or nacking each) would wait out one timeout per source, so the batch is handled whole,
    /// with at most one call of each kind, stopping at the first that fails:
    ///
    /// - RETRY first retries the whole commit per the retry policy.
    /// - Every emitted event counts as an enqueue failure.
    /// - STORE dead-letters the emitted events (`enqueue_failed`) and acks the sources whose
    ///   output is stored; the sources left (their output could not be stored, or the ack
    ///   failed) are given back with one `release`, and are redelivered. Sources that cannot
    ///   be given back either are counted in `RunShared::unsettled`: the run goes on (the next
    ///   pulls feed the backend circuit breaker) but does not end `Ok`.
    /// - FAIL and RETRY give the whole batch back with one `release` and stop the run with
    ///   [`RunError::Enqueue`].
    ///
    /// A timed-out commit may still apply when the backend answers again: nothing here can
    /// tell, and at-least-once covers it (a source may be delivered again and its output
    /// appear twice, or be both enqueued and dead-lettered).
    async fn commit_unreachable(
        &mut self,
        commits: Vec<(Delivery<B::Token>, Vec<Envelope>)>,
        mut err: BackendError,
    ) -> Result<(), RunError> {
        let mode = self.inner.settings.enqueue_mode;
        let n_emitted: usize = commits.iter().map(|(_, e)| e.len()).sum();
        if mode == EnqueueFailureMode::Retry {
            let (emitted, acks) = batch_parts(&commits);
            match self.commit_with_retries(&emitted, &acks, err).await {
                Ok(()) => {
                    self.count_emitted(emitted.iter(), n_emitted);
                    return Ok(());
                }
                Err(e) => err = e,
            }
        }
        self.inner.telemetry.backend_failed("commit");
        self.count_enqueue_failures(commits.iter().flat_map(|(_, e)| e.iter()));
        let message = if matches!(err, BackendError::Timeout(_)) {
            "batch commit timed out: its outcome is unknown (the backend may still apply it), \
             so its sources may be delivered again and their output appear twice"
        } else {
            "backend unreachable: the batch commit failed"
        };
        tracing::error!(
            target: TARGET,
            error = %necro_core::error_chain(&err),
            sources = commits.len(),
            emitted = n_emitted,
            mode = ?mode,
            "{message}"
        );
        if mode != EnqueueFailureMode::Store {
            let deliveries = commits.into_iter().map(|(d, _)| d).collect();
            self.give_back(deliveries, "after an unreachable commit")
                .await;
            return Err(RunError::Enqueue {
                count: n_emitted,
                source: err,
            });
        }
        let reason = format!("enqueue failed: {}", necro_core::error_chain(&err));
        let mut acks = Vec::new();
        let mut rest = Vec::new();
        let mut store_failed = false;
        for (delivery, emitted) in commits {
            if !store_failed {
                match self.dead_letter_output(&emitted, &reason).await {
                    Ok(()) => {
                        acks.push(delivery);
                        continue;
                    }
                    Err(e) => {
                        self.inner.telemetry.backend_error("dead_letter", &e);
                        store_failed = true;
                    }
                }
            }
            rest.push(delivery);
        }
        if !acks.is_empty() {
            let tokens = acks.iter().map(|d| d.token.clone()).collect();
            if let Err(e) = self.inner.backend.ack(tokens).await {
                self.inner.telemetry.ack_failed();
                tracing::error!(
                    target: TARGET,
                    error = %necro_core::error_chain(&e),
                    sources = acks.len(),
                    "ack failed after dead-lettering the output; giving the sources back"
                );
                rest.append(&mut acks);
            }
        }
        if !rest.is_empty() {
            self.give_back(rest, "after an unreachable commit").await;
            // Given back, they come straight back: without a pause a backend that takes
            // nothing would be asked again and again.
            *self.commit_failures = self.commit_failures.saturating_add(1);
            self.inner
                .shutdown
                .sleep(backoff(*self.commit_failures))
                .await;
        }
        Ok(())
    }

    /// Stores one source's emitted events as `enqueue_failed` dead letters, stopping at the
    /// first that fails (whose error it returns).
    async fn dead_letter_output(
        &self,
        emitted: &[Envelope],
        reason: &str,
    ) -> Result<(), BackendError> {
        for env in emitted {
            let letter = DeadLetter::with_reason(
                env.event.clone(),
                env.meta.clone(),
                DeadLetterKind::EnqueueFailed,
                reason.to_owned(),
                0,
            );
            self.inner.dead_letters.store_boxed(letter).await?;
            self.inner.telemetry.dead_lettered(
                DeadLetterKind::EnqueueFailed,
                env.event.event_type().shared(),
            );
        }
        Ok(())
    }

    /// Counts emitted events that could not be enqueued, per event type.
    fn count_enqueue_failures<'a>(&self, events: impl Iterator<Item = &'a Envelope>) {
        for env in events {
            self.inner.telemetry.enqueue_failure(env.event.event_type());
        }
    }

    /// Gives deliveries back unhandled: see [`give_back`].
    async fn give_back(&self, deliveries: Vec<Delivery<B::Token>>, when: &str) -> bool {
        give_back(self.inner, self.shared, deliveries, when).await
    }

    /// The RETRY enqueue mode: after a commit failed with `err`, commits `emitted` and `acks`
    /// again up to the retry policy's count, with its delays. Returns the last error when every
    /// retry failed (`err` itself when the policy allows none).
    async fn commit_with_retries(
        &self,
        emitted: &[Envelope],
        acks: &[B::Token],
        err: BackendError,
    ) -> Result<(), BackendError> {
        let policy = self.inner.settings.retry;
        let mut last = err;
        for retry in 0..policy.max_retries() {
            tokio::time::sleep(policy.delay(retry)).await;
            self.inner.telemetry.enqueue_retry();
            match self
                .inner
                .backend
                .commit(emitted.to_vec(), acks.to_vec())
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Counts `n` emitted events as enqueued.
    fn count_emitted<'a>(&self, events: impl Iterator<Item = &'a Envelope>, n: usize) {
        let inner = self.inner;
        let events = events.map(|env| {
            let t = env.event.event_type();
            (inner.route_index(t), t)
        });
        inner.telemetry.emitted(&self.shared.hot, n, events);
    }

    /// Commits one source's emitted events and its ack, applying the enqueue failure mode.
    async fn commit_one(
        &mut self,
        delivery: Delivery<B::Token>,
        emitted: Vec<Envelope>,
    ) -> Result<(), RunError> {
        let backend = &*self.inner.backend;
        let first = backend
            .commit(emitted.clone(), vec![delivery.token.clone()])
            .await;
        let Err(mut err) = first else {
            self.count_emitted(emitted.iter(), emitted.len());
            return Ok(());
        };
        if emitted.is_empty() {
            // Nothing to enqueue: this was the ack itself.
            self.inner.telemetry.ack_failed();
            tracing::error!(
                target: TARGET,
                event_id = %delivery.event.id(),
                event_type = %delivery.event.event_type(),
                error = %necro_core::error_chain(&err),
                "ack failed; the backend may deliver the event again"
            );
            return Ok(());
        }
        let mode = self.inner.settings.enqueue_mode;
        if mode == EnqueueFailureMode::Retry {
            match self
                .commit_with_retries(&emitted, std::slice::from_ref(&delivery.token), err)
                .await
            {
                Ok(()) => {
                    self.count_emitted(emitted.iter(), emitted.len());
                    return Ok(());
                }
                Err(e) => err = e,
            }
        }
        self.count_enqueue_failures(emitted.iter());
        tracing::error!(
            target: TARGET,
            event_id = %delivery.event.id(),
            event_type = %delivery.event.event_type(),
            error = %necro_core::error_chain(&err),
            count = emitted.len(),
            mode = ?mode,
            "could not enqueue emitted events"
        );
        match mode {
            EnqueueFailureMode::Store => {
                let reason = format!("enqueue failed: {}", necro_core::error_chain(&err));
                if let Err(e) = self.dead_letter_output(&emitted, &reason).await {
                    self.inner.telemetry.backend_error("dead_letter", &e);
                    self.nack(delivery, format!("dead-letter store failed: {e}"))
                        .await;
                    return Ok(());
                }
                if let Err(e) = backend.ack(vec![delivery.token.clone()]).await {
                    self.inner.telemetry.ack_failed();
                    tracing::error!(target: TARGET, error = %necro_core::error_chain(&e), "ack failed");
                }
                Ok(())
            }
            _ => {
                let count = emitted.len();
                self.nack(delivery, format!("enqueue failed: {err}")).await;
                Err(RunError::Enqueue { count, source: err })
            }
        }
    }

    async fn nack(&self, delivery: Delivery<B::Token>, reason: String) {
        let event_type = delivery.event.event_type().shared();
        match self.inner.backend.nack(delivery, reason).await {
            Ok(NackOutcome::DeadLettered) => {
                self.inner
                    .telemetry
                    .dead_lettered(DeadLetterKind::MaxDeliveries, event_type);
            }
            Ok(_) => self.inner.telemetry.nacked(),
            Err(err) => self.inner.telemetry.backend_error("nack", &err),
        }
    }
}

/// Gives deliveries back unhandled, in one `release` (no attempt counted). When that fails,
/// they stay delivered and unacknowledged in the backend; they are counted as unsettled, so
/// the run does not end `Ok`. Returns whether they were given back.
pub(crate) async fn give_back<B: Backend>(
    inner: &Inner<B>,
    shared: &RunShared,
    deliveries: Vec<Delivery<B::Token>>,
    when: &str,
) -> bool {
    let n = deliveries.len();
    if n == 0 {
        return true;
    }
    match inner.backend.release(deliveries).await {
        Ok(()) => {
            inner.telemetry.released(n);
            tracing::warn!(target: TARGET, deliveries = n, "gave deliveries back {when}");
            true
        }
        // Not held any more: settled meanwhile (a commit that applied though its answer was
        // lost acked them). The backend gave back the ones it held; none is left unsettled.
        Err(BackendError::UnknownToken(tokens)) => {
            tracing::warn!(
                target: TARGET,
                deliveries = n,
                unknown = %tokens,
                "gave deliveries back {when}; the backend no longer held some of them (settled \
                 meanwhile, e.g. acked by a commit whose answer was lost)"
            );
            true
        }
        Err(e) => {
            inner.telemetry.backend_error("release", &e);
            tracing::error!(
                target: TARGET,
                deliveries = n,
                error = %necro_core::error_chain(&e),
                "could not give deliveries back {when}: the backend still holds them as \
                 delivered (Redis hands them out again after claim_min_idle)"
            );
            shared.unsettle(n, e);
            false
        }
    }
}

/// One batch commit's arguments: every source's emitted events (cloned: the per-source
/// fallback needs them if the commit fails) and every source's token.
fn batch_parts<T: Clone>(commits: &[(Delivery<T>, Vec<Envelope>)]) -> (Vec<Envelope>, Vec<T>) {
    let n_emitted = commits.iter().map(|(_, e)| e.len()).sum();
    let mut emitted = Vec::with_capacity(n_emitted);
    for (_, e) in commits {
        emitted.extend(e.iter().cloned());
    }
    let acks = commits.iter().map(|(d, _)| d.token.clone()).collect();
    (emitted, acks)
}
