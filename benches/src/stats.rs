//! Small measurement helpers: throughput runs and latency percentiles.

use std::time::Duration;

/// One timed run that processed `events` events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// Events processed (each chain step counts one).
    pub events: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// Events per second.
    #[must_use]
    pub fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The best of several runs (the one least disturbed by other load on the machine).
#[must_use]
pub fn best(runs: &[Run]) -> f64 {
    runs.iter().map(Run::per_sec).fold(0.0, f64::max)
}

/// Latency percentiles of one series of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// How many samples.
    pub samples: usize,
}

impl Percentiles {
    /// Computes the percentiles (nearest rank) of `samples`.
    #[must_use]
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            samples: samples.len(),
        }
    }
}

/// Latency of one event: enqueue to organ entry, and enqueue to ack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Enqueue to the organ's first line.
    pub entry: Percentiles,
    /// Enqueue to the ack (for NecroStack: the backend's commit returned).
    pub ack: Percentiles,
}

impl Latency {
    /// From raw `(entry, ack)` samples.
    #[must_use]
    pub fn of(samples: &[(Duration, Duration)]) -> Self {
        Self {
            entry: Percentiles::of(samples.iter().map(|s| s.0).collect()),
            ack: Percentiles::of(samples.iter().map(|s| s.1).collect()),
        }
    }
}

/// A Tokio runtime like an application's: multi-threaded, two workers (this machine's cores).
///
/// # Panics
/// When the runtime cannot start.
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `fut` as a task on `rt`'s workers (not on the calling thread) and waits for it.
///
/// # Panics
/// When the task panics.
pub fn run_on<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    try_run_on(rt, fut).unwrap_or_else(|why| panic!("benchmark task failed: {why}"))
}

/// Like [`run_on`], but a panic in `fut` (a scenario's `expect` on a failing server) comes
/// back as `Err` with its message, after the panic hook has printed where it happened.
///
/// # Errors
/// The panic message, or the task's join error.
pub fn try_run_on<F>(rt: &tokio::runtime::Runtime, fut: F) -> Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move { tokio::spawn(fut).await })
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => necro_core::panic_message(&*panic),
            Err(e) => e.to_string(),
        })
}

/// `x` with an SI suffix (`1.2k`, `3.45M`).
#[must_use]
pub fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A `Run` that can be compared by throughput (for the criterion benches).
#[must_use]
pub fn describe(run: &Run) -> String {
    format!(
        "{} events in {:?} ({}/s)",
        run.events,
        run.elapsed,
        si(run.per_sec())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Percentiles::of((1..=1000).map(Duration::from_micros).collect());
        assert_eq!(p.p50, Duration::from_micros(500));
        assert_eq!(p.p99, Duration::from_micros(990));
        assert_eq!(p.p999, Duration::from_micros(999));
        assert_eq!(Percentiles::of(Vec::new()).p50, Duration::ZERO);
    }
}
