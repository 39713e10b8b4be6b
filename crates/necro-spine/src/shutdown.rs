//! Graceful shutdown: a handle that asks a running spine to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    requested: AtomicBool,
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
        self.0.requested.store(false, Ordering::Release);
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

/// Asks a running spine to stop gracefully: it stops pulling, finishes and acks the events
/// it already holds, and its `run` returns. Cheap to clone; send it anywhere.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Shutdown);

impl ShutdownHandle {
    /// Requests shutdown.
    pub fn shutdown(&self) {
        (self.0).0.requested.store(true, Ordering::Release);
        (self.0).0.notify.notify_waiters();
    }

    /// Whether shutdown was requested and the run has not yet finished.
    #[must_use]
    pub fn is_requested(&self) -> bool {
        self.0.is_requested()
    }
}
