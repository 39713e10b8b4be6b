//! Settings: the failure modes and policies (what the spine does when things go wrong), the
//! backend's backoff, and the option set a [`SpineBuilder`](crate::SpineBuilder) hands its
//! spine.

use std::time::Duration;

/// What the spine does when enqueueing an organ's emitted events fails.
///
/// In every mode a source event is never acked while its emitted events are half enqueued:
/// backends with an atomic commit enqueue all of them or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EnqueueFailureMode {
    /// Stop the run with [`RunError::Enqueue`](crate::RunError::Enqueue). The source events
    /// are not acked: they are given back to the backend for redelivery.
    Fail,
    /// Retry with exponential backoff per the spine's retry policy, then as `Fail`.
    /// An enqueue that succeeds on retry counts as emitted (and as a retry), not a failure.
    Retry,
    /// Put each emitted event that could not be enqueued in the dead-letter store, ack the
    /// source and go on. (If the store fails too, the source is given back for redelivery.)
    #[default]
    Store,
}

/// What the spine does when an organ fails (errors, panics, times out or its circuit is open),
/// after the organ's retries are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HandlerFailureMode {
    /// Log the failure and ack the event. Other organs' emitted events are enqueued.
    #[default]
    Log,
    /// Dead-letter the event with every failing organ's error, and ack it.
    /// Other organs' emitted events are enqueued.
    Store,
    /// Do not ack: give the event back to the backend, which redelivers it and, after its
    /// maximum number of deliveries, dead-letters it. Events emitted by the other organs
    /// during this attempt are discarded (the redelivery runs every organ again).
    Nack,
}

impl HandlerFailureMode {
    /// The mode's name in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Store => "store",
            Self::Nack => "nack",
        }
    }
}

/// Exponential backoff: `base_delay * 2^n`, capped at `max_delay`, with optional jitter
/// (each delay drawn uniformly from its upper half).
///
/// Jitter draws from the process-wide random generator unless the policy has a seed
/// ([`with_jitter_seed`](Self::with_jitter_seed)): then the delay before retry `n` is a pure
/// function of the seed and `n`, the same in every run, for every event and organ. With
/// tokio's paused clock (`#[tokio::test(start_paused = true)]`, which needs tokio's
/// `test-util` feature) the spine's timeouts and backoff run on virtual time, so a test sees
/// exactly these delays, at no wall-clock cost:
///
/// ```
/// use necro_spine::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter_seed(7);
/// let again = RetryPolicy::exponential(3, Duration::from_millis(100)).with_jitter_seed(7);
/// assert_eq!(p.delay(1), again.delay(1));
/// assert!(p.delay(1) >= Duration::from_millis(100) && p.delay(1) <= Duration::from_millis(200));
/// ```
///
/// ```
/// use necro_spine::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_retries(), 3);
/// assert_eq!(p.base_delay(), Duration::from_millis(100));
/// let fixed = p.with_jitter(false);
/// assert_eq!(fixed.delay(0), Duration::from_millis(100));
/// assert_eq!(fixed.delay(2), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    jitter: bool,
    jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// 3 retries, 100 ms base, 10 s cap, jitter on (the Python original's defaults).
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            jitter: true,
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// A policy with `max_retries` retries after the first try and the given base delay.
    #[must_use]
    pub fn exponential(max_retries: u32, base_delay: Duration) -> Self {
        Self {
            max_retries,
            base_delay,
            ..Self::default()
        }
    }

    /// Never retry.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries after the first try.
    #[must_use]
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the cap on one delay.
    #[must_use]
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Turns jitter on and makes it reproducible: the delay before retry `n` is drawn from a
    /// pure function of `seed` and `n` instead of the process-wide random generator. Every
    /// event and organ under this policy then waits the same delays; give organs policies with
    /// different seeds to spread them.
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter = true;
        self.jitter_seed = Some(seed);
        self
    }

    /// Retries after the first try.
    #[must_use]
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The first delay.
    #[must_use]
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The cap on one delay.
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Whether delays are jittered.
    #[must_use]
    pub fn jitter(&self) -> bool {
        self.jitter
    }

    /// The jitter seed, when jitter is reproducible.
    #[must_use]
    pub fn jitter_seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// The delay before retry number `retry` (0-based).
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let full = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        if self.jitter && !full.is_zero() {
            let half = full / 2;
            let unit = match self.jitter_seed {
                Some(seed) => seeded_unit(seed, retry),
                None => fastrand::f64(),
            };
            half + full.mul_f64(unit * 0.5)
        } else {
            full
        }
    }
}

/// A number in `[0, 1)` that depends only on `seed` and `retry`: splitmix64 of the pair, its
/// top 53 bits as the fraction.
fn seeded_unit(seed: u64, retry: u32) -> f64 {
    let mixed = splitmix64(seed ^ splitmix64(u64::from(retry)));
    // 53 bits fit an f64's mantissa exactly; 2^-53 scales them into [0, 1).
    (mixed >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The splitmix64 finalizer: a fixed, well-mixing map of 64-bit values.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A per-organ circuit breaker: after `failure_threshold` consecutive failures the organ's
/// circuit opens and calls fail fast (as handler failures) for `cooldown`; then one trial
/// call is let through (half-open): success closes it, failure opens it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before a trial call.
    pub cooldown: Duration,
}

impl Default for CircuitBreakerConfig {
    /// 5 consecutive failures, 30 s cooldown.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

impl CircuitBreakerConfig {
    /// A breaker opening after `failure_threshold` consecutive failures for `cooldown`.
    #[must_use]
    pub fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        Self {
            failure_threshold,
            cooldown,
        }
    }
}

/// The backend circuit breaker: after `failure_threshold` consecutive failed pulls the spine
/// stops pulling for `cooldown`. Between failed pulls it backs off exponentially (from
/// 50 ms, capped at 5 s). A run until drained stops with
/// [`RunError::BackendUnavailable`](crate::RunError::BackendUnavailable) when it opens;
/// a service run waits out the cooldown and tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendBreakerConfig {
    /// Consecutive failed pulls that open the circuit.
    pub failure_threshold: u32,
    /// How long a service run stops pulling once it is open.
    pub cooldown: Duration,
}

impl Default for BackendBreakerConfig {
    /// 10 consecutive failures, 30 s cooldown.
    fn default() -> Self {
        Self {
            failure_threshold: 10,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// How long to wait after the `failures`-th consecutive backend failure: 50 ms doubling, at
/// most 5 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    (Duration::from_millis(50) * 2u32.pow(exp)).min(Duration::from_secs(5))
}

/// A spine's options, as [`SpineBuilder`](crate::SpineBuilder) collects them (its table lists
/// the defaults).
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

/// Per-organ settings that override the spine's defaults.
///
/// ```
/// use necro_spine::{CircuitBreakerConfig, OrganOptions, RetryPolicy};
/// use std::time::Duration;
/// let opts = OrganOptions::new()
///     .retry(RetryPolicy::exponential(5, Duration::from_millis(50)))
///     .timeout(Duration::from_secs(2))
///     .circuit_breaker(CircuitBreakerConfig::new(3, Duration::from_secs(10)));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OrganOptions {
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) breaker: Option<CircuitBreakerConfig>,
}

impl OrganOptions {
    /// No overrides.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This organ's retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// This organ's handler timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A circuit breaker for this organ.
    #[must_use]
    pub fn circuit_breaker(mut self, config: CircuitBreakerConfig) -> Self {
        self.breaker = Some(config);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_jitter_is_reproducible_and_stays_in_the_upper_half() {
        let p = RetryPolicy::exponential(10, Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter_seed(42);
        let q = RetryPolicy::exponential(10, Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter_seed(42);
        for retry in 0..10 {
            let full = Duration::from_millis(100) * 2u32.pow(retry);
            let d = p.delay(retry);
            assert_eq!(d, q.delay(retry));
            assert_eq!(d, p.delay(retry), "a pure function of (seed, retry)");
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} of {full:?}"
            );
        }
        let other = p.with_jitter_seed(43);
        assert!((0..10).any(|r| other.delay(r) != p.delay(r)));
        assert!(p.with_jitter(false).delay(3) == Duration::from_millis(800));
    }

    #[test]
    fn seeded_units_spread_over_the_unit_interval() {
        let units: Vec<f64> = (0..1000).map(|r| seeded_unit(7, r)).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let low = units.iter().filter(|u| **u < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below one half");
    }
}
