//! In-memory scenarios: the A→B→C chain and single-event latency, each with its raw tokio
//! channel baseline; and the chain through a `BoxBackend`, and with headers, against the plain
//! backend.

use std::hint::black_box;
use std::time::Duration;

use necro_backend_memory::{MemoryBackend, MemoryDeadLetters};
use necro_core::{Backend, BoxBackend, DeadLetterStore, Emit, Envelope, Event, Metadata, organ_fn};
use necro_spine::Spine;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::events::{TYPE_A, TYPE_B, TYPE_C, next_event, root_event};
use crate::probe::Probe;
use crate::stats::{Latency, Run};

/// The three chain organs (`StepA`, `StepB`, `StepC`) on a spine over `backend`.
///
/// # Panics
/// Never: the configuration is valid.
#[must_use]
pub fn chain_spine<B>(
    builder: necro_spine::SpineBuilder<B>,
    concurrency: usize,
    batch_size: usize,
    max_steps: u64,
) -> Spine<B>
where
    B: Backend,
{
    let step = |ev: Event| async move { Ok(Emit::from(next_event(&ev))) };
    builder
        .organ(organ_fn("StepA", [TYPE_A], step))
        .organ(organ_fn("StepB", [TYPE_B], step))
        .organ(organ_fn("StepC", [TYPE_C], step))
        .concurrency(concurrency)
        .batch_size(batch_size)
        .max_steps(max_steps)
        .build()
        .expect("valid spine")
}

/// Root events, built before any timing starts.
#[must_use]
pub fn roots(n: u64) -> Vec<Event> {
    (0..n).map(root_event).collect()
}

/// NecroStack: `roots` chains through the spine on the in-memory backend, queued before the
/// clock starts; timed from the start of `run_until_drained` to its return.
///
/// # Panics
/// When the run fails (it cannot on a fresh unbounded queue).
pub async fn necro_chain(roots: Vec<Event>, concurrency: usize) -> Run {
    chain_on(
        MemoryBackend::new(),
        roots,
        Metadata::default(),
        concurrency,
    )
    .await
}

/// As [`necro_chain`], each root carrying a W3C trace context (`traceparent` and
/// `tracestate`, which every organ passes on by default): what carrying headers down a chain
/// costs (their copies into each emitted event and into each organ call's context).
///
/// # Panics
/// When the run fails (it cannot on a fresh unbounded queue).
pub async fn necro_chain_with_headers(roots: Vec<Event>, concurrency: usize) -> Run {
    let meta = Metadata::default()
        .with_header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .and_then(|m| m.with_header("tracestate", "necro=bench"))
        .expect("valid headers");
    chain_on(MemoryBackend::new(), roots, meta, concurrency).await
}

/// As [`necro_chain`], with the in-memory backend erased into a [`BoxBackend`] (a boxed future
/// per backend call, a boxed token per delivery): what choosing the backend at run time costs.
///
/// # Panics
/// When the run fails (it cannot on a fresh unbounded queue).
pub async fn necro_chain_boxed(roots: Vec<Event>, concurrency: usize) -> Run {
    chain_on(
        BoxBackend::new(MemoryBackend::new()),
        roots,
        Metadata::default(),
        concurrency,
    )
    .await
}

async fn chain_on<B>(backend: B, roots: Vec<Event>, meta: Metadata, concurrency: usize) -> Run
where
    B: Backend + DeadLetterStore + Clone,
{
    let n = roots.len() as u64;
    let spine = chain_spine(Spine::builder(backend.clone()), concurrency, 64, n * 3 + 1);
    backend
        .enqueue(
            roots
                .into_iter()
                .map(|e| Envelope::with_meta(e, meta.clone()))
                .collect(),
        )
        .await
        .expect("enqueue");
    let start = Instant::now();
    let stats = spine.run_until_drained().await.expect("chain run");
    let elapsed = start.elapsed();
    assert_eq!(stats.processed, n * 3, "every chain step ran");
    Run {
        events: stats.processed,
        elapsed,
    }
}

/// Raw baseline: three tokio tasks joined by unbounded channels, each running the same chain
/// step ([`next_event`]); the roots are queued in the first channel before the clock starts.
///
/// # Panics
/// When a task panics.
pub async fn raw_chain(roots: Vec<Event>) -> Run {
    let n = roots.len() as u64;
    let (tx_a, mut rx_a) = mpsc::unbounded_channel::<Event>();
    for ev in roots {
        tx_a.send(ev).expect("open");
    }
    drop(tx_a);
    let (tx_b, mut rx_b) = mpsc::unbounded_channel::<Event>();
    let (tx_c, mut rx_c) = mpsc::unbounded_channel::<Event>();
    let start = Instant::now();
    let a = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(ev) = rx_a.recv().await {
            count += 1;
            if let Some(next) = next_event(&ev) {
                let _ = tx_b.send(next);
            }
        }
        count
    });
    let b = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(ev) = rx_b.recv().await {
            count += 1;
            if let Some(next) = next_event(&ev) {
                let _ = tx_c.send(next);
            }
        }
        count
    });
    let c = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(ev) = rx_c.recv().await {
            count += 1;
            black_box(next_event(&ev));
        }
        count
    });
    let events = a.await.expect("task A") + b.await.expect("task B") + c.await.expect("task C");
    let elapsed = start.elapsed();
    assert_eq!(events, n * 3);
    Run { events, elapsed }
}

/// NecroStack: one event at a time through a spine running as a service on the in-memory
/// backend; enqueue to organ entry, and enqueue to ack (the backend's commit returned).
/// The first `warmup` samples are dropped.
///
/// # Panics
/// When the spine fails.
pub async fn necro_latency(samples: usize, warmup: usize) -> Latency {
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    let (entry_tx, mut entry_rx) = mpsc::unbounded_channel::<Instant>();
    let probe = Probe::new(MemoryBackend::new(), ack_tx);
    let spine = Spine::builder_with_dead_letters(probe, MemoryDeadLetters::default())
        .organ(organ_fn("Entry", [TYPE_A], move |_ev: Event| {
            let _ = entry_tx.send(Instant::now());
            async { Ok(Emit::none()) }
        }))
        .poll_interval(Duration::from_secs(1))
        .build()
        .expect("valid spine");
    let runner = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run().await }
    });
    let mut out = Vec::with_capacity(samples);
    for i in 0..(samples + warmup) as u64 {
        let ev = root_event(i);
        let t0 = Instant::now();
        spine.send(ev).await.expect("send");
        let entry = entry_rx.recv().await.expect("organ ran");
        let ack = ack_rx.recv().await.expect("acked");
        if i as usize >= warmup {
            out.push((entry - t0, ack - t0));
        }
    }
    spine.shutdown_handle().shutdown();
    runner.await.expect("runner").expect("run");
    Latency::of(&out)
}

/// Raw baseline: one event at a time through a tokio channel to a task, which notes its
/// entry, drops the event and notes its "ack".
///
/// # Panics
/// When the task panics.
pub async fn raw_latency(samples: usize, warmup: usize) -> Latency {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Instant, Instant)>();
    let task = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let entry = Instant::now();
            black_box(ev);
            let _ = done_tx.send((entry, Instant::now()));
        }
    });
    let mut out = Vec::with_capacity(samples);
    for i in 0..(samples + warmup) as u64 {
        let ev = root_event(i);
        let t0 = Instant::now();
        tx.send(ev).expect("open");
        let (entry, ack) = done_rx.recv().await.expect("task ran");
        if i as usize >= warmup {
            out.push((entry - t0, ack - t0));
        }
    }
    drop(tx);
    task.await.expect("task");
    Latency::of(&out)
}
