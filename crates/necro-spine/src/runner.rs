//! The runner: one shard's loop of a run. It pulls (with backoff and the backend circuit
//! breaker), starts each delivery's dispatch up to its share of the concurrency, collects what
//! finished, flushes it to the commit stage, counts settled deliveries for the drain check, and
//! carries out shutdown: giving back what was not started, and at the shutdown deadline what
//! is still running.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use necro_core::{Backend, Delivery};
use tokio::task::JoinSet;

use crate::breaker::CircuitState;
use crate::commit::{Committer, give_back};
use crate::config::backoff;
use crate::dispatch::{Done, Outcome, dispatch};
use crate::error::RunError;
use crate::state::{Inner, RunShared};
use crate::telemetry::TARGET;

/// How a run ends: when drained, or (a service run) on shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Until the backend has nothing more to deliver and nothing is in flight.
    Drain,
    /// Until shutdown is requested.
    Service,
}

/// What one runner shares with the tasks it spawns.
struct Local<T> {
    shared: Arc<RunShared>,
    /// Deliveries of tasks dropped before they finished (aborted at the shutdown deadline).
    abandoned: Mutex<Vec<Delivery<T>>>,
}

impl<T> Local<T> {
    fn take_abandoned(&self) -> Vec<Delivery<T>> {
        std::mem::take(
            &mut *self
                .abandoned
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// Holds a spawned task's delivery; if the task is dropped before it finishes, hands the
/// delivery to its runner so it can be given back.
struct Abandon<'a, T> {
    delivery: Option<Delivery<T>>,
    sink: &'a Mutex<Vec<Delivery<T>>>,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if let Some(delivery) = self.delivery.take() {
            self.sink
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(delivery);
        }
    }
}

/// One runner: pulls, dispatches and commits. A run has one per shard.
pub(crate) struct Runner<B: Backend> {
    inner: Arc<Inner<B>>,
    mode: Mode,
    shared: Arc<RunShared>,
    /// `shared`, and what this runner's tasks hand back.
    local: Arc<Local<B::Token>>,
    /// This runner's share of the spine's concurrency.
    concurrency: usize,
    queue: VecDeque<Delivery<B::Token>>,
    done: Vec<Done<B::Token>>,
    /// Events whose organs are still waiting (they did not finish on their first poll).
    /// `None` only if a task lost its delivery, which cannot happen.
    tasks: JoinSet<Option<Done<B::Token>>>,
    pull_failures: u32,
    /// Consecutive unreachable commits whose sources had to be given back.
    commit_failures: u32,
    /// Deliveries this runner pulled and has not settled (its part of `shared.held`).
    held: usize,
    /// Another runner failed: wind down.
    aborted: bool,
}

impl<B: Backend> Drop for Runner<B> {
    fn drop(&mut self) {
        // Whatever this runner still counts is released, so the others never wait on it.
        self.shared.held.fetch_sub(self.held, Ordering::AcqRel);
        self.shared.settled.notify_waiters();
    }
}

impl<B: Backend> Runner<B> {
    pub(crate) fn new(
        inner: Arc<Inner<B>>,
        mode: Mode,
        shared: Arc<RunShared>,
        concurrency: usize,
    ) -> Self {
        let local = Arc::new(Local {
            shared: Arc::clone(&shared),
            abandoned: Mutex::new(Vec::new()),
        });
        Self {
            inner,
            mode,
            shared,
            local,
            concurrency: concurrency.max(1),
            queue: VecDeque::new(),
            done: Vec::new(),
            tasks: JoinSet::new(),
            pull_failures: 0,
            commit_failures: 0,
            held: 0,
            aborted: false,
        }
    }

    /// Counts `n` deliveries as settled.
    fn settle(&mut self, n: usize) {
        let n = n.min(self.held);
        if n > 0 {
            self.held -= n;
            self.shared.held.fetch_sub(n, Ordering::AcqRel);
            self.shared.settled.notify_waiters();
        }
    }

    /// Runs the loop, then winds down: what it still holds is settled or given back.
    pub(crate) async fn run(mut self) -> Result<(), RunError> {
        let result = self.run_loop().await;
        let unreachable = match &result {
            Err(RunError::BackendUnavailable { .. }) => true,
            Err(RunError::Enqueue { source, .. }) => source.is_unreachable(),
            _ => self.shared.unreachable.load(Ordering::Acquire),
        };
        if result.is_err() {
            if unreachable {
                self.shared.unreachable.store(true, Ordering::Release);
            }
            self.shared.abort.store(true, Ordering::Release);
            self.shared.settled.notify_waiters();
        }
        if unreachable {
            // Committing or giving deliveries back one by one would wait out a timeout each:
            // what is still held (once what is running finished) is given back in one call.
            // If that fails too, the backend still has them as delivered and unacknowledged.
            while let Some(res) = self.tasks.join_next().await {
                self.collect(res);
            }
            let held: Vec<_> = self
                .queue
                .drain(..)
                .chain(self.done.drain(..).map(|d| d.delivery))
                .collect();
            let n = held.len();
            if n > 0 {
                match self.inner.backend.release(held).await {
                    Ok(()) => self.inner.telemetry.released(n),
                    Err(e) => self.inner.telemetry.backend_error("release", &e),
                }
                self.settle(n);
            }
        } else if result.is_err() || self.aborted {
            // Give back whatever is still held so nothing is lost.
            while let Some(res) = self.tasks.join_next().await {
                self.collect(res);
            }
            let _ = self.flush().await;
            // Pulled but never handled: given back without counting an attempt.
            self.release_queue("as the run stopped").await;
        }
        result
    }

    async fn run_loop(&mut self) -> Result<(), RunError> {
        let concurrency = self.concurrency;
        loop {
            if self.shared.abort.load(Ordering::Acquire) {
                self.aborted = true;
                return Ok(());
            }
            // Start what we hold, up to the concurrency limit.
            while self.tasks.len() < concurrency {
                if self.mode == Mode::Service && self.inner.shutdown.is_requested() {
                    // Pulled but not started: given back at once.
                    self.release_queue("on shutdown").await;
                    break;
                }
                let Some(delivery) = self.queue.pop_front() else {
                    break;
                };
                self.check_steps(&delivery)?;
                if concurrency == 1 {
                    let outcome = self.dispatch_inline(&delivery).await;
                    self.done.push(Done { delivery, outcome });
                } else {
                    self.start(delivery).await;
                }
            }
            if self.queue.is_empty() {
                // Make emitted events visible before asking for more.
                self.flush().await?;
                // A backend that always answers at once would never let this task yield; the
                // other tasks on this thread (other runners, timers) get their turn here.
                tokio::task::consume_budget().await;
                let stopping = self.mode == Mode::Service && self.inner.shutdown.is_requested();
                if self.tasks.is_empty() {
                    if stopping {
                        return Ok(());
                    }
                    let wait = match self.mode {
                        Mode::Drain => Duration::ZERO,
                        Mode::Service => self.inner.settings.poll_interval,
                    };
                    let got = self.pull(wait).await?;
                    if got == Some(0) && self.mode == Mode::Drain && self.drained().await {
                        return Ok(());
                    }
                    continue;
                }
                if !stopping
                    && self.tasks.len() < concurrency
                    && self.pull(Duration::ZERO).await?.is_some_and(|n| n > 0)
                {
                    continue;
                }
            }
            if self.tasks.is_empty() {
                continue;
            }
            // Wait for at least one in-flight event, then collect all that are ready.
            self.join_one().await;
            while let Some(res) = self.tasks.try_join_next() {
                self.collect(res);
            }
            if self.done.len() >= self.inner.settings.batch_size {
                self.flush().await?;
            }
        }
    }

    /// Dispatches `delivery`, polling it once right here: most organs finish on their first
    /// poll, and then no task is spawned. One that has to wait becomes a task of its own, so
    /// it keeps its slot without holding up the others.
    async fn start(&mut self, delivery: Delivery<B::Token>) {
        let inner = Arc::clone(&self.inner);
        let local = Arc::clone(&self.local);
        let mut fut = Box::pin(async move {
            let mut slot = Abandon {
                delivery: Some(delivery),
                sink: &local.abandoned,
            };
            let outcome = match &slot.delivery {
                Some(delivery) => dispatch(&inner, &local.shared.hot, delivery).await,
                None => return None,
            };
            slot.delivery
                .take()
                .map(|delivery| Done { delivery, outcome })
        });
        match std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            Poll::Ready(done) => self.done.extend(done),
            Poll::Pending => {
                self.tasks.spawn(fut);
            }
        }
    }

    /// Dispatches `delivery` right here (concurrency 1). In a service run, an event whose
    /// organs are still running at the shutdown deadline is abandoned, to be given back.
    async fn dispatch_inline(&mut self, delivery: &Delivery<B::Token>) -> Outcome {
        let inner = &*self.inner;
        let shared = &*self.shared;
        let outcome = {
            let mut dispatching = pin!(dispatch(inner, &shared.hot, delivery));
            if self.mode == Mode::Drain {
                return dispatching.await;
            }
            // Most organs finish on their first poll: then nothing else is looked at.
            let first = std::future::poll_fn(|cx| Poll::Ready(dispatching.as_mut().poll(cx)));
            if let Poll::Ready(outcome) = first.await {
                return outcome;
            }
            // This one waits. The rest of the batch goes back as soon as shutdown is requested;
            // this one at the shutdown deadline if it has not finished by then.
            let queue = &mut self.queue;
            let mut released = 0;
            let outcome = loop {
                tokio::select! {
                    biased;
                    outcome = &mut dispatching => break outcome,
                    () = inner.shutdown.requested(), if !queue.is_empty() => {
                        released = queue.len();
                        give_back(inner, shared, queue.drain(..).collect(), "on shutdown").await;
                    }
                    () = inner.shutdown.deadline(inner.settings.shutdown_timeout) => {
                        warn_abandoned(inner, 1);
                        break Outcome::Release;
                    }
                }
            };
            (outcome, released)
        };
        let (outcome, released) = outcome;
        self.settle(released);
        outcome
    }

    /// Waits for one spawned event to finish and collects it. In a service run, at the
    /// shutdown deadline every event still running is abandoned instead, to be given back.
    async fn join_one(&mut self) {
        if self.mode == Mode::Drain {
            if let Some(res) = self.tasks.join_next().await {
                self.collect(res);
            }
            return;
        }
        let shutdown = self.inner.shutdown.clone();
        let timeout = self.inner.settings.shutdown_timeout;
        if !self.queue.is_empty() && !shutdown.is_requested() {
            // Every slot is taken and more are waiting: those go back as soon as shutdown is
            // requested, not when a slot frees up.
            tokio::select! {
                biased;
                res = self.tasks.join_next() => {
                    if let Some(res) = res {
                        self.collect(res);
                    }
                    return;
                }
                () = shutdown.requested() => self.release_queue("on shutdown").await,
            }
        }
        tokio::select! {
            biased;
            res = self.tasks.join_next() => {
                if let Some(res) = res {
                    self.collect(res);
                }
            }
            () = shutdown.deadline(timeout) => {
                self.tasks.abort_all();
                while let Some(res) = self.tasks.join_next().await {
                    self.collect(res);
                }
                let abandoned = self.local.take_abandoned();
                self.deadline_passed(abandoned.len());
                self.done.extend(abandoned.into_iter().map(|delivery| Done {
                    delivery,
                    outcome: Outcome::Release,
                }));
            }
        }
    }

    fn deadline_passed(&self, abandoned: usize) {
        warn_abandoned(&self.inner, abandoned);
    }

    /// Gives back every delivery pulled and not started.
    async fn release_queue(&mut self, when: &str) {
        let leftover: Vec<_> = self.queue.drain(..).collect();
        let n = leftover.len();
        if n > 0 {
            give_back(&self.inner, &self.shared, leftover, when).await;
            self.settle(n);
        }
    }

    /// In a drain run, after an empty pull with nothing in flight here: whether the whole run
    /// is drained. While another runner still holds deliveries (which may emit more), waits
    /// for it to settle some and answers `false` so this runner pulls again.
    async fn drained(&self) -> bool {
        let mut settled = pin!(self.shared.settled.notified());
        settled.as_mut().enable();
        if self.shared.held.load(Ordering::Acquire) == 0
            || self.shared.abort.load(Ordering::Acquire)
        {
            return true;
        }
        settled.await;
        false
    }

    fn collect(&mut self, res: Result<Option<Done<B::Token>>, tokio::task::JoinError>) {
        match res {
            Ok(done) => self.done.extend(done),
            // Aborted at the shutdown deadline: its delivery is in `local.abandoned`.
            Err(e) if e.is_cancelled() => {}
            // Organ panics are caught inside dispatch.
            Err(e) => tracing::error!(target: TARGET, error = %e, "dispatch task failed"),
        }
    }

    fn check_steps(&mut self, delivery: &Delivery<B::Token>) -> Result<(), RunError> {
        let max_steps = self.inner.settings.max_steps;
        if self.mode == Mode::Drain && self.shared.steps.fetch_add(1, Ordering::AcqRel) >= max_steps
        {
            // Put the delivery back so the caller can see it wasn't processed.
            self.queue.push_front(delivery.clone());
            tracing::error!(
                target: TARGET,
                max_steps,
                "max_steps exceeded: stopping the run"
            );
            return Err(RunError::MaxStepsExceeded { max_steps });
        }
        Ok(())
    }

    /// Pulls into the queue; returns how many arrived, or `None` when the pull failed.
    /// Pull failures back off and feed the backend circuit breaker.
    async fn pull(&mut self, wait: Duration) -> Result<Option<usize>, RunError> {
        let s = &self.inner.settings;
        let mut max = s.batch_size.max(self.concurrency);
        if self.mode == Mode::Drain {
            let steps = self.shared.steps.load(Ordering::Acquire);
            let left = s.max_steps.saturating_sub(steps).saturating_add(1);
            max = max.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        match self.inner.backend.pull(max, wait).await {
            Ok(batch) => {
                if self.pull_failures > 0 {
                    tracing::info!(target: TARGET, "backend recovered");
                    self.inner.telemetry.backend_circuit(CircuitState::Closed);
                }
                self.pull_failures = 0;
                let n = batch.len();
                self.queue.extend(batch);
                self.held += n;
                let held = self.shared.held.fetch_add(n, Ordering::AcqRel) + n;
                self.inner.telemetry.in_flight(held);
                Ok(Some(n))
            }
            Err(err) => {
                self.pull_failures = self.pull_failures.saturating_add(1);
                self.inner.telemetry.backend_failed("pull");
                let breaker = self.inner.settings.backend_breaker;
                if self.pull_failures >= breaker.failure_threshold {
                    self.inner.telemetry.backend_circuit(CircuitState::Open);
                    tracing::error!(
                        target: TARGET,
                        error = %necro_core::error_chain(&err),
                        failures = self.pull_failures,
                        "backend circuit open"
                    );
                    if self.mode == Mode::Drain {
                        return Err(RunError::BackendUnavailable {
                            failures: self.pull_failures,
                            source: err,
                        });
                    }
                    self.inner.shutdown.sleep(breaker.cooldown).await;
                    self.inner.telemetry.backend_circuit(CircuitState::HalfOpen);
                } else {
                    let backoff = backoff(self.pull_failures);
                    tracing::warn!(
                        target: TARGET,
                        error = %necro_core::error_chain(&err),
                        failures = self.pull_failures,
                        backoff_ms = backoff.as_millis() as u64,
                        "pull failed"
                    );
                    self.inner.shutdown.sleep(backoff).await;
                }
                Ok(None)
            }
        }
    }

    /// Commits everything done (see [`Committer::commit`]) and counts it settled.
    async fn flush(&mut self) -> Result<(), RunError> {
        if self.done.is_empty() {
            return Ok(());
        }
        let done = std::mem::take(&mut self.done);
        let settled = done.len();
        let result = Committer {
            inner: &self.inner,
            shared: &self.shared,
            commit_failures: &mut self.commit_failures,
        }
        .commit(done)
        .await;
        self.settle(settled);
        let held = self.shared.held.load(Ordering::Acquire);
        self.inner.telemetry.in_flight(held);
        result
    }
}

/// Logs that `abandoned` events were still being handled at the shutdown deadline.
fn warn_abandoned<B: Backend>(inner: &Inner<B>, abandoned: usize) {
    if abandoned > 0 {
        tracing::warn!(
            target: TARGET,
            abandoned,
            timeout_ms = inner.settings.shutdown_timeout.as_millis() as u64,
            "shutdown deadline passed: events still being handled are abandoned and given back"
        );
    }
}
