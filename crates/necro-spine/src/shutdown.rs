//! Graceful shutdown: a handle that asks a running spine to stop, and [`shutdown_signal`],
//! which resolves on the signals a service is stopped with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::telemetry::TARGET;

#[derive(Debug, Default)]
struct State {
    requested: AtomicBool,
    /// When shutdown was first requested (the drain deadline counts from there).
    requested_at: Mutex<Option<Instant>>,
    notify: Notify,
}

/// Shared shutdown state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown(Arc<State>);

impl Shutdown {
    pub(crate) fn handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.clone())
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.0.requested.load(Ordering::Acquire)
    }

    pub(crate) fn reset(&self) {
        *self.requested_at() = None;
        self.0.requested.store(false, Ordering::Release);
    }

    fn requested_at(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0
            .requested_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves `timeout` after shutdown was first requested.
    pub(crate) async fn deadline(&self, timeout: Duration) {
        self.requested().await;
        let at = self.requested_at().unwrap_or_else(Instant::now);
        match at.checked_add(timeout) {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    }

    /// Resolves once shutdown is requested.
    pub(crate) async fn requested(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps for `d` unless shutdown is requested first; returns whether it was.
    pub(crate) async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => self.is_requested(),
            () = self.requested() => true,
        }
    }
}

/// Asks a running spine to stop gracefully: it stops pulling, gives back at once the events
/// it pulled but has not started, lets the events being handled finish (for at most the
/// [shutdown timeout](crate::SpineBuilder::shutdown_timeout), then gives them back too),
/// commits, and its `run` returns. Cheap to clone; send it anywhere.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Shutdown);

impl ShutdownHandle {
    /// Requests shutdown.
    pub fn shutdown(&self) {
        self.0.requested_at().get_or_insert_with(Instant::now);
        (self.0).0.requested.store(true, Ordering::Release);
        (self.0).0.notify.notify_waiters();
    }

    /// Whether shutdown was requested and the run has not yet finished.
    #[must_use]
    pub fn is_requested(&self) -> bool {
        self.0.is_requested()
    }
}

/// Resolves when the process is asked to stop: on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what
/// container orchestrators and service managers send). Pass it to
/// [`Spine::run_until`](crate::Spine::run_until) so a worker stops gracefully either way.
///
/// The handlers are installed when the future is first polled and stay installed for the life
/// of the process (tokio's signal handling): from then on neither signal kills the process,
/// a second one during the drain included; the run's own [shutdown
/// timeout](crate::SpineBuilder::shutdown_timeout) bounds how long the drain takes. A signal
/// that arrives before the first poll still has its default effect.
///
/// If a signal handler cannot be installed (rare: the process has no signal support), the
/// failure is logged and the other signal is still awaited.
///
/// ```no_run
/// # use necro_backend_memory::MemoryBackend;
/// # use necro_spine::Spine;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spine = Spine::builder(MemoryBackend::new()).build()?;
/// let stats = spine.run_until(necro_spine::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(target: TARGET, error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(target: TARGET, "SIGINT received: shutting down"),
        () = terminate => tracing::info!(target: TARGET, "SIGTERM received: shutting down"),
    }
}
