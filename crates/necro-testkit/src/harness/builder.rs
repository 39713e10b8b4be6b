//! [`HarnessBuilder`]: the organs and the spine settings a harness runs with.

use std::time::Duration;

use necro_core::IntoOrgan;
use necro_spine::{
    EnqueueFailureMode, HandlerFailureMode, OrganOptions, RetryPolicy, Spine, SpineBuilder,
};

use super::recording::RecordingBackend;
use super::{Harness, HarnessError};

/// The harness's default retry policy: the spine's 3 retries, from 1 ms and without jitter,
/// so that a test exercising retries takes milliseconds and always waits the same.
#[must_use]
pub fn test_retry_policy() -> RetryPolicy {
    RetryPolicy::exponential(3, Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(20))
        .with_jitter(false)
}

/// Builds a [`Harness`]: a [`SpineBuilder`] over a [`RecordingBackend`], with the spine's
/// defaults except the retry policy ([`test_retry_policy`]: 1 ms delays). Every setting not
/// passed through here is one [`configure`](Self::configure) call away.
///
/// ```
/// use necro_spine::HandlerFailureMode;
/// use necro_testkit::harness::Harness;
///
/// let harness = Harness::builder()
///     .handler_failure_mode(HandlerFailureMode::Store)
///     .configure(|spine| spine.batch_size(1))
///     .build()?;
/// assert!(harness.records().is_empty());
/// # Ok::<(), necro_testkit::harness::HarnessError>(())
/// ```
#[must_use = "a builder does nothing until build() is called"]
#[derive(Debug)]
pub struct HarnessBuilder {
    spine: SpineBuilder<RecordingBackend>,
}

impl HarnessBuilder {
    pub(crate) fn new(backend: RecordingBackend) -> Self {
        Self {
            spine: Spine::builder(backend).retry_policy(test_retry_policy()),
        }
    }

    /// Registers an organ (any kind the spine takes: [`Organ`](necro_core::Organ),
    /// [`SyncOrgan`](necro_core::SyncOrgan), [`TypedOrgan`](necro_core::TypedOrgan), an
    /// [`organ_fn`](necro_core::organ_fn) closure). Organs get events in registration order.
    pub fn organ<M>(self, organ: impl IntoOrgan<M>) -> Self {
        self.configure(|spine| spine.organ(organ))
    }

    /// Registers an organ with its own retry policy, timeout or circuit breaker.
    pub fn organ_with<M>(self, organ: impl IntoOrgan<M>, options: OrganOptions) -> Self {
        self.configure(|spine| spine.organ_with(organ, options))
    }

    /// What the spine does when an organ fails after its retries (the spine's default, LOG,
    /// unless set).
    pub fn handler_failure_mode(self, mode: HandlerFailureMode) -> Self {
        self.configure(|spine| spine.handler_failure_mode(mode))
    }

    /// What the spine does when emitted events cannot be enqueued (default STORE).
    pub fn enqueue_failure_mode(self, mode: EnqueueFailureMode) -> Self {
        self.configure(|spine| spine.enqueue_failure_mode(mode))
    }

    /// The retry policy of organs without their own (default [`test_retry_policy`]).
    pub fn retry_policy(self, policy: RetryPolicy) -> Self {
        self.configure(|spine| spine.retry_policy(policy))
    }

    /// No retries: an organ's first failure is its last.
    pub fn no_retries(self) -> Self {
        self.retry_policy(RetryPolicy::none())
    }

    /// The timeout of one handler call (default 30 s).
    pub fn handler_timeout(self, timeout: Duration) -> Self {
        self.configure(|spine| spine.handler_timeout(timeout))
    }

    /// The most events one [`Harness::send`] may process (default 10,000): a runaway chain
    /// ends the send with `RunError::MaxStepsExceeded`.
    pub fn max_steps(self, max_steps: u64) -> Self {
        self.configure(|spine| spine.max_steps(max_steps))
    }

    /// Events in flight at once (default 1). Above 1 the records' order is the order the
    /// commits finished in, not a fixed one.
    pub fn concurrency(self, n: usize) -> Self {
        self.configure(|spine| spine.concurrency(n))
    }

    /// Any other spine setting: `f` gets the [`SpineBuilder`] and returns it.
    pub fn configure(
        mut self,
        f: impl FnOnce(SpineBuilder<RecordingBackend>) -> SpineBuilder<RecordingBackend>,
    ) -> Self {
        self.spine = f(self.spine);
        self
    }

    /// Builds the spine and the harness around it.
    ///
    /// # Errors
    /// [`HarnessError::Build`] with the spine's [`BuildError`](necro_spine::BuildError)
    /// (duplicate organ names, an organ listening to nothing, a zero setting).
    pub fn build(self) -> Result<Harness, HarnessError> {
        Ok(Harness::from_spine(self.spine.build()?))
    }
}
