//! Peak resident memory of one million queued events, measured in a child process.

use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, Envelope};

use crate::events::root_event;

/// The process's peak resident set size in bytes (`VmHWM` in `/proc/self/status`), when known.
#[must_use]
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Queues `n` ~100-byte events in a fresh in-memory backend (the way a producer would, in
/// batches) and returns the peak RSS of the process afterwards, with the queue still full.
///
/// # Panics
/// When the enqueue fails (it cannot on an unbounded queue).
#[must_use]
pub fn queue_events(n: u64) -> Option<u64> {
    let backend = MemoryBackend::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let batch = (i..end).map(|j| Envelope::new(root_event(j))).collect();
            backend.enqueue(batch).await.expect("enqueue");
            i = end;
        }
    });
    assert_eq!(backend.len() as u64, n);
    let peak = peak_rss();
    drop(backend);
    peak
}

/// The baseline: the same events' JSON text held as plain `String`s in a `VecDeque`.
#[must_use]
pub fn queue_strings(n: u64) -> Option<u64> {
    let queue: std::collections::VecDeque<String> =
        (0..n).map(|i| root_event(i).to_json()).collect();
    assert_eq!(queue.len() as u64, n);
    let peak = peak_rss();
    drop(queue);
    peak
}
