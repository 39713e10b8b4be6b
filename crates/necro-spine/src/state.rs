//! What a spine holds and what one run shares: the built spine's state ([`Inner`]: backend,
//! organs, routes, settings, telemetry, shutdown) and the state its runners share during a run
//! ([`RunShared`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use necro_core::{Backend, BackendError, BoxedOrgan, DynDeadLetterStore, EventType};
use tokio::sync::Notify;

use crate::breaker::Breaker;
use crate::config::{RetryPolicy, Settings};
use crate::shutdown::Shutdown;
use crate::telemetry::{HotMetrics, Telemetry};

/// One registered organ with its resolved options.
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

/// A built spine: what every clone of a [`Spine`](crate::Spine) shares.
pub(crate) struct Inner<B: Backend> {
    pub(crate) backend: Arc<B>,
    pub(crate) dead_letters: Arc<dyn DynDeadLetterStore>,
    pub(crate) organs: Vec<OrganSlot>,
    pub(crate) routes: HashMap<EventType, Route, foldhash::fast::RandomState>,
    pub(crate) settings: Settings,
    /// The stats counters and the metrics, written together.
    pub(crate) telemetry: Telemetry,
    pub(crate) shutdown: Shutdown,
    pub(crate) running: AtomicBool,
}

impl<B: Backend> Inner<B> {
    /// The index of the route of event type `t`, if any organ listens to it.
    #[inline]
    pub(crate) fn route_index(&self, t: &EventType) -> Option<usize> {
        self.routes.get(t.as_str()).map(|r| r.index)
    }
}

/// What the runners of one run share.
pub(crate) struct RunShared {
    /// Metric handles for the per-event series.
    pub(crate) hot: HotMetrics,
    /// Events started (counted against `max_steps` in drain runs).
    pub(crate) steps: AtomicU64,
    /// Deliveries pulled and not yet settled (committed, dead-lettered or given back), over
    /// every runner: a drain run is over only when none are left, as they may emit more.
    pub(crate) held: AtomicUsize,
    /// Woken when a runner settles deliveries (what they emitted is now visible) or stops.
    pub(crate) settled: Notify,
    /// Set when a runner fails: the others wind down.
    pub(crate) abort: AtomicBool,
    /// Set (before `abort`) when a runner failed because the backend cannot be reached: the
    /// others then do not give deliveries back one by one either.
    pub(crate) unreachable: AtomicBool,
    /// Deliveries that could be neither committed nor given back, with the first error.
    unsettled: Mutex<Option<(usize, BackendError)>>,
}

impl RunShared {
    pub(crate) fn new<B: Backend>(inner: &Inner<B>) -> Self {
        Self {
            hot: HotMetrics::register(
                inner.routes.len(),
                inner.routes.iter().map(|(t, route)| (t, route.index)),
                inner.organs.iter().map(|slot| slot.organ.name_arc()),
            ),
            steps: AtomicU64::new(0),
            held: AtomicUsize::new(0),
            settled: Notify::new(),
            abort: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
            unsettled: Mutex::new(None),
        }
    }

    /// Counts `n` deliveries as unsettled.
    pub(crate) fn unsettle(&self, n: usize, err: BackendError) {
        let mut unsettled = self
            .unsettled
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut *unsettled {
            Some((count, _)) => *count += n,
            None => *unsettled = Some((n, err)),
        }
    }

    /// The deliveries left unsettled, with the first error.
    pub(crate) fn take_unsettled(&self) -> Option<(usize, BackendError)> {
        self.unsettled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
