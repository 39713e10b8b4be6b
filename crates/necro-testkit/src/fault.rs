//! Fault injection: [`FaultyBackend`] wraps any backend and forwards every call to it, except
//! where a test's [`Faults`] script says otherwise — fail a call with a chosen
//! [`BackendError`] ([`FaultError`]), fail it after the inner backend ran it, or slow it down.
//! It counts the calls of each operation ([`Op`]) either way.
//!
//! ```
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::serde_json::json;
//! use necro_core::{Backend, Envelope, Event};
//! use necro_testkit::fault::{Calls, FaultError, FaultyBackend, Op};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let backend = FaultyBackend::new(MemoryBackend::new());
//! let faults = backend.faults().clone();
//! // The second enqueue fails as a broken connection; the others go through.
//! faults.fail(Op::Enqueue, Calls::nth(2), FaultError::unavailable());
//! let ev = || Envelope::new(Event::new("A", json!({})).unwrap());
//! backend.enqueue(vec![ev()]).await.unwrap();
//! let err = backend.enqueue(vec![ev()]).await.unwrap_err();
//! assert!(err.is_unreachable() && FaultError::is_injected(&err));
//! backend.enqueue(vec![ev()]).await.unwrap();
//! assert_eq!(faults.calls(Op::Enqueue), 3);
//! assert_eq!(faults.injected(Op::Enqueue), 1);
//! assert_eq!(backend.inner().len(), 2);
//! # }
//! ```
//!
//! The rules are kept behind a lock that is never held across an `.await`; a [`Faults`] can
//! be changed while a spine runs on the backend (from an organ, another task, between runs).

mod backend;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use necro_core::{BackendError, BoxError};

pub use backend::FaultyBackend;

/// An operation of a backend, as [`Faults`] scripts and counts them.
///
/// Each trait method is its own operation, the ones with a default included: the wrapper
/// forwards [`send`](necro_core::Backend::send), [`release`](necro_core::Backend::release)
/// and [`commit`](necro_core::Backend::commit) to the inner backend's own versions, which
/// may or may not call its `enqueue`, `nack` or `ack` (a fault on `Enqueue` does not touch
/// `Send` or `Commit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Op {
    /// [`Backend::enqueue`](necro_core::Backend::enqueue).
    Enqueue,
    /// [`Backend::send`](necro_core::Backend::send).
    Send,
    /// [`Backend::pull`](necro_core::Backend::pull).
    Pull,
    /// [`Backend::ack`](necro_core::Backend::ack).
    Ack,
    /// [`Backend::nack`](necro_core::Backend::nack).
    Nack,
    /// [`Backend::release`](necro_core::Backend::release).
    Release,
    /// [`Backend::commit`](necro_core::Backend::commit).
    Commit,
    /// [`Backend::close`](necro_core::Backend::close).
    Close,
    /// [`DeadLetterStore::store`](necro_core::DeadLetterStore::store).
    Store,
    /// Every [`DeadLetterQueue`](necro_core::DeadLetterQueue) method (count, page, get,
    /// replay, purge).
    DeadLetterQueue,
    /// [`Health::health`](necro_core::Health::health): a failure makes the report unhealthy
    /// with the error's message.
    Health,
}

impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 11] = [
        Op::Enqueue,
        Op::Send,
        Op::Pull,
        Op::Ack,
        Op::Nack,
        Op::Release,
        Op::Commit,
        Op::Close,
        Op::Store,
        Op::DeadLetterQueue,
        Op::Health,
    ];

    /// The operation's name, as the trait method's (`"dead_letter_queue"` for the queue's).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Enqueue => "enqueue",
            Op::Send => "send",
            Op::Pull => "pull",
            Op::Ack => "ack",
            Op::Nack => "nack",
            Op::Release => "release",
            Op::Commit => "commit",
            Op::Close => "close",
            Op::Store => "store",
            Op::DeadLetterQueue => "dead_letter_queue",
            Op::Health => "health",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which calls of an operation a rule applies to. Calls are numbered from 1, per operation,
/// from the [`Faults`]' creation: the numbers [`Faults::calls`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Calls {
    /// Only call number `n`.
    Nth(u64),
    /// Call number `n` and every one after it.
    From(u64),
    /// The next `k` calls after the rule is added.
    Next(u64),
    /// Every call after the rule is added.
    Always,
}

impl Calls {
    /// Only call number `n` (1-based).
    #[must_use]
    pub fn nth(n: u64) -> Self {
        Self::Nth(n)
    }

    /// Call number `n` (1-based) and every one after it.
    #[must_use]
    pub fn from(n: u64) -> Self {
        Self::From(n)
    }

    /// The next `k` calls after the rule is added.
    #[must_use]
    pub fn next(k: u64) -> Self {
        Self::Next(k)
    }

    /// Every call after the rule is added.
    #[must_use]
    pub fn always() -> Self {
        Self::Always
    }

    /// The calls `first..=last` (`last` `None`: no end) this stands for, `made` calls having
    /// been made so far.
    fn window(self, made: u64) -> (u64, Option<u64>) {
        match self {
            Calls::Nth(n) => (n, Some(n)),
            Calls::From(n) => (n, None),
            Calls::Next(k) => (made + 1, Some(made.saturating_add(k))),
            Calls::Always => (made + 1, None),
        }
    }
}

/// The cause inside every error a [`FaultError`] makes (where the variant has a cause): a
/// test can tell an injected failure from a real one with [`FaultError::is_injected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault(pub String);

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InjectedFault {}

/// A [`BackendError`] to inject, made afresh for each failing call (`BackendError` is not
/// `Clone`). The constructors cover the kinds the spine tells apart:
///
/// | constructor | error | transient | unreachable |
/// |---|---|---|---|
/// | [`unavailable`](Self::unavailable) | `Connection` | yes | yes |
/// | [`timeout`](Self::timeout) | `Timeout` | yes | yes |
/// | [`full`](Self::full) | `Full` | yes | no |
/// | [`closed`](Self::closed) | `Closed` | no | yes |
/// | [`permanent`](Self::permanent) | `Command` | no | no |
#[derive(Clone)]
pub struct FaultError {
    make: Arc<dyn Fn() -> BackendError + Send + Sync>,
}

impl FaultError {
    /// The backend could not be reached: [`BackendError::Connection`] (transient, unreachable).
    #[must_use]
    pub fn unavailable() -> Self {
        Self::connection("injected fault: connection refused")
    }

    /// [`BackendError::Connection`] with this message.
    #[must_use]
    pub fn connection(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::with(move || BackendError::Connection(injected(&message)))
    }

    /// The backend did not answer in time: [`BackendError::Timeout`] (transient, unreachable;
    /// the outcome of the call is unknown to the caller — combine with
    /// [`Faults::fail_after`] for a call that did apply).
    #[must_use]
    pub fn timeout(after: Duration) -> Self {
        Self::with(move || BackendError::Timeout(after))
    }

    /// A bounded queue is full: [`BackendError::Full`] (transient, reachable).
    #[must_use]
    pub fn full(capacity: usize) -> Self {
        Self::with(move || BackendError::Full { capacity })
    }

    /// The backend was closed: [`BackendError::Closed`] (unreachable, not transient).
    #[must_use]
    pub fn closed() -> Self {
        Self::with(|| BackendError::Closed)
    }

    /// The backend refused the command: [`BackendError::Command`] (permanent, reachable).
    #[must_use]
    pub fn permanent() -> Self {
        Self::command("injected fault: command rejected")
    }

    /// [`BackendError::Command`] with this message.
    #[must_use]
    pub fn command(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::with(move || BackendError::Command(injected(&message)))
    }

    /// Any error, made by `make` for each failing call.
    #[must_use]
    pub fn with(make: impl Fn() -> BackendError + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(make),
        }
    }

    /// A fresh error.
    #[must_use]
    pub fn error(&self) -> BackendError {
        (self.make)()
    }

    /// Whether `err`'s cause chain holds an [`InjectedFault`] (the `Connection` and `Command`
    /// errors made here do; `Timeout`, `Full` and `Closed` carry no cause).
    #[must_use]
    pub fn is_injected(err: &BackendError) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            if e.is::<InjectedFault>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

impl fmt::Debug for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FaultError").field(&self.error()).finish()
    }
}

fn injected(message: &str) -> BoxError {
    Box::new(InjectedFault(message.to_owned()))
}

/// What a rule does to the calls it applies to.
#[derive(Debug, Clone)]
enum Action {
    /// Fail without calling the inner backend.
    Fail(FaultError),
    /// Call the inner backend, then fail (when the inner call succeeded).
    FailAfter(FaultError),
    /// Wait this long before calling the inner backend.
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Rule {
    op: Op,
    first: u64,
    last: Option<u64>,
    action: Action,
}

impl Rule {
    fn applies(&self, op: Op, call: u64) -> bool {
        self.op == op && call >= self.first && self.last.is_none_or(|last| call <= last)
    }
}

/// What one call is to go through, decided when it is made.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Wait this long first.
    pub(crate) delay: Duration,
    /// Fail: before the inner call (`false`) or after it (`true`).
    pub(crate) fail: Option<(BackendError, bool)>,
}

#[derive(Debug, Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    calls: [AtomicU64; Op::ALL.len()],
    injected: [AtomicU64; Op::ALL.len()],
}

/// A test's script of faults for a [`FaultyBackend`], and its call counters. Clones share
/// them: keep one in the test, give one to the backend.
///
/// Rules apply in the order they were added: every matching delay is waited (summed), and the
/// first matching failure wins.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    shared: Arc<Shared>,
}

impl Faults {
    /// No rules, no calls counted.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the chosen calls of `op` with `error`, without calling the inner backend.
    pub fn fail(&self, op: Op, calls: Calls, error: FaultError) -> &Self {
        self.add(op, calls, Action::Fail(error))
    }

    /// Calls the inner backend, then fails the chosen calls of `op` with `error` even though
    /// the inner call succeeded: the caller believes it failed while it applied (a commit whose
    /// answer was lost — a way to test duplicate handling). When the inner call fails, its own
    /// error is returned. A `pull` failed this way loses its deliveries to the caller; the inner
    /// backend still holds them as delivered.
    pub fn fail_after(&self, op: Op, calls: Calls, error: FaultError) -> &Self {
        self.add(op, calls, Action::FailAfter(error))
    }

    /// Waits `latency` (on tokio's clock) before the chosen calls of `op` go on.
    pub fn delay(&self, op: Op, calls: Calls, latency: Duration) -> &Self {
        self.add(op, calls, Action::Delay(latency))
    }

    /// Removes every rule (the counters stay).
    pub fn clear(&self) {
        self.rules().clear();
    }

    /// Removes the rules for `op` (the counters stay).
    pub fn clear_op(&self, op: Op) {
        self.rules().retain(|r| r.op != op);
    }

    /// How many calls of `op` were made, failed ones included.
    #[must_use]
    pub fn calls(&self, op: Op) -> u64 {
        self.shared.calls[op.index()].load(Ordering::SeqCst)
    }

    /// How many calls of `op` answered with an error of this script (a
    /// [`fail_after`](Self::fail_after) whose inner call failed answers with the inner error,
    /// and is not counted).
    #[must_use]
    pub fn injected(&self, op: Op) -> u64 {
        self.shared.injected[op.index()].load(Ordering::SeqCst)
    }

    /// Every operation's call count, in [`Op::ALL`] order, leaving out those never called.
    #[must_use]
    pub fn counts(&self) -> Vec<(Op, u64)> {
        Op::ALL
            .iter()
            .map(|&op| (op, self.calls(op)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    fn add(&self, op: Op, calls: Calls, action: Action) -> &Self {
        let (first, last) = calls.window(self.calls(op));
        self.rules().push(Rule {
            op,
            first,
            last,
            action,
        });
        self
    }

    fn rules(&self) -> MutexGuard<'_, Vec<Rule>> {
        // A panic while the lock was held cannot leave the rules half-changed (each change is
        // one Vec operation), so a poisoned lock is still good.
        self.shared
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a call of `op` and decides what it goes through.
    pub(crate) fn enter(&self, op: Op) -> Plan {
        let call = self.shared.calls[op.index()].fetch_add(1, Ordering::SeqCst) + 1;
        let mut plan = Plan::default();
        for rule in self.rules().iter().filter(|r| r.applies(op, call)) {
            match &rule.action {
                Action::Delay(d) => plan.delay = plan.delay.saturating_add(*d),
                Action::Fail(e) if plan.fail.is_none() => plan.fail = Some((e.error(), false)),
                Action::FailAfter(e) if plan.fail.is_none() => {
                    plan.fail = Some((e.error(), true));
                }
                Action::Fail(_) | Action::FailAfter(_) => {}
            }
        }
        plan
    }

    /// Counts a call of `op` that answered with an injected error.
    pub(crate) fn record_injected(&self, op: Op) {
        self.shared.injected[op.index()].fetch_add(1, Ordering::SeqCst);
    }
}
