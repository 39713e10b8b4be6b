//! Shared helpers for the spine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use necro_backend_memory::MemoryBackend;
use necro_core::{BoxedOrgan, Emit, Event, OrganError, organ_fn};
use necro_testkit::fault::{Calls, FaultError, Faults, FaultyBackend, Op};
use serde_json::json;

/// A shared log of (organ, event type, event id) calls.
#[derive(Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<(String, String, uuid::Uuid)>>>);

impl CallLog {
    pub fn push(&self, organ: &str, ev: &Event) {
        self.0
            .lock()
            .unwrap()
            .push((organ.to_owned(), ev.event_type().to_string(), ev.id()));
    }
    pub fn calls(&self) -> Vec<(String, String, uuid::Uuid)> {
        self.0.lock().unwrap().clone()
    }
    pub fn organs(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.0).collect()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

pub fn ev(t: &str) -> Event {
    Event::new(t, json!({})).unwrap()
}

pub fn ev_n(t: &str, n: u64) -> Event {
    Event::new(t, json!({ "n": n })).unwrap()
}

/// An organ that records its calls and emits one `emits` event per call (if any).
pub fn recorder(name: &str, listens: &[&str], emits: Option<&str>, log: &CallLog) -> BoxedOrgan {
    let log = log.clone();
    let organ = name.to_owned();
    let emits = emits.map(str::to_owned);
    organ_fn(name, listens.iter().copied(), move |ev: Event| {
        log.push(&organ, &ev);
        let emits = emits.clone();
        async move {
            match emits {
                Some(t) => Ok(Emit::one(Event::new(t, ev.payload().clone().into())?)),
                None => Ok(Emit::none()),
            }
        }
    })
}

/// An organ that fails (transiently) on every call, counting calls.
pub fn failing(name: &str, listens: &[&str], calls: &Arc<AtomicU32>) -> BoxedOrgan {
    let calls = Arc::clone(calls);
    let organ = name.to_owned();
    organ_fn(name, listens.iter().copied(), move |_ev: Event| {
        calls.fetch_add(1, Ordering::SeqCst);
        let organ = organ.clone();
        async move { Err(OrganError::msg(format!("{organ} is down"))) }
    })
}

/// An organ that fails the first `n` calls, then succeeds.
pub fn flaky(name: &str, listens: &[&str], n: u32, calls: &Arc<AtomicU32>) -> BoxedOrgan {
    let calls = Arc::clone(calls);
    organ_fn(name, listens.iter().copied(), move |_ev: Event| {
        let c = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if c < n {
                Err(OrganError::msg("transient"))
            } else {
                Ok(Emit::none())
            }
        }
    })
}

/// A memory backend behind a `FaultyBackend`: the tests script its failures through
/// `backend.faults()` and look at the queue through `backend.inner()`.
pub fn faulty() -> FaultyBackend<MemoryBackend> {
    FaultyBackend::new(MemoryBackend::new())
}

/// An organ that emits one B for every A.
pub fn emits_b() -> BoxedOrgan {
    organ_fn("EmitsB", ["A"], |_ev: Event| async {
        Ok(Emit::one(ev("B")))
    })
}

/// Cuts the backend off from its spine, as a network partition does: from now on every call
/// that would settle a delivery (commit, ack, nack, release, dead-letter store) fails with
/// `error`. Pulls and sends still answer.
pub fn partition(faults: &Faults, error: &FaultError) {
    for op in [Op::Commit, Op::Ack, Op::Nack, Op::Release, Op::Store] {
        faults.fail(op, Calls::always(), error.clone());
    }
}

/// Collects what a `tracing_subscriber::fmt` subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `run` on a current-thread runtime with a Prometheus recorder installed for this
/// thread only, and returns what the recorder then renders (the `/metrics` text).
pub fn render_metrics_of<F: std::future::Future<Output = ()>>(run: impl FnOnce() -> F) -> String {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run());
    });
    handle.render()
}
