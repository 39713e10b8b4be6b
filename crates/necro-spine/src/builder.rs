//! [`SpineBuilder`]: every option, validated at `build()`, and [`Spine::builder`] /
//! [`Spine::builder_with_dead_letters`], which start one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use necro_core::{Backend, BoxedOrgan, DeadLetterStore, DynDeadLetterStore, EventType, IntoOrgan};

use crate::breaker::Breaker;
use crate::config::{
    BackendBreakerConfig, EnqueueFailureMode, HandlerFailureMode, OrganOptions, RetryPolicy,
    Settings,
};
use crate::error::BuildError;
use crate::shutdown::Shutdown;
use crate::spine::Spine;
use crate::state::{Inner, OrganSlot, Route};
use crate::telemetry::Telemetry;

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
}

/// Builds a [`Spine`]. Defaults follow the Python original (backup slide A2):
///
/// | option | default |
/// |---|---|
/// | `max_steps` | 10,000 |
/// | `enqueue_failure_mode` | [`EnqueueFailureMode::Store`] |
/// | `handler_failure_mode` | [`HandlerFailureMode::Log`] |
/// | `retry_policy` | 3 retries, 100 ms base, exponential, 10 s cap, jitter |
/// | `handler_timeout` | 30 s |
/// | `backend_breaker` | open after 10 consecutive failed pulls, 30 s cooldown |
/// | `concurrency` | 1 (strict FIFO and organ order) |
/// | `batch_size` | 64 deliveries per pull |
/// | `poll_interval` | 250 ms (how long a service run waits in one pull) |
/// | `shutdown_timeout` | 25 s (how long a service run's events in flight may take to finish after shutdown is requested) |
#[must_use = "a builder does nothing until build() is called"]
pub struct SpineBuilder<B: Backend> {
    backend: Arc<B>,
    dead_letters: Arc<dyn DynDeadLetterStore>,
    organs: Vec<(BoxedOrgan, OrganOptions)>,
    settings: Settings,
}

impl<B: Backend> std::fmt::Debug for SpineBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpineBuilder")
            .field(
                "organs",
                &self
                    .organs
                    .iter()
                    .map(|(o, _)| o.name())
                    .collect::<Vec<_>>(),
            )
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> SpineBuilder<B> {
    pub(crate) fn new(backend: Arc<B>, dead_letters: Arc<dyn DynDeadLetterStore>) -> Self {
        Self {
            backend,
            dead_letters,
            organs: Vec::new(),
            settings: Settings::default(),
        }
    }

    /// Registers an organ: an [`Organ`](necro_core::Organ), a
    /// [`SyncOrgan`](necro_core::SyncOrgan), a [`TypedOrgan`](necro_core::TypedOrgan), or a
    /// closure made with [`organ_fn`](necro_core::organ_fn). Organs receive events in
    /// registration order.
    pub fn organ<M>(self, organ: impl IntoOrgan<M>) -> Self {
        self.organ_with(organ, OrganOptions::default())
    }

    /// Registers an organ with its own retry policy, timeout or circuit breaker.
    pub fn organ_with<M>(mut self, organ: impl IntoOrgan<M>, options: OrganOptions) -> Self {
        self.organs.push((organ.into_organ(), options));
        self
    }

    /// The most events one run until drained may process (default 10,000).
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.settings.max_steps = max_steps;
        self
    }

    /// What to do when emitted events cannot be enqueued (default STORE).
    pub fn enqueue_failure_mode(mut self, mode: EnqueueFailureMode) -> Self {
        self.settings.enqueue_mode = mode;
        self
    }

    /// What to do when an organ fails after its retries (default LOG).
    pub fn handler_failure_mode(mut self, mode: HandlerFailureMode) -> Self {
        self.settings.handler_mode = mode;
        self
    }

    /// The retry policy for organs without their own, and for enqueue RETRY mode.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// The timeout for one handler call (default 30 s). It covers sync organs too.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.settings.handler_timeout = timeout;
        self
    }

    /// The backend circuit breaker.
    pub fn backend_breaker(mut self, config: BackendBreakerConfig) -> Self {
        self.settings.backend_breaker = config;
        self
    }

    /// How many events may be in flight at once (default 1, which keeps strict FIFO order).
    ///
    /// Above 1, a run starts one runner task per runtime worker thread (at most `n`), each
    /// pulling, dispatching and committing on its own over the shared backend with its share
    /// of `n`; on a current-thread runtime there is one. A runner calls each event's organs
    /// inline, and only an event whose organs have to wait (I/O, a timer, a retry delay)
    /// becomes a task of its own, keeping its slot while the runner goes on. Events are then
    /// handled in no particular order. Install a `metrics` recorder before running: the
    /// per-event series are registered when a run starts.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n;
        self
    }

    /// How many deliveries one pull asks for (default 64). Acks and emitted events of one
    /// batch are committed to the backend together.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n;
        self
    }

    /// How long a service run waits in one pull before checking for shutdown (default 250 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.settings.poll_interval = d;
        self
    }

    /// How long, after shutdown is requested, a service run ([`Spine::run`],
    /// [`Spine::run_until`]) lets the events it is handling finish (default 25 s).
    ///
    /// On shutdown the run stops pulling and gives back at once (`Backend::release`, no
    /// attempt counted) the events it pulled but has not started. Events being handled get
    /// until this deadline; those still unfinished then are abandoned (their organ calls are
    /// dropped; a sync organ's thread runs on, its result discarded) and given back too, and
    /// the run commits what finished and returns `Ok` with its stats (`Stats::released` counts
    /// what was given back). Zero gives back everything not finished at once. A commit under
    /// way at the deadline is not cut short: it is bounded by the backend's own timeout.
    /// Keep it below the grace period of whatever sends the signal, with room for that
    /// commit: the default suits Kubernetes' default `terminationGracePeriodSeconds` of 30 s;
    /// `docker stop` waits only 10 s unless given `--time`.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// Sends dead letters to this store instead of the backend's own.
    pub fn dead_letters(mut self, store: impl DeadLetterStore) -> Self {
        self.dead_letters = Arc::new(store);
        self
    }

    /// Validates the configuration and builds the spine.
    ///
    /// # Errors
    /// A [`BuildError`] for an organ listening to no type or an empty type, duplicate organ
    /// names, or a zero `max_steps`, `concurrency`, `batch_size`, timeout or breaker threshold.
    pub fn build(self) -> Result<Spine<B>, BuildError> {
        let s = &self.settings;
        for (option, zero) in [
            ("max_steps", s.max_steps == 0),
            ("concurrency", s.concurrency == 0),
            ("batch_size", s.batch_size == 0),
            ("handler_timeout", s.handler_timeout.is_zero()),
            ("poll_interval", s.poll_interval.is_zero()),
            (
                "backend_breaker.failure_threshold",
                s.backend_breaker.failure_threshold == 0,
            ),
        ] {
            if zero {
                return Err(BuildError::Zero { option });
            }
        }
        let mut names = HashSet::new();
        let mut routes: HashMap<EventType, Vec<usize>> = HashMap::new();
        let mut slots = Vec::with_capacity(self.organs.len());
        for (idx, (organ, opts)) in self.organs.into_iter().enumerate() {
            let name = organ.name().to_owned();
            if name.trim().is_empty() {
                return Err(BuildError::EmptyOrganName);
            }
            if !names.insert(name.clone()) {
                return Err(BuildError::DuplicateOrganName(name));
            }
            if organ.listens_to().is_empty() {
                return Err(BuildError::NoEventTypes { organ: name });
            }
            for t in organ.listens_to() {
                let t = EventType::new(t).map_err(|source| BuildError::InvalidEventType {
                    organ: name.clone(),
                    source,
                })?;
                let list = routes.entry(t).or_default();
                if !list.contains(&idx) {
                    list.push(idx);
                }
            }
            if let Some(timeout) = opts.timeout
                && timeout.is_zero()
            {
                return Err(BuildError::Zero {
                    option: "organ timeout",
                });
            }
            let breaker = match opts.breaker {
                Some(cfg) if cfg.failure_threshold == 0 => {
                    return Err(BuildError::ZeroBreakerThreshold { organ: name });
                }
                Some(cfg) => Some(Breaker::new(cfg)),
                None => None,
            };
            slots.push(OrganSlot {
                retry: opts.retry.unwrap_or(s.retry),
                timeout: opts.timeout.unwrap_or(s.handler_timeout),
                breaker,
                organ,
            });
        }
        let routes = routes
            .into_iter()
            .enumerate()
            .map(|(index, (k, v))| {
                let route = Route {
                    organs: v.into_boxed_slice(),
                    index,
                };
                (k, route)
            })
            .collect();
        Ok(Spine {
            inner: Arc::new(Inner {
                backend: self.backend,
                dead_letters: self.dead_letters,
                organs: slots,
                routes,
                settings: self.settings,
                telemetry: Telemetry::default(),
                shutdown: Shutdown::default(),
                running: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}
