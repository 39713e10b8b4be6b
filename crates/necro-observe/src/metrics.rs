//! The recorder [`Metrics`] builds and installs, and its HTTP endpoint: `/metrics` and the
//! live view at `/`.
//!
//! One recorder stack: the `event_type` cap ([`CapLabelsLayer`]) in front of a fanout to the
//! Prometheus recorder (which renders `/metrics`) and the live view's snapshot recorder
//! (which the page reads).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::PrometheusHandle;
use metrics_util::layers::{Fanout, FanoutBuilder, Stack};
use tokio::task::JoinHandle;

use necro_core::DeadLetterQueue;

use crate::cap::{CapLabels, CapLabelsLayer};
use crate::dead_letters::{AdminToken, Settings, Shared, Source};
use crate::describe::describe_all;
use crate::error::ObserveError;
use crate::handle::{MetricsHandle, Samples};
use crate::server::{State, accept_loop};
use crate::snapshot::{self, Window};
use crate::view;

/// The default metrics address: loopback only, port 9464.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// The default cap on distinct `event_type` label values.
pub const DEFAULT_MAX_EVENT_TYPES: usize = 1000;

/// The bucket bounds (upper bounds, in seconds) of every histogram whose name ends in
/// `_seconds` on `/metrics`: NecroStack's `necro_handler_duration_seconds` and
/// `necro_commit_duration_seconds`, and an application's own `…_seconds` histograms.
///
/// From 100 µs to the 30 s default organ timeout in 1 – 2.5 – 5 steps per decade (×2 to
/// ×2.5 each), plus the `+Inf` bucket Prometheus always adds. Being buckets rather than
/// quantiles, they add up across workers: `histogram_quantile(0.99, sum by (le, organ)
/// (rate(necro_handler_duration_seconds_bucket[5m])))` is the p99 of a whole fleet.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// How many one-second throughput samples the live view keeps.
const SAMPLES: usize = 120;

/// Builder for the Prometheus recorder and its endpoint.
#[derive(Debug, Clone)]
#[must_use]
pub struct Metrics {
    addr: SocketAddr,
    upkeep: Duration,
    max_event_types: usize,
    window: Window,
    dead_letters: Settings,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Serves on [`DEFAULT_ADDR`] (`127.0.0.1:9464`) with histogram upkeep every 5 seconds
    /// and at most [`DEFAULT_MAX_EVENT_TYPES`] distinct `event_type` label values.
    pub fn new() -> Self {
        Self {
            addr: DEFAULT_ADDR,
            upkeep: Duration::from_secs(5),
            max_event_types: DEFAULT_MAX_EVENT_TYPES,
            window: Window::DEFAULT,
            dead_letters: Settings::default(),
        }
    }

    /// Adds a dead-letter section to the live page, read from `queue` (any
    /// [`DeadLetterQueue`]: a backend, an `Arc` of one, a `BoxBackend`): the count, the newest
    /// entries 20 a page, filters by organ, kind and event type. Read-only unless
    /// [`Metrics::dead_letter_actions`] is set; payloads hidden unless
    /// [`Metrics::show_payloads`]. Without it the page has no such section. A queue can also
    /// be attached once the server runs ([`MetricsServer::attach_dead_letters`]).
    pub fn dead_letters(mut self, queue: impl DeadLetterQueue) -> Self {
        self.dead_letters.source = Some(Source::new(queue));
        self
    }

    /// Whether the dead-letter section shows each letter's payload (off by default: payloads
    /// often carry personal data, as in [`JsonLogs::log_payloads`](crate::JsonLogs::log_payloads)).
    pub fn show_payloads(mut self, show: bool) -> Self {
        self.dead_letters.show_payloads = show;
        self
    }

    /// Enables the dead-letter section's actions — replay and purge, of one entry or a
    /// selection — for requests that carry `token` (`POST /dead-letters/replay` and
    /// `POST /dead-letters/purge`; see [`AdminToken`]). Off by default: the section is
    /// read-only and those paths answer 403.
    pub fn dead_letter_actions(mut self, token: AdminToken) -> Self {
        self.dead_letters.admin = Some(token);
        self
    }

    /// At most `max` distinct `event_type` label values; later event types are recorded as
    /// `event_type="_other"`. Event types come from the wire (a Redis producer can invent
    /// them), so this bounds the number of series. Applies to [`Metrics::install`].
    pub fn max_event_types(mut self, max: usize) -> Self {
        self.max_event_types = max;
        self
    }

    /// The address to listen on. Port 0 picks a free port ([`MetricsServer::local_addr`]
    /// tells which). Use `0.0.0.0` only when the endpoint must be reachable from elsewhere.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How often histogram upkeep runs (it keeps their memory bounded). At least 100 ms.
    pub fn upkeep_interval(mut self, every: Duration) -> Self {
        self.upkeep = every.max(Duration::from_millis(100));
        self
    }

    /// Builds the recorder [`Metrics::install`] installs, without installing it, and the
    /// handle to serve it with ([`Metrics::serve`]): for a recorder behind your own fanout
    /// or layers, or a local one. It caps `event_type` as [`Metrics::max_event_types`]
    /// says, then records both for `/metrics` and for the live view. On `/metrics`, every
    /// histogram whose name ends in `_seconds` is a Prometheus histogram with the buckets
    /// [`DURATION_BUCKETS`] (other histograms stay summaries, the exporter's default).
    ///
    /// ```
    /// let (recorder, handle) = necro_observe::Metrics::new().build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("necro_events_processed_total", "event_type" => "A").increment(2);
    /// });
    /// assert!(handle.render().contains("necro_events_processed_total{event_type=\"A\"} 2"));
    /// ```
    pub fn build(&self) -> (MetricsRecorder, MetricsHandle) {
        let prometheus = self.window.prometheus(DURATION_BUCKETS).build_recorder();
        let (live, snapshot) = snapshot::recorder(self.window);
        let handle = MetricsHandle {
            prometheus: prometheus.handle(),
            snapshot,
        };
        let fanout = FanoutBuilder::default()
            .add_recorder(prometheus)
            .add_recorder(live)
            .build();
        let stack =
            Stack::new(fanout).push(CapLabelsLayer::new("event_type", self.max_event_types));
        (MetricsRecorder(stack), handle)
    }

    /// Installs the recorder of [`Metrics::build`] as the global `metrics` recorder, with
    /// the HELP texts of NecroStack's metrics, and serves it.
    ///
    /// Must be called inside a Tokio runtime; the server and the upkeep task run on it until
    /// the returned [`MetricsServer`] is dropped.
    ///
    /// # Errors
    /// [`ObserveError::AddrInUse`] / [`ObserveError::Bind`] when the address cannot be bound
    /// (nothing is installed then), [`ObserveError::RecorderAlreadyInstalled`],
    /// [`ObserveError::NoRuntime`].
    pub fn install(self) -> Result<MetricsServer, ObserveError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(ObserveError::NoRuntime)?;
        let listener = bind(self.addr)?;
        let (recorder, handle) = self.build();
        metrics::set_global_recorder(recorder)
            .map_err(|_| ObserveError::RecorderAlreadyInstalled)?;
        describe_all();
        serve_on(&runtime, listener, handle, self.upkeep, self.dead_letters)
    }

    /// Serves a recorder of [`Metrics::build`] the caller installed itself, through its
    /// `handle`. Runs histogram upkeep on it too.
    ///
    /// # Errors
    /// As [`Metrics::install`], except that no recorder is installed.
    pub fn serve(self, handle: MetricsHandle) -> Result<MetricsServer, ObserveError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(ObserveError::NoRuntime)?;
        let listener = bind(self.addr)?;
        serve_on(&runtime, listener, handle, self.upkeep, self.dead_letters)
    }
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ObserveError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ObserveError::AddrInUse { addr, source }
        } else {
            ObserveError::Bind { addr, source }
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ObserveError::Bind { addr, source })?;
    Ok(listener)
}

/// The recorder [`Metrics::build`] makes: install it as the global recorder, put it behind
/// your own layers, or use it as a local recorder.
#[derive(Debug)]
pub struct MetricsRecorder(Stack<CapLabels<Fanout>>);

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, metadata)
    }
}

fn serve_on(
    runtime: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    handle: MetricsHandle,
    upkeep: Duration,
    dead_letters: Settings,
) -> Result<MetricsServer, ObserveError> {
    let local_addr = listener.local_addr().map_err(|source| ObserveError::Bind {
        addr: DEFAULT_ADDR,
        source,
    })?;
    let listener = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|source| ObserveError::Bind {
            addr: local_addr,
            source,
        })?
    };
    if !local_addr.ip().is_loopback() {
        warn_exposed(local_addr, &dead_letters);
    }
    let samples: Samples = Arc::new(Mutex::new(VecDeque::with_capacity(SAMPLES)));
    let dead_letters = Arc::new(Shared::new(dead_letters));
    let state = Arc::new(State {
        handle: handle.clone(),
        samples: Arc::clone(&samples),
        dead_letters: Arc::clone(&dead_letters),
    });
    let sampler = runtime.spawn(sample_and_upkeep(handle.clone(), samples, upkeep));
    let server = runtime.spawn(accept_loop(listener, state));
    Ok(MetricsServer {
        local_addr,
        handle: handle.prometheus,
        dead_letters,
        tasks: vec![sampler, server],
    })
}

/// The warning for a listener other hosts can reach: it names what they can see and do.
fn warn_exposed(addr: SocketAddr, dead_letters: &Settings) {
    let exposed = match (&dead_letters.source, &dead_letters.admin) {
        (None, _) => "/metrics and the live view",
        (Some(_), None) => "/metrics, the live view and its dead-letter section (read-only)",
        (Some(_), Some(_)) => {
            "/metrics, the live view and its dead-letter section with replay and purge (admin token)"
        }
    };
    let payloads = if dead_letters.show_payloads && dead_letters.source.is_some() {
        ", payloads shown"
    } else {
        ""
    };
    tracing::warn!(
        target: "necro_observe",
        %addr,
        "the metrics listener is not on loopback: {exposed}{payloads} are reachable from other hosts"
    );
}

async fn sample_and_upkeep(handle: MetricsHandle, samples: Samples, upkeep: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut since_upkeep = Duration::ZERO;
    loop {
        tick.tick().await;
        since_upkeep += Duration::from_secs(1);
        if since_upkeep >= upkeep {
            handle.upkeep();
            since_upkeep = Duration::ZERO;
        }
        let total = handle.snapshot.counter_total(view::PROCESSED);
        let mut s = samples.lock().unwrap_or_else(PoisonError::into_inner);
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back(total);
    }
}

/// A running metrics endpoint. Dropping it stops the server and the upkeep task (the
/// global recorder stays installed: `metrics` has no way to remove it).
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    handle: PrometheusHandle,
    dead_letters: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address actually listened on (with the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live view's URL, `http://ADDR/`; Prometheus text is at `http://ADDR/metrics`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    /// The recorder's handle: [`PrometheusHandle::render`] gives the text `/metrics` serves.
    #[must_use]
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }

    /// Gives the live page a dead-letter section read from `queue`, as
    /// [`Metrics::dead_letters`] does, for a queue that exists only once the server runs
    /// (an application that installs metrics before it connects its backend). Replaces a
    /// queue given before; the builder's [`Metrics::show_payloads`] and
    /// [`Metrics::dead_letter_actions`] apply.
    pub fn attach_dead_letters(&self, queue: impl DeadLetterQueue) {
        self.dead_letters.attach(Source::new(queue));
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    /// The value of the one line of `text` that starts with `series` and a space.
    fn value(text: &str, series: &str) -> f64 {
        let prefix = format!("{series} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {series}: {text}"));
        line[prefix.len()..].parse().unwrap()
    }

    /// The `_bucket` line of `le` of organ `a`'s handler duration in `text`.
    fn bucket(text: &str, le: &str) -> f64 {
        value(
            text,
            &format!("necro_handler_duration_seconds_bucket{{organ=\"a\",le=\"{le}\"}}"),
        )
    }

    #[test]
    fn metrics_renders_a_histogram_and_the_live_view_its_own_quantiles() {
        // The default window (the last 40 to 60 s): nothing expires while the test reads.
        let (recorder, handle) = Metrics::new().build();
        // 60 calls of 1 to 60 ms: fewer than one block (64) of the summary's sample buffer.
        // When a drain opens an empty window, the summary keeps only the newest block's
        // samples in its quantiles (it reads blocks newest first), and the true median is
        // then not what this test checks.
        metrics::with_local_recorder(&recorder, || {
            for ms in 1..=60 {
                metrics::histogram!("necro_handler_duration_seconds", "organ" => "a")
                    .record(f64::from(ms) / 1000.0);
            }
        });
        let text = handle.render();
        assert!(
            text.contains("# TYPE necro_handler_duration_seconds histogram"),
            "{text}"
        );
        assert!(!text.contains("quantile="), "{text}");
        // Every bound, cumulative: 1 ms to 60 ms, one call each.
        for le in DURATION_BUCKETS {
            let expected = (1..=60).filter(|&ms| f64::from(ms) / 1000.0 <= *le).count();
            assert_eq!(
                bucket(&text, &le.to_string()),
                expected as f64,
                "le={le}: {text}"
            );
        }
        assert_eq!(bucket(&text, "+Inf"), 60.0, "{text}");

        // The page keeps its windowed quantiles, computed from the recorded values.
        let (_, live) = handle.snapshot.snapshot().histograms[0];
        let p50 = live.p50.unwrap_or_default();
        let p99 = live.p99.unwrap_or_default();
        assert!((p50 - 0.030).abs() < 0.001, "p50 {p50}");
        assert!((p99 - 0.059).abs() < 0.001, "p99 {p99}");
        // And counts and sums the same calls as /metrics.
        assert_eq!(
            live.count,
            value(&text, "necro_handler_duration_seconds_count{organ=\"a\"}")
        );
        let sum = value(&text, "necro_handler_duration_seconds_sum{organ=\"a\"}");
        let expected: f64 = (1..=60).map(|ms| f64::from(ms) / 1000.0).sum();
        assert!((sum - expected).abs() < 1e-9, "{sum} vs {expected}");
        assert!((live.sum - sum).abs() < 1e-9, "{} vs {sum}", live.sum);
    }

    #[test]
    fn past_the_window_the_live_view_drops_the_quantiles_and_metrics_keeps_the_buckets() {
        let mut m = Metrics::new();
        // 3 buckets of 50 ms: a sample counts for 100 to 150 ms.
        m.window = Window::new(Duration::from_millis(50), NonZeroU32::MIN.saturating_add(2));
        let (recorder, handle) = m.build();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("necro_handler_duration_seconds", "organ" => "a").record(0.002);
        });
        std::thread::sleep(Duration::from_millis(300));
        let text = handle.render();
        assert_eq!(bucket(&text, "0.001"), 0.0, "{text}");
        assert_eq!(bucket(&text, "0.0025"), 1.0, "{text}");
        assert_eq!(bucket(&text, "+Inf"), 1.0, "{text}");
        let count = "necro_handler_duration_seconds_count{organ=\"a\"}";
        assert_eq!(value(&text, count), 1.0, "{text}");
        let (_, live) = handle.snapshot.snapshot().histograms[0];
        assert_eq!((live.p50, live.p99, live.count), (None, None, 1.0));
    }

    #[test]
    fn the_commit_duration_is_a_histogram_too() {
        let (recorder, handle) = Metrics::new().build();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(necro_core::telemetry::spine::COMMIT_DURATION.name).record(0.004);
        });
        let text = handle.render();
        assert!(
            text.contains("# TYPE necro_commit_duration_seconds histogram"),
            "{text}"
        );
        assert_eq!(
            value(&text, "necro_commit_duration_seconds_bucket{le=\"0.005\"}"),
            1.0,
            "{text}"
        );
        assert_eq!(value(&text, "necro_commit_duration_seconds_count"), 1.0);
    }

    #[test]
    fn the_event_type_cap_applies_to_metrics_and_the_live_view() {
        let (recorder, handle) = Metrics::new().max_event_types(1).build();
        metrics::with_local_recorder(&recorder, || {
            for t in ["A", "B", "C"] {
                metrics::counter!(view::PROCESSED, "event_type" => t).increment(1);
            }
        });
        let text = handle.render();
        assert!(
            text.contains("necro_events_processed_total{event_type=\"_other\"} 2"),
            "{text}"
        );
        let by_type = handle.snapshot.snapshot().by(view::PROCESSED, "event_type");
        assert_eq!(
            by_type.into_iter().collect::<Vec<_>>(),
            [("A".to_owned(), 1.0), ("_other".to_owned(), 2.0)]
        );
    }
}
