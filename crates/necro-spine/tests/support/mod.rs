//! Shared helpers for the spine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, BoxedOrgan, Emit, Event, OrganError, organ_fn};
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

/// An organ that closes `backend` the first time it sees an A, and emits one B for that A
/// only: the commit of that B then fails as unreachable (`BackendError::Closed`). A
/// redelivered A emits nothing, so a source given back settles on its next delivery.
pub fn closer(backend: &MemoryBackend) -> necro_core::BoxedOrgan {
    let backend = backend.clone();
    organ_fn("Closer", ["A"], move |_ev: Event| {
        let first = !backend.is_closed();
        backend.close();
        async move {
            Ok(if first {
                Emit::one(ev("B"))
            } else {
                Emit::none()
            })
        }
    })
}

/// A memory backend cut off from its spine once closed: every call that would settle a
/// delivery (commit, ack, nack, release, dead-letter store) fails as unreachable, as on a
/// network partition. Pulls still answer (an empty closed queue answers at once).
/// Calls fail with `error()`: a broken connection, or a timeout.
#[derive(Clone)]
pub struct Partitioned(MemoryBackend, fn() -> necro_core::BackendError);

impl Partitioned {
    pub fn new(memory: &MemoryBackend) -> Self {
        Self(memory.clone(), || {
            necro_core::BackendError::Connection("partitioned".into())
        })
    }

    pub fn timing_out(memory: &MemoryBackend) -> Self {
        Self(memory.clone(), || {
            necro_core::BackendError::Timeout(Duration::from_secs(2))
        })
    }

    fn check(&self) -> Result<(), necro_core::BackendError> {
        if self.0.is_closed() {
            Err((self.1)())
        } else {
            Ok(())
        }
    }
}

impl Backend for Partitioned {
    type Token = <MemoryBackend as Backend>::Token;

    async fn enqueue(
        &self,
        batch: Vec<necro_core::Envelope>,
    ) -> Result<(), necro_core::BackendError> {
        self.check()?;
        self.0.enqueue(batch).await
    }

    async fn pull(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<necro_core::Delivery<Self::Token>>, necro_core::BackendError> {
        self.0.pull(max, wait).await
    }

    async fn ack(&self, tokens: Vec<Self::Token>) -> Result<(), necro_core::BackendError> {
        self.check()?;
        self.0.ack(tokens).await
    }

    async fn nack(
        &self,
        delivery: necro_core::Delivery<Self::Token>,
        reason: String,
    ) -> Result<necro_core::NackOutcome, necro_core::BackendError> {
        self.check()?;
        self.0.nack(delivery, reason).await
    }

    async fn release(
        &self,
        deliveries: Vec<necro_core::Delivery<Self::Token>>,
    ) -> Result<(), necro_core::BackendError> {
        self.check()?;
        self.0.release(deliveries).await
    }

    async fn commit(
        &self,
        emitted: Vec<necro_core::Envelope>,
        acks: Vec<Self::Token>,
    ) -> Result<(), necro_core::BackendError> {
        self.check()?;
        self.0.commit(emitted, acks).await
    }
}

impl necro_core::DeadLetterStore for Partitioned {
    async fn store(&self, letter: necro_core::DeadLetter) -> Result<(), necro_core::BackendError> {
        self.check()?;
        self.0.store(letter).await
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
