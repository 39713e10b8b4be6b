//! Shared helpers for the spine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use necro_core::{BoxedOrgan, Emit, Event, OrganError, organ_fn};
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
