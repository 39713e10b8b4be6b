//! The Prometheus recorder and its HTTP endpoint: `/metrics` and the live view at `/`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

use crate::ObserveError;
use crate::cap::{Capped, describe_all};
use crate::view::{self, Snapshot};

/// The default metrics address: loopback only, port 9464.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// The default cap on distinct `event_type` label values.
pub const DEFAULT_MAX_EVENT_TYPES: usize = 1000;

/// How many one-second throughput samples the live view keeps.
const SAMPLES: usize = 120;

/// Builder for the Prometheus recorder and its endpoint.
#[derive(Debug, Clone)]
#[must_use]
pub struct Metrics {
    addr: SocketAddr,
    upkeep: Duration,
    max_event_types: usize,
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
        }
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

    /// Installs a Prometheus recorder as the global `metrics` recorder and serves it.
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
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(Capped::new(recorder, self.max_event_types))
            .map_err(|_| ObserveError::RecorderAlreadyInstalled)?;
        describe_all();
        serve_on(&runtime, listener, handle, self.upkeep)
    }

    /// Serves a recorder the caller installed itself (for instance behind a fanout, or as a
    /// local recorder), through its `handle`. Runs histogram upkeep on it too.
    ///
    /// # Errors
    /// As [`Metrics::install`], except that no recorder is installed.
    pub fn serve(self, handle: PrometheusHandle) -> Result<MetricsServer, ObserveError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(ObserveError::NoRuntime)?;
        let listener = bind(self.addr)?;
        serve_on(&runtime, listener, handle, self.upkeep)
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

/// Per-second totals of processed events, for the live view's throughput.
pub(crate) type Samples = Arc<Mutex<VecDeque<f64>>>;

fn serve_on(
    runtime: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    handle: PrometheusHandle,
    upkeep: Duration,
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
    let samples: Samples = Arc::new(Mutex::new(VecDeque::with_capacity(SAMPLES)));
    let state = Arc::new(State {
        handle: handle.clone(),
        samples: Arc::clone(&samples),
    });
    let sampler = runtime.spawn(sample_and_upkeep(handle.clone(), samples, upkeep));
    let server = runtime.spawn(accept_loop(listener, state));
    Ok(MetricsServer {
        local_addr,
        handle,
        tasks: vec![sampler, server],
    })
}

async fn sample_and_upkeep(handle: PrometheusHandle, samples: Samples, upkeep: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut since_upkeep = Duration::ZERO;
    loop {
        tick.tick().await;
        since_upkeep += Duration::from_secs(1);
        if since_upkeep >= upkeep {
            handle.run_upkeep();
            since_upkeep = Duration::ZERO;
        }
        let total = Snapshot::parse(&handle.render()).processed_total();
        let mut s = samples.lock().unwrap_or_else(PoisonError::into_inner);
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back(total);
    }
}

struct State {
    handle: PrometheusHandle,
    samples: Samples,
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn route(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.handle.render(),
        ),
        "/" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            view::page(&current(state)),
        ),
        "/view" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            view::fragment(&current(state)),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn current(state: &State) -> view::View {
    let snapshot = Snapshot::parse(&state.handle.render());
    let samples: Vec<f64> = state
        .samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .collect();
    view::View::new(snapshot, &samples)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A running metrics endpoint. Dropping it stops the server and the upkeep task (the
/// global recorder stays installed: `metrics` has no way to remove it).
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    handle: PrometheusHandle,
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
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
