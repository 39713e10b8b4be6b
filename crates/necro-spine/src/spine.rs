//! [`Spine`], the public API: sending events, the run modes (until drained, as a service,
//! until a signal), stats and shutdown; and running one runner per shard.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use necro_core::{Backend, Envelope};
use tracing::Instrument;

use crate::breaker::{Breaker, CircuitState};
use crate::error::RunError;
use crate::runner::{Mode, Runner};
use crate::shutdown::ShutdownHandle;
use crate::state::{Inner, RunShared};
use crate::stats::Stats;
use crate::telemetry::TARGET;

/// The dispatcher. Pulls deliveries from its backend, hands each event to every organ that
/// listens to its type (in registration order), enqueues what they emit and acks.
///
/// Cheap to clone: clones share one spine (its stats, its shutdown handle).
///
/// ```
/// use necro_backend_memory::MemoryBackend;
/// use necro_core::{organ_fn, Emit, Event};
/// use necro_spine::Spine;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spine = Spine::builder(MemoryBackend::new())
///     .organ(organ_fn("Greeter", ["HELLO"], |ev: Event| async move {
///         let name = ev.get("name").and_then(|v| v.as_str()).unwrap_or("stranger").to_owned();
///         Ok(Event::new("GREETED", json!({ "msg": format!("Hello, {name}!") }))?.into())
///     }))
///     .build()?;
///
/// spine.send(Event::new("HELLO", json!({"name": "World"}))?).await?;
/// let stats = spine.run_until_drained().await?;
/// assert_eq!(stats.processed, 2); // HELLO, then GREETED (which nobody listens to)
/// assert_eq!(stats.emitted, 1);
/// # Ok(()) }
/// ```
pub struct Spine<B: Backend> {
    pub(crate) inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Spine<B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Spine<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spine")
            .field("organs", &self.organ_names())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Spine<B> {
    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// The organs' names, in registration order.
    #[must_use]
    pub fn organ_names(&self) -> Vec<&str> {
        self.inner.organs.iter().map(|s| s.organ.name()).collect()
    }

    /// The state of an organ's circuit breaker, if it has one.
    #[must_use]
    pub fn circuit_state(&self, organ: &str) -> Option<CircuitState> {
        self.inner
            .organs
            .iter()
            .find(|s| s.organ.name() == organ)
            .and_then(|s| s.breaker.as_ref())
            .map(Breaker::state)
    }

    /// A snapshot of the counters, cumulative over every run of this spine.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.telemetry.snapshot()
    }

    /// A handle that stops a running spine gracefully.
    #[must_use]
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.inner.shutdown.handle()
    }

    /// Enqueues a root event (the start of a new chain): an [`Event`](necro_core::Event), or an [`Envelope`]
    /// to give it headers.
    ///
    /// # Errors
    /// [`RunError::Send`] with the backend's error.
    ///
    /// With [trace propagation](crate::trace) installed, the send is a `necro.publish` span
    /// whose context goes into the root's headers.
    pub async fn send(&self, event: impl Into<Envelope>) -> Result<(), RunError> {
        let mut envelope = event.into();
        let enqueue = async |envelope| {
            self.inner
                .backend
                .enqueue(vec![envelope])
                .await
                .map_err(RunError::Send)
        };
        match crate::trace::propagation() {
            None => enqueue(envelope).await,
            Some(p) => {
                let span = crate::trace::publish(p, &mut envelope);
                enqueue(envelope).instrument(span).await
            }
        }
    }

    /// Runs until the flow is drained: the backend has nothing more to deliver and nothing is
    /// in flight. Returns the stats snapshot.
    ///
    /// # Errors
    /// [`RunError::MaxStepsExceeded`] when the run would process more than `max_steps` events;
    /// [`RunError::Enqueue`] under enqueue failure modes FAIL and RETRY;
    /// [`RunError::BackendUnavailable`] when the backend circuit breaker opens;
    /// [`RunError::Unsettled`] when deliveries could be neither committed nor given back.
    pub async fn run_until_drained(&self) -> Result<Stats, RunError> {
        self.run_mode(Mode::Drain).await
    }

    /// Enqueues `event`, then runs until drained — the slides' `spine.run(event)`.
    ///
    /// # Errors
    /// As [`Spine::send`] and [`Spine::run_until_drained`].
    pub async fn run_event(&self, event: impl Into<Envelope>) -> Result<Stats, RunError> {
        self.send(event).await?;
        self.run_until_drained().await
    }

    /// Runs as a service until [`ShutdownHandle::shutdown`] is called; a worker process
    /// usually wants [`Spine::run_until`] with [`shutdown_signal`](crate::shutdown_signal)
    /// instead. `max_steps` does not apply.
    ///
    /// Shutdown is graceful and bounded: the run stops pulling, gives back at once the events
    /// it pulled but has not started (`Backend::release`, no attempt counted), lets the events
    /// being handled finish for at most the
    /// [shutdown timeout](crate::SpineBuilder::shutdown_timeout) (default 25 s), gives back
    /// those still running then, commits what finished, and returns `Ok` with the stats
    /// (`Stats::released` counts what was given back).
    ///
    /// # Errors
    /// [`RunError::Enqueue`] under enqueue failure modes FAIL and RETRY;
    /// [`RunError::Unsettled`] when deliveries could be neither committed nor given back.
    pub async fn run(&self) -> Result<Stats, RunError> {
        self.run_mode(Mode::Service).await
    }

    /// Runs as a service until `signal` resolves, then shuts down gracefully as
    /// [`Spine::run`] describes.
    ///
    /// Pass [`shutdown_signal()`](crate::shutdown_signal), which resolves on SIGINT (Ctrl-C)
    /// and SIGTERM (what `docker stop`, Kubernetes and systemd send), rather than
    /// `tokio::signal::ctrl_c()`, under which a SIGTERM kills the process at once with
    /// everything it holds:
    ///
    /// ```no_run
    /// # use necro_backend_memory::MemoryBackend;
    /// # use necro_spine::Spine;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spine = Spine::builder(MemoryBackend::new()).build()?;
    /// let stats = spine.run_until(necro_spine::shutdown_signal()).await?;
    /// println!("{stats}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Spine::run`].
    pub async fn run_until<F>(&self, signal: F) -> Result<Stats, RunError>
    where
        F: Future + Send,
    {
        let handle = self.shutdown_handle();
        let run = self.run();
        tokio::pin!(run);
        tokio::select! {
            res = &mut run => res,
            _ = signal => {
                handle.shutdown();
                run.await
            }
        }
    }

    async fn run_mode(&self, mode: Mode) -> Result<Stats, RunError> {
        if self.inner.running.swap(true, Ordering::AcqRel) {
            return Err(RunError::AlreadyRunning);
        }
        // Also when the run's future is dropped before it ends (a timeout around it, say):
        // the spine can run again.
        let _running = RunningGuard(&self.inner);
        let result = self.run_shards(mode).await;
        result.map(|()| self.stats())
    }
}

/// Marks the end of a run, however it ends.
struct RunningGuard<'a, B: Backend>(&'a Inner<B>);

impl<B: Backend> Drop for RunningGuard<'_, B> {
    fn drop(&mut self) {
        self.0.shutdown.reset();
        self.0.running.store(false, Ordering::Release);
    }
}

/// The runner tasks of one run, aborted if the run's future is dropped before they end, so
/// that no runner goes on in the background after its caller gave up (as one running inline
/// would not).
struct Runners(Vec<tokio::task::JoinHandle<Result<(), RunError>>>);

impl Drop for Runners {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

impl<B: Backend> Spine<B> {
    /// Runs one runner per shard: with concurrency above 1, one per runtime worker thread (at
    /// most `concurrency`), each pulling, dispatching and committing on its own, with the
    /// concurrency split between them. Returns the first error.
    async fn run_shards(&self, mode: Mode) -> Result<(), RunError> {
        let concurrency = self.inner.settings.concurrency;
        let shards = if concurrency > 1 {
            let threads = tokio::runtime::Handle::current().metrics().num_workers();
            threads.clamp(1, concurrency)
        } else {
            1
        };
        let shared = Arc::new(RunShared::new(&self.inner));
        let result = if shards == 1 {
            Runner::new(
                Arc::clone(&self.inner),
                mode,
                Arc::clone(&shared),
                concurrency,
            )
            .run()
            .await
        } else {
            self.run_runners(mode, &shared, shards).await
        };
        // A run that left deliveries it could settle in no way does not end `Ok`.
        match (result, shared.take_unsettled()) {
            (Ok(()), Some((deliveries, source))) => Err(RunError::Unsettled { deliveries, source }),
            (result, _) => result,
        }
    }

    /// Runs `shards` runners as tasks of their own and waits for them.
    async fn run_runners(
        &self,
        mode: Mode,
        shared: &Arc<RunShared>,
        shards: usize,
    ) -> Result<(), RunError> {
        let concurrency = self.inner.settings.concurrency;
        // Every runner is a task of its own, this one only waits: a runner that ran here would
        // hold the others back on this thread until it yielded.
        let share = |i: usize| concurrency / shards + usize::from(i < concurrency % shards);
        let mut runners = Runners(
            (0..shards)
                .map(|i| {
                    let runner =
                        Runner::new(Arc::clone(&self.inner), mode, Arc::clone(shared), share(i));
                    tokio::spawn(runner.run())
                })
                .collect(),
        );
        let mut result = Ok(());
        let mut panicked = None;
        for handle in &mut runners.0 {
            let outcome = match handle.await {
                Ok(r) => r,
                Err(e) => {
                    // Organ panics are caught, so this is a bug in the spine itself. The other
                    // runners wind down; then the panic goes on to the caller, as it would
                    // from a single runner running inline. What the runner held is redelivered.
                    tracing::error!(target: TARGET, error = %e, "a spine runner failed");
                    shared.abort.store(true, Ordering::Release);
                    shared.settled.notify_waiters();
                    if let Ok(panic) = e.try_into_panic() {
                        panicked.get_or_insert(panic);
                    }
                    Ok(())
                }
            };
            if result.is_ok() {
                result = outcome;
            }
        }
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
        result
    }
}
