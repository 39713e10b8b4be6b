//! The spine: pulls from a backend, routes to organs, enqueues what they emit, acks.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use necro_core::{
    Backend, BoxedOrgan, DeadLetter, DeadLetterKind, DeadLetterStore, Delivery, DynDeadLetterStore,
    Emit, Envelope, Event, EventType, Failure, FailureKind, Handler, Metadata, NackOutcome,
    OrganError,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::breaker::{Admit, Breaker, CircuitState};
use crate::builder::SpineBuilder;
use crate::config::{BackendBreakerConfig, EnqueueFailureMode, HandlerFailureMode, RetryPolicy};
use crate::error::RunError;
use crate::shutdown::{Shutdown, ShutdownHandle};
use crate::stats::{Counters, Stats};

const TARGET: &str = "necro_spine";

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_steps: u64,
    pub(crate) enqueue_mode: EnqueueFailureMode,
    pub(crate) handler_mode: HandlerFailureMode,
    pub(crate) retry: RetryPolicy,
    pub(crate) handler_timeout: Duration,
    pub(crate) backend_breaker: BackendBreakerConfig,
    pub(crate) concurrency: usize,
    pub(crate) batch_size: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_steps: 10_000,
            enqueue_mode: EnqueueFailureMode::default(),
            handler_mode: HandlerFailureMode::default(),
            retry: RetryPolicy::default(),
            handler_timeout: Duration::from_secs(30),
            backend_breaker: BackendBreakerConfig::default(),
            concurrency: 1,
            batch_size: 64,
            poll_interval: Duration::from_millis(250),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

pub(crate) struct OrganSlot {
    pub(crate) organ: BoxedOrgan,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) breaker: Option<Breaker>,
}

/// The organs listening to one event type.
pub(crate) struct Route {
    /// Their indexes in `Inner::organs`, in registration order.
    pub(crate) organs: Box<[usize]>,
    /// This route's own index (into per-run tables such as `HotMetrics`).
    pub(crate) index: usize,
}

pub(crate) struct Inner<B: Backend> {
    pub(crate) backend: Arc<B>,
    pub(crate) dead_letters: Arc<dyn DynDeadLetterStore>,
    pub(crate) organs: Vec<OrganSlot>,
    pub(crate) routes: HashMap<EventType, Route, foldhash::fast::RandomState>,
    pub(crate) settings: Settings,
    pub(crate) counters: Counters,
    pub(crate) shutdown: Shutdown,
    pub(crate) running: AtomicBool,
}

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

impl<B: Backend + DeadLetterStore> Spine<B> {
    /// Starts building a spine on `backend`, whose own dead-letter store receives dead letters
    /// (see [`SpineBuilder::dead_letters`] to send them elsewhere).
    pub fn builder(backend: B) -> SpineBuilder<B> {
        let backend = Arc::new(backend);
        let store: Arc<dyn DynDeadLetterStore> = Arc::clone(&backend) as _;
        SpineBuilder::new(backend, store)
    }
}

impl<B: Backend> Spine<B> {
    /// Starts building a spine on a backend that keeps no dead letters itself.
    pub fn builder_with_dead_letters(backend: B, store: impl DeadLetterStore) -> SpineBuilder<B> {
        SpineBuilder::new(Arc::new(backend), Arc::new(store))
    }

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
        self.inner.counters.snapshot()
    }

    /// A handle that stops a running spine gracefully.
    #[must_use]
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.inner.shutdown.handle()
    }

    /// Enqueues a root event (the start of a new chain).
    ///
    /// # Errors
    /// [`RunError::Send`] with the backend's error.
    pub async fn send(&self, event: Event) -> Result<(), RunError> {
        self.inner
            .backend
            .enqueue(vec![Envelope::new(event)])
            .await
            .map_err(RunError::Send)
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
    pub async fn run_event(&self, event: Event) -> Result<Stats, RunError> {
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

/// What the runners of one run share.
struct RunShared {
    /// Metric handles for the per-event series.
    hot: HotMetrics,
    /// Events started (counted against `max_steps` in drain runs).
    steps: AtomicU64,
    /// Deliveries pulled and not yet settled (committed, dead-lettered or given back), over
    /// every runner: a drain run is over only when none are left, as they may emit more.
    held: AtomicUsize,
    /// Woken when a runner settles deliveries (what they emitted is now visible) or stops.
    settled: Notify,
    /// Set when a runner fails: the others wind down.
    abort: AtomicBool,
    /// Set (before `abort`) when a runner failed because the backend cannot be reached: the
    /// others then do not give deliveries back one by one either.
    unreachable: AtomicBool,
    /// Deliveries that could be neither committed nor given back, with the first error.
    unsettled: std::sync::Mutex<Option<(usize, necro_core::BackendError)>>,
}

impl RunShared {
    fn new<B: Backend>(inner: &Inner<B>) -> Self {
        Self {
            hot: HotMetrics::register(inner),
            steps: AtomicU64::new(0),
            held: AtomicUsize::new(0),
            settled: Notify::new(),
            abort: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
            unsettled: std::sync::Mutex::new(None),
        }
    }

    /// Counts `n` deliveries as unsettled.
    fn unsettle(&self, n: usize, err: necro_core::BackendError) {
        let mut unsettled = self
            .unsettled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *unsettled {
            Some((count, _)) => *count += n,
            None => *unsettled = Some((n, err)),
        }
    }

    fn take_unsettled(&self) -> Option<(usize, necro_core::BackendError)> {
        self.unsettled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// How long to wait after the `failures`-th consecutive backend failure: 50 ms doubling, at
/// most 5 s.
fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    (Duration::from_millis(50) * 2u32.pow(exp)).min(Duration::from_secs(5))
}

const PROCESSED_TOTAL: &str = "necro_events_processed_total";
const EMITTED_TOTAL: &str = "necro_events_emitted_total";
const HANDLER_DURATION: &str = "necro_handler_duration_seconds";

/// Handles on the metric series written for every event, registered once per run with the
/// recorder installed at that time: building a labelled key per event cost about a fifth of
/// the spine's own work per event. Types no organ listens to fall back to the macros.
struct HotMetrics {
    /// `necro_events_processed_total` and `necro_events_emitted_total`, by route index.
    by_route: Vec<(metrics::Counter, metrics::Counter)>,
    /// `necro_handler_duration_seconds`, per organ (by registration index).
    duration: Vec<metrics::Histogram>,
}

impl HotMetrics {
    fn register<B: Backend>(inner: &Inner<B>) -> Self {
        let mut by_route =
            vec![(metrics::Counter::noop(), metrics::Counter::noop()); inner.routes.len()];
        for (t, route) in &inner.routes {
            let processed = metrics::counter!(PROCESSED_TOTAL, "event_type" => t.shared());
            let emitted = metrics::counter!(EMITTED_TOTAL, "event_type" => t.shared());
            if let Some(slot) = by_route.get_mut(route.index) {
                *slot = (processed, emitted);
            }
        }
        let duration = inner
            .organs
            .iter()
            .map(|slot| {
                metrics::histogram!(HANDLER_DURATION, "organ" => slot.organ.name_arc().clone())
            })
            .collect();
        Self { by_route, duration }
    }

    fn processed(&self, route: Option<&Route>, event_type: &EventType) {
        match route.and_then(|r| self.by_route.get(r.index)) {
            Some((c, _)) => c.increment(1),
            None => {
                metrics::counter!(PROCESSED_TOTAL, "event_type" => event_type.shared()).increment(1)
            }
        }
    }

    fn emitted(&self, route: Option<&Route>, event_type: &EventType) {
        match route.and_then(|r| self.by_route.get(r.index)) {
            Some((_, c)) => c.increment(1),
            None => {
                metrics::counter!(EMITTED_TOTAL, "event_type" => event_type.shared()).increment(1)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Drain,
    Service,
}

/// What became of one delivery.
enum Outcome {
    /// Ack it; enqueue these.
    Ack(Vec<Envelope>),
    /// Store this dead letter, then ack and enqueue these.
    DeadLetter(Box<DeadLetter>, Vec<Envelope>),
    /// Give it back to the backend.
    Nack(String),
    /// Give it back unhandled, without counting an attempt: its organs were still running at
    /// the shutdown deadline.
    Release,
}

struct Done<T> {
    delivery: Delivery<T>,
    outcome: Outcome,
}

/// What one runner shares with the tasks it spawns.
struct Local<T> {
    shared: Arc<RunShared>,
    /// Deliveries of tasks dropped before they finished (aborted at the shutdown deadline).
    abandoned: std::sync::Mutex<Vec<Delivery<T>>>,
}

impl<T> Local<T> {
    fn take_abandoned(&self) -> Vec<Delivery<T>> {
        std::mem::take(
            &mut *self
                .abandoned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Holds a spawned task's delivery; if the task is dropped before it finishes, hands the
/// delivery to its runner so it can be given back.
struct Abandon<'a, T> {
    delivery: Option<Delivery<T>>,
    sink: &'a std::sync::Mutex<Vec<Delivery<T>>>,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if let Some(delivery) = self.delivery.take() {
            self.sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(delivery);
        }
    }
}

/// Why one organ call failed.
struct CallFailure {
    kind: FailureKind,
    error: String,
    retries: u32,
}

/// One runner: pulls, dispatches and commits. A run has one per shard.
struct Runner<B: Backend> {
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
    fn new(inner: Arc<Inner<B>>, mode: Mode, shared: Arc<RunShared>, concurrency: usize) -> Self {
        let local = Arc::new(Local {
            shared: Arc::clone(&shared),
            abandoned: std::sync::Mutex::new(Vec::new()),
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

    async fn run(mut self) -> Result<(), RunError> {
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
                    Ok(()) => Counters::add(&self.inner.counters.released, n as u64),
                    Err(e) => self.backend_error("release", &e),
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
            self.give_back(leftover, when).await;
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
                    metrics::gauge!("necro_backend_circuit_state").set(0.0);
                }
                self.pull_failures = 0;
                let n = batch.len();
                self.queue.extend(batch);
                self.held += n;
                let held = self.shared.held.fetch_add(n, Ordering::AcqRel) + n;
                metrics::gauge!("necro_events_in_flight").set(held as f64);
                Ok(Some(n))
            }
            Err(err) => {
                self.pull_failures = self.pull_failures.saturating_add(1);
                Counters::add(&self.inner.counters.backend_errors, 1);
                metrics::counter!("necro_backend_errors_total", "op" => "pull").increment(1);
                let breaker = self.inner.settings.backend_breaker;
                if self.pull_failures >= breaker.failure_threshold {
                    metrics::gauge!("necro_backend_circuit_state").set(1.0);
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
                    metrics::gauge!("necro_backend_circuit_state").set(2.0);
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

    /// Commits everything done: dead letters and nacks first, then one commit of all acks
    /// and emitted events; on failure, source by source per the enqueue failure mode.
    async fn flush(&mut self) -> Result<(), RunError> {
        if self.done.is_empty() {
            return Ok(());
        }
        let done = std::mem::take(&mut self.done);
        let settled = done.len();
        let result = self.commit_done(done).await;
        self.settle(settled);
        let held = self.shared.held.load(Ordering::Acquire);
        metrics::gauge!("necro_events_in_flight").set(held as f64);
        result
    }

    async fn commit_done(&mut self, done: Vec<Done<B::Token>>) -> Result<(), RunError> {
        let mut commits: Vec<(Delivery<B::Token>, Vec<Envelope>)> = Vec::with_capacity(done.len());
        let mut release = Vec::new();
        for Done { delivery, outcome } in done {
            match outcome {
                Outcome::Ack(emitted) => commits.push((delivery, emitted)),
                Outcome::DeadLetter(letter, emitted) => {
                    let event_type = letter.event.event_type().shared();
                    match self.inner.dead_letters.store_boxed(*letter).await {
                        Ok(()) => {
                            Counters::add(&self.inner.counters.dead_lettered, 1);
                            metrics::counter!("necro_dead_letters_total", "kind" => "handler_failed", "event_type" => event_type).increment(1);
                            commits.push((delivery, emitted));
                        }
                        Err(err) => {
                            self.backend_error("dead_letter", &err);
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
        match self.inner.backend.commit(all_emitted, acks).await {
            Ok(()) => {
                self.commit_failures = 0;
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
        mut err: necro_core::BackendError,
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
        Counters::add(&self.inner.counters.backend_errors, 1);
        metrics::counter!("necro_backend_errors_total", "op" => "commit").increment(1);
        self.count_enqueue_failures(commits.iter().flat_map(|(_, e)| e.iter()));
        let message = if matches!(err, necro_core::BackendError::Timeout(_)) {
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
                        self.backend_error("dead_letter", &e);
                        store_failed = true;
                    }
                }
            }
            rest.push(delivery);
        }
        if !acks.is_empty() {
            let tokens = acks.iter().map(|d| d.token.clone()).collect();
            if let Err(e) = self.inner.backend.ack(tokens).await {
                Counters::add(&self.inner.counters.ack_errors, 1);
                metrics::counter!("necro_backend_errors_total", "op" => "ack").increment(1);
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
            self.commit_failures = self.commit_failures.saturating_add(1);
            self.inner
                .shutdown
                .sleep(backoff(self.commit_failures))
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
    ) -> Result<(), necro_core::BackendError> {
        for env in emitted {
            let letter = DeadLetter::with_reason(
                env.event.clone(),
                env.meta,
                DeadLetterKind::EnqueueFailed,
                reason.to_owned(),
                0,
            );
            self.inner.dead_letters.store_boxed(letter).await?;
            Counters::add(&self.inner.counters.dead_lettered, 1);
            metrics::counter!("necro_dead_letters_total", "kind" => "enqueue_failed", "event_type" => env.event.event_type().shared()).increment(1);
        }
        Ok(())
    }

    /// Counts emitted events that could not be enqueued, per event type.
    fn count_enqueue_failures<'a>(&self, events: impl Iterator<Item = &'a Envelope>) {
        for env in events {
            let t = env.event.event_type();
            self.inner.counters.enqueue_failure(t.as_str(), 1);
            metrics::counter!("necro_enqueue_failures_total", "event_type" => t.shared())
                .increment(1);
        }
    }

    /// Gives deliveries back unhandled: see [`give_back`].
    async fn give_back(&self, deliveries: Vec<Delivery<B::Token>>, when: &str) -> bool {
        give_back(&self.inner, &self.shared, deliveries, when).await
    }

    /// The RETRY enqueue mode: after a commit failed with `err`, commits `emitted` and `acks`
    /// again up to the retry policy's count, with its delays. Returns the last error when every
    /// retry failed (`err` itself when the policy allows none).
    async fn commit_with_retries(
        &self,
        emitted: &[Envelope],
        acks: &[B::Token],
        err: necro_core::BackendError,
    ) -> Result<(), necro_core::BackendError> {
        let policy = self.inner.settings.retry;
        let mut last = err;
        for retry in 0..policy.max_retries() {
            tokio::time::sleep(policy.delay(retry)).await;
            Counters::add(&self.inner.counters.enqueue_retries, 1);
            metrics::counter!("necro_enqueue_retries_total").increment(1);
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

    fn count_emitted<'a>(&self, events: impl Iterator<Item = &'a Envelope>, n: usize) {
        Counters::add(&self.inner.counters.emitted, n as u64);
        for env in events {
            let t = env.event.event_type();
            self.shared
                .hot
                .emitted(self.inner.routes.get(t.as_str()), t);
        }
    }

    /// Commits one source's emitted events and its ack, applying the enqueue failure mode.
    async fn commit_one(
        &mut self,
        delivery: Delivery<B::Token>,
        emitted: Vec<Envelope>,
    ) -> Result<(), RunError> {
        let backend = Arc::clone(&self.inner.backend);
        let first = backend
            .commit(emitted.clone(), vec![delivery.token.clone()])
            .await;
        let Err(mut err) = first else {
            self.count_emitted(emitted.iter(), emitted.len());
            return Ok(());
        };
        if emitted.is_empty() {
            // Nothing to enqueue: this was the ack itself.
            Counters::add(&self.inner.counters.ack_errors, 1);
            metrics::counter!("necro_backend_errors_total", "op" => "ack").increment(1);
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
                    self.backend_error("dead_letter", &e);
                    self.nack(delivery, format!("dead-letter store failed: {e}"))
                        .await;
                    return Ok(());
                }
                if let Err(e) = backend.ack(vec![delivery.token.clone()]).await {
                    Counters::add(&self.inner.counters.ack_errors, 1);
                    metrics::counter!("necro_backend_errors_total", "op" => "ack").increment(1);
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

    fn backend_error(&self, op: &'static str, err: &necro_core::BackendError) {
        backend_error(&self.inner, op, err);
    }

    async fn nack(&self, delivery: Delivery<B::Token>, reason: String) {
        let event_type = delivery.event.event_type().shared();
        match self.inner.backend.nack(delivery, reason).await {
            Ok(NackOutcome::DeadLettered) => {
                Counters::add(&self.inner.counters.nack_dead_lettered, 1);
                metrics::counter!("necro_dead_letters_total", "kind" => "max_deliveries", "event_type" => event_type).increment(1);
            }
            Ok(_) => Counters::add(&self.inner.counters.nacked, 1),
            Err(err) => self.backend_error("nack", &err),
        }
    }
}

/// Counts and logs a failed backend call.
fn backend_error<B: Backend>(inner: &Inner<B>, op: &'static str, err: &necro_core::BackendError) {
    Counters::add(&inner.counters.backend_errors, 1);
    metrics::counter!("necro_backend_errors_total", "op" => op).increment(1);
    tracing::error!(target: TARGET, op, error = %necro_core::error_chain(err), "backend call failed");
}

/// Gives deliveries back unhandled, in one `release` (no attempt counted). When that fails,
/// they stay delivered and unacknowledged in the backend; they are counted as unsettled, so
/// the run does not end `Ok`. Returns whether they were given back.
async fn give_back<B: Backend>(
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
            Counters::add(&inner.counters.released, n as u64);
            tracing::warn!(target: TARGET, deliveries = n, "gave deliveries back {when}");
            true
        }
        Err(e) => {
            backend_error(inner, "release", &e);
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

/// Routes one delivery to its organs and decides its outcome.
async fn dispatch<B: Backend>(
    inner: &Inner<B>,
    hot: &HotMetrics,
    delivery: &Delivery<B::Token>,
) -> Outcome {
    let event = &delivery.event;
    Counters::add(&inner.counters.processed, 1);
    let route = inner.routes.get(event.event_type().as_str());
    hot.processed(route, event.event_type());
    let Some(route) = route else {
        Counters::add(&inner.counters.unrouted, 1);
        metrics::counter!("necro_events_unrouted_total", "event_type" => event.event_type().shared())
            .increment(1);
        tracing::debug!(
            target: TARGET,
            event_id = %event.id(),
            event_type = %event.event_type(),
            "no organ listens to this event type; acked"
        );
        return Outcome::Ack(Vec::new());
    };
    let span = tracing::info_span!(
        target: TARGET,
        "necro.event",
        event_id = %event.id(),
        event_type = %event.event_type(),
        correlation_id = %delivery.meta.correlation_or(event),
        causation_id = tracing::field::Empty,
        attempt = delivery.attempt,
    );
    if let Some(c) = delivery.meta.causation_id {
        span.record("causation_id", tracing::field::display(c));
    }
    async move {
        let child_meta = Metadata::child_of(event, &delivery.meta);
        let mut emitted = Vec::new();
        let mut failures: Vec<Failure> = Vec::new();
        let mode = inner.settings.handler_mode;
        for &idx in &route.organs {
            let slot = &inner.organs[idx];
            let name = slot.organ.name();
            let organ_span = tracing::info_span!(target: TARGET, "necro.organ", organ = name);
            match call_organ(inner, slot, hot.duration.get(idx), event)
                .instrument(organ_span)
                .await
            {
                Ok(emit) => {
                    emitted.extend(emit.into_iter().map(|e| Envelope::with_meta(e, child_meta)));
                }
                Err(f) => {
                    inner.counters.handler_error(name);
                    metrics::counter!("necro_handler_errors_total", "organ" => slot.organ.name_arc().clone(), "kind" => f.kind.as_str()).increment(1);
                    tracing::error!(
                        target: TARGET,
                        organ = name,
                        error = %f.error,
                        kind = f.kind.as_str(),
                        retries = f.retries,
                        failure_mode = mode.as_str(),
                        attempt = delivery.attempt,
                        "organ failed"
                    );
                    failures.push(
                        Failure::new(Some(name.to_owned()), f.error)
                            .with_kind(f.kind)
                            .with_retries(f.retries),
                    );
                }
            }
        }
        if failures.is_empty() {
            return Outcome::Ack(emitted);
        }
        match mode {
            HandlerFailureMode::Log => Outcome::Ack(emitted),
            HandlerFailureMode::Store => Outcome::DeadLetter(
                Box::new(DeadLetter::new(
                    event.clone(),
                    delivery.meta,
                    DeadLetterKind::HandlerFailed,
                    failures,
                    delivery.attempt,
                )),
                emitted,
            ),
            HandlerFailureMode::Nack => Outcome::Nack(
                failures
                    .iter()
                    .map(|f| format!("{}: {}", f.organ.as_deref().unwrap_or("?"), f.error))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
    .instrument(span)
    .await
}

/// Calls one organ with its circuit breaker, timeout, panic guard and retries.
async fn call_organ<B: Backend>(
    inner: &Inner<B>,
    slot: &OrganSlot,
    duration: Option<&metrics::Histogram>,
    event: &Event,
) -> Result<Emit, CallFailure> {
    let mut retry = 0u32;
    loop {
        if let Some(breaker) = &slot.breaker
            && breaker.admit() == Admit::No
        {
            Counters::add(&inner.counters.circuit_rejections, 1);
            return Err(CallFailure {
                kind: FailureKind::CircuitOpen,
                error: "circuit breaker is open: failing fast".into(),
                retries: retry,
            });
        }
        let started = Instant::now();
        let result = run_handler(slot, event).await;
        let elapsed = started.elapsed();
        match duration {
            Some(h) => h.record(elapsed.as_secs_f64()),
            None => metrics::histogram!(HANDLER_DURATION, "organ" => slot.organ.name_arc().clone())
                .record(elapsed.as_secs_f64()),
        }
        if let Some(breaker) = &slot.breaker
            && let Some(state) = breaker.record(result.is_ok())
        {
            metrics::gauge!("necro_circuit_state", "organ" => slot.organ.name_arc().clone())
                .set(state.as_gauge());
            tracing::warn!(target: TARGET, state = state.as_str(), "circuit breaker changed state");
        }
        let failure = match result {
            Ok(emit) => {
                tracing::info!(
                    target: TARGET,
                    emitted = ?emit.iter().map(|e| e.event_type().as_str()).collect::<Vec<_>>(),
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    "event handled"
                );
                return Ok(emit);
            }
            Err(f) => f,
        };
        let retryable = match &failure {
            HandlerFailure::Error(e) => e.is_transient(),
            HandlerFailure::Timeout => {
                Counters::add(&inner.counters.timeouts, 1);
                true
            }
            HandlerFailure::Panic(_) => {
                Counters::add(&inner.counters.panics, 1);
                false
            }
        };
        if retryable && retry < slot.retry.max_retries() {
            let delay = slot.retry.delay(retry);
            retry += 1;
            Counters::add(&inner.counters.retries, 1);
            metrics::counter!("necro_handler_retries_total", "organ" => slot.organ.name_arc().clone()).increment(1);
            tracing::warn!(
                target: TARGET,
                error = %failure.describe(slot.timeout),
                retry,
                delay_ms = delay.as_millis() as u64,
                "organ failed; retrying"
            );
            tokio::time::sleep(delay).await;
            continue;
        }
        return Err(CallFailure {
            kind: failure.kind(),
            error: failure.describe(slot.timeout),
            retries: retry,
        });
    }
}

enum HandlerFailure {
    Error(OrganError),
    Timeout,
    Panic(String),
}

impl HandlerFailure {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Error(e) if e.is_transient() => FailureKind::Error,
            Self::Error(_) => FailureKind::Permanent,
            Self::Timeout => FailureKind::Timeout,
            Self::Panic(_) => FailureKind::Panic,
        }
    }

    fn describe(&self, timeout: Duration) -> String {
        match self {
            Self::Error(e) => e.chain_string(),
            Self::Timeout => format!("handler timed out after {timeout:?}"),
            Self::Panic(msg) => format!("handler panicked: {msg}"),
        }
    }
}

async fn run_handler(slot: &OrganSlot, event: &Event) -> Result<Emit, HandlerFailure> {
    match slot.organ.handler() {
        Handler::Async(organ) => {
            let fut = AssertUnwindSafe(organ.handle_boxed(event)).catch_unwind();
            match tokio::time::timeout(slot.timeout, fut).await {
                Err(_) => Err(HandlerFailure::Timeout),
                Ok(Err(panic)) => Err(HandlerFailure::Panic(necro_core::panic_message(&*panic))),
                Ok(Ok(res)) => res.map_err(HandlerFailure::Error),
            }
        }
        Handler::Blocking(organ) => {
            let organ = Arc::clone(organ);
            let event = event.clone();
            let task = tokio::task::spawn_blocking(move || organ.handle_sync(&event));
            match tokio::time::timeout(slot.timeout, task).await {
                Err(_) => Err(HandlerFailure::Timeout),
                Ok(Err(join)) => Err(HandlerFailure::Panic(match join.try_into_panic() {
                    Ok(panic) => necro_core::panic_message(&*panic),
                    Err(e) => e.to_string(),
                })),
                Ok(Ok(res)) => res.map_err(HandlerFailure::Error),
            }
        }
    }
}
