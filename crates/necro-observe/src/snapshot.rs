//! The live view's recorder and what it reads: every counter, gauge and histogram the
//! application records, kept beside the Prometheus recorder (both behind one fanout), so
//! the page reads recorded values rather than parsing the text `/metrics` renders.
//!
//! Counters and gauges are atomics in a `metrics-util` [`Registry`]. Each histogram sample
//! is stamped when it is recorded and later drained into a rolling summary (the Prometheus
//! exporter's [`Distribution`], over a [`Window`]), from which the page computes its p50 and
//! p99 over the last 40 to 60 s. `/metrics` renders the same calls as a histogram with
//! fixed buckets instead (its `_sum` and `_count` match the page's sum and count); the
//! window then applies only to histograms not named `…_seconds`, which it renders as
//! summaries.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::atomics::AtomicU64;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{Distribution, DistributionBuilder, Matcher, PrometheusBuilder};
use metrics_util::registry::{Registry, Storage};
use metrics_util::storage::AtomicBucket;
use quanta::Instant;

/// The rolling window of histogram quantiles: `count` buckets of `bucket` each. A sample
/// counts until the bucket it fell in is `count` buckets old, so the window covers the last
/// `(count - 1) × bucket` to `count × bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    bucket: Duration,
    count: NonZeroU32,
}

impl Window {
    /// The exporter's default: 3 buckets of 20 s, the last 40 to 60 s.
    pub(crate) const DEFAULT: Self = Self {
        bucket: Duration::from_secs(20),
        count: NonZeroU32::MIN.saturating_add(2),
    };

    /// `count` buckets of `bucket` (at least 1 ms) each.
    #[cfg(test)]
    pub(crate) fn new(bucket: Duration, count: NonZeroU32) -> Self {
        Self {
            bucket: bucket.max(Duration::from_millis(1)),
            count,
        }
    }

    /// A Prometheus recorder builder that renders every histogram whose name ends in
    /// `_seconds` as a histogram with the bounds `buckets` (not empty), and any other as a
    /// summary over this window.
    pub(crate) fn prometheus(self, buckets: &[f64]) -> PrometheusBuilder {
        // Only empty bounds are refused, and the caller passes a non-empty constant.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), buckets)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .set_bucket_count(self.count);
        // Only a zero bucket is refused, and `Window` never holds one.
        builder
            .set_bucket_duration(self.bucket)
            .unwrap_or_else(|_| PrometheusBuilder::new())
    }

    fn distributions(self) -> DistributionBuilder {
        DistributionBuilder::new(
            metrics_util::parse_quantiles(&[0.5, 0.99]),
            Some(self.bucket),
            None,
            Some(self.count),
            None,
            None,
        )
    }
}

/// Histogram samples with the instant each was recorded, until drained into a window.
#[derive(Debug, Default)]
struct Stamped(AtomicBucket<(f64, Instant)>);

impl HistogramFn for Stamped {
    fn record(&self, value: f64) {
        self.0.push((value, Instant::now()));
    }
}

#[derive(Debug)]
struct Atomics;

impl<K> Storage<K> for Atomics {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<Stamped>;

    fn counter(&self, _: &K) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }
    fn gauge(&self, _: &K) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }
    fn histogram(&self, _: &K) -> Self::Histogram {
        Arc::default()
    }
}

#[derive(Debug)]
struct Shared {
    registry: Registry<Key, Atomics>,
    windows: Mutex<HashMap<Key, Distribution>>,
    distributions: DistributionBuilder,
}

/// The recording half of [`recorder`]: install it beside the Prometheus recorder.
#[derive(Debug)]
pub(crate) struct SnapshotRecorder(Arc<Shared>);

/// The reading half of [`recorder`].
#[derive(Debug, Clone)]
pub(crate) struct SnapshotHandle(Arc<Shared>);

/// A recorder that keeps values for the live view, and the handle that reads them.
pub(crate) fn recorder(window: Window) -> (SnapshotRecorder, SnapshotHandle) {
    let shared = Arc::new(Shared {
        registry: Registry::new(Atomics),
        windows: Mutex::new(HashMap::new()),
        distributions: window.distributions(),
    });
    (
        SnapshotRecorder(Arc::clone(&shared)),
        SnapshotHandle(shared),
    )
}

impl Recorder for SnapshotRecorder {
    // The page shows no HELP texts: descriptions are the Prometheus recorder's.
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .registry
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

impl SnapshotHandle {
    /// The sum of every series of the counter `name`.
    pub(crate) fn counter_total(&self, name: &str) -> f64 {
        let mut total = 0.0;
        self.0.registry.visit_counters(|key, c| {
            if key.name() == name {
                total += c.load(Ordering::Relaxed) as f64;
            }
        });
        total
    }

    /// Moves the histogram samples recorded since the last call into their windows, which
    /// keeps their memory bounded (the exporter's upkeep does the same on its side).
    pub(crate) fn upkeep(&self) {
        drop(self.drain());
    }

    fn drain(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Distribution>> {
        let mut windows = self
            .0
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.0.registry.visit_histograms(|key, samples| {
            let window = windows
                .entry(key.clone())
                .or_insert_with(|| self.0.distributions.get_distribution(key.name()));
            samples.0.clear_with(|s| window.record_samples(s));
        });
        windows
    }

    /// Every series' value now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.0.registry.visit_counters(|key, c| {
            snapshot
                .counters
                .push((key.clone(), c.load(Ordering::Relaxed) as f64));
        });
        self.0.registry.visit_gauges(|key, g| {
            snapshot
                .gauges
                .push((key.clone(), f64::from_bits(g.load(Ordering::Relaxed))));
        });
        let now = Instant::now();
        for (key, window) in self.drain().iter() {
            // The builder makes summaries only (it is given no histogram buckets).
            let Distribution::Summary(rolling, _, sum) = window else {
                continue;
            };
            let recent = rolling.snapshot(now);
            snapshot.histograms.push((
                key.clone(),
                Summary {
                    count: rolling.count() as f64,
                    sum: *sum,
                    p50: recent.quantile(0.5),
                    p99: recent.quantile(0.99),
                },
            ));
        }
        snapshot
    }
}

/// One histogram series: count and sum since start, quantiles over the [`Window`] (`None`
/// when no sample fell in it; `/metrics` renders those as 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) count: f64,
    pub(crate) sum: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// Every series' value at one moment, in no particular order.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) counters: Vec<(Key, f64)>,
    pub(crate) gauges: Vec<(Key, f64)>,
    pub(crate) histograms: Vec<(Key, Summary)>,
}

/// The value of `label` on `key`.
pub(crate) fn label<'k>(key: &'k Key, label: &str) -> Option<&'k str> {
    key.labels().find(|l| l.key() == label).map(|l| l.value())
}

impl Snapshot {
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a (Key, f64)> + 'a {
        self.counters
            .iter()
            .chain(&self.gauges)
            .filter(move |(k, _)| k.name() == name)
    }

    /// The sum of every counter or gauge series named `name`.
    pub(crate) fn sum(&self, name: &str) -> f64 {
        self.named(name).map(|(_, v)| v).sum()
    }

    /// The value of the first counter or gauge series named `name`.
    pub(crate) fn first(&self, name: &str) -> Option<f64> {
        self.named(name).next().map(|(_, v)| *v)
    }

    /// The sums of the counter or gauge `name`, grouped by the value of `label` (`""` for
    /// series without it).
    pub(crate) fn by(&self, name: &str, label_key: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (key, v) in self.named(name) {
            *out.entry(label(key, label_key).unwrap_or("").to_owned())
                .or_insert(0.0) += v;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_histograms_are_read_back() {
        let (rec, handle) = recorder(Window::DEFAULT);
        metrics::with_local_recorder(&rec, || {
            metrics::counter!("c", "organ" => "a").increment(2);
            metrics::counter!("c", "organ" => "b").increment(3);
            metrics::gauge!("g").set(1.5);
            metrics::histogram!("h").record(0.25);
        });
        let s = handle.snapshot();
        assert!((s.sum("c") - 5.0).abs() < f64::EPSILON);
        assert!((handle.counter_total("c") - 5.0).abs() < f64::EPSILON);
        assert_eq!(s.by("c", "organ").get("b"), Some(&3.0));
        assert_eq!(s.first("g"), Some(1.5));
        let (_, h) = s.histograms[0];
        assert!((h.count - 1.0).abs() < f64::EPSILON && (h.sum - 0.25).abs() < 1e-12);
        assert!(h.p50.is_some_and(|p| (p - 0.25).abs() < 0.01), "{h:?}");
    }

    #[test]
    fn upkeep_keeps_the_samples_it_drains() {
        let (rec, handle) = recorder(Window::DEFAULT);
        metrics::with_local_recorder(&rec, || metrics::histogram!("h").record(1.0));
        handle.upkeep();
        metrics::with_local_recorder(&rec, || metrics::histogram!("h").record(3.0));
        let (_, h) = handle.snapshot().histograms[0];
        assert!((h.count - 2.0).abs() < f64::EPSILON && (h.sum - 4.0).abs() < 1e-12);
    }
}
