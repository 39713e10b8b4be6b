//! The model check: [`backend_model_check`] runs random sequences of backend operations
//! (proptest generates and shrinks them) against a fresh backend and a reference model side
//! by side, and reports the smallest sequence it finds that makes the two disagree.
//!
//! The model is a queue of pending events with their attempt numbers, the deliveries the
//! checker holds, the acked events and the dead letters. The operations are: enqueue a batch,
//! pull up to `n`, ack some held deliveries, nack one (with a reason), release some or all,
//! commit new events with some acks, *probe* (pull every pending event, then release them
//! all) and, with [`backend_model_check_with_crashes`], *crash* (the consumer is dropped
//! holding its deliveries, a hook recovers the backend, and a probe follows). After every step it checks that
//! - a pull returns at most `max` deliveries, each of an event that is pending (never one that
//!   is held, acked or dead-lettered: nothing is delivered twice), with the content it was
//!   enqueued with and the attempt number the model expects: 1 at first, raised by one by
//!   each nack, unchanged by a release;
//! - a nack answers `Requeued { next_attempt }` below the maximum number of deliveries and
//!   `DeadLettered` at it, after which the event never comes back;
//! - a probe finds every pending event (nothing is lost);
//! - with [`backend_model_check_with_dead_letters`], the backend's dead letters are the
//!   model's: the same events, after as many deliveries, with the nack's reason;
//! - the model's own bookkeeping holds: every enqueued event is in exactly one place.
//!
//! At the end every held delivery is acked and every pending event pulled and acked, and one
//! more pull must find nothing: nothing was lost or duplicated. Order is checked only as far
//! as [`ModelConfig::order`] claims (the [`Backend`] trait promises none).
//!
//! A sequence that fails is shrunk (fewer, simpler operations) and reported in the
//! [`ConformanceError`] of scenario `"model"`: the seed, the operations, a step-by-step trace
//! of the smallest failing run (events are `e1`, `e2`, … in the order they were enqueued;
//! `e3@2` is `e3` delivered with attempt 2) and what went wrong.
//!
//! The check is an `async fn` like the other suites: it generates the sequences with
//! proptest's strategies and walks its shrinking itself, so no runtime is nested and any tokio
//! runtime runs it (the backend's own needs decide: the memory backend's timer, fred's tasks).

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::time::Duration;

use necro_core::uuid::Uuid;
use necro_core::{Backend, BackendError, DeadLetterQuery, DeadLetterQueue};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::error::{Check, ConformanceError};

mod ops;
mod run;
mod state;

use ops::Op;
use run::{Failure, run_case};

/// What order the model holds a backend to. The [`Backend`] trait promises none; a backend
/// claims what it documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelOrder {
    /// No order: pulls are checked against the pending events as a multiset, and the dead
    /// letters as a set.
    Unordered,
    /// Events delivered for the first time come in the order they were enqueued (a pull
    /// never hands out an event for the first time while an older one was never delivered);
    /// redeliveries (after a nack or a release) may come in any order, and dead letters are
    /// listed in the order they were made. Memory and Redis both keep it.
    FirstDeliveriesFifo,
    /// One queue, as the in-memory backend documents it: a pull takes the front, an enqueue
    /// and a nack put events at the back, a release puts them back at the front in their
    /// order. Implies [`FirstDeliveriesFifo`](Self::FirstDeliveriesFifo).
    Strict,
}

/// The settings of one model check: what the backend claims, and how much to run.
///
/// ```
/// use std::time::Duration;
/// use necro_testkit::{ModelConfig, ModelOrder};
///
/// let config = ModelConfig::new(3)
///     .cases(64)
///     .max_steps(30)
///     .order(ModelOrder::Strict)
///     .eager_pull(true)
///     .pull_wait(Duration::from_millis(20));
/// assert_eq!(config.max_deliveries, 3);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModelConfig {
    /// How many times the backend delivers an event before a nack dead-letters it (the
    /// memory backend's `max_deliveries`, Redis' `max_retries`). Must be what `make` builds.
    pub max_deliveries: u32,
    /// How many generated sequences to run (default 32).
    pub cases: u32,
    /// The longest sequence, in operations (default 40).
    pub max_steps: usize,
    /// The order the backend claims (default [`ModelOrder::FirstDeliveriesFifo`]).
    pub order: ModelOrder,
    /// Whether a pull hands out `min(max, pending)` deliveries at once (default `false`):
    /// true of the memory backend; not of Redis, whose pull returns reclaimed entries
    /// without new ones.
    pub eager_pull: bool,
    /// How long a pull waits when the model has something pending (default 20 ms); a pull
    /// with nothing pending does not wait.
    pub pull_wait: Duration,
    /// How long a probe or the final drain waits for every pending event (default 3 s).
    pub drain_timeout: Duration,
    /// The seed of the generated sequences; `None` (the default) takes the environment
    /// variable `NECRO_MODEL_SEED` when it is set, else a random one. A failure names its
    /// seed.
    pub seed: Option<u64>,
    /// At most this many runs while shrinking a failing sequence (default 256).
    pub max_shrink_iters: u32,
}

impl ModelConfig {
    /// The defaults, for a backend that dead-letters on the `max_deliveries`-th nack.
    #[must_use]
    pub fn new(max_deliveries: u32) -> Self {
        Self {
            max_deliveries,
            cases: 32,
            max_steps: 40,
            order: ModelOrder::FirstDeliveriesFifo,
            eager_pull: false,
            pull_wait: Duration::from_millis(20),
            drain_timeout: Duration::from_secs(3),
            seed: None,
            max_shrink_iters: 256,
        }
    }

    /// Sets [`cases`](Self::cases).
    #[must_use]
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Sets [`max_steps`](Self::max_steps).
    #[must_use]
    pub fn max_steps(mut self, max_steps: usize) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// Sets [`order`](Self::order).
    #[must_use]
    pub fn order(mut self, order: ModelOrder) -> Self {
        self.order = order;
        self
    }

    /// Sets [`eager_pull`](Self::eager_pull).
    #[must_use]
    pub fn eager_pull(mut self, eager: bool) -> Self {
        self.eager_pull = eager;
        self
    }

    /// Sets [`pull_wait`](Self::pull_wait).
    #[must_use]
    pub fn pull_wait(mut self, wait: Duration) -> Self {
        self.pull_wait = wait;
        self
    }

    /// Sets [`drain_timeout`](Self::drain_timeout).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets [`max_shrink_iters`](Self::max_shrink_iters).
    #[must_use]
    pub fn max_shrink_iters(mut self, iters: u32) -> Self {
        self.max_shrink_iters = iters;
        self
    }
}

/// A dead letter as the model compares it: event id, attempts, reason.
type SeenLetter = (Uuid, u32, String);

/// A listing of the backend's dead letters in progress: `None` when it cannot list them.
type Listing<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<SeenLetter>>, BackendError>> + 'a>>;

/// How a case reads the backend's dead letters.
type DeadLetterView<B> = for<'a> fn(&'a B) -> Listing<'a>;

/// A crash hook, type-erased: given the crashed consumer's backend, the backend to go on with.
pub(crate) type CrashHook<'h, B> = dyn FnMut(&B) -> Pin<Box<dyn Future<Output = B> + 'h>> + 'h;

fn no_dead_letters<B>(_: &B) -> Listing<'_> {
    Box::pin(std::future::ready(Ok(None)))
}

fn list_dead_letters<B: DeadLetterQueue>(backend: &B) -> Listing<'_> {
    Box::pin(async move {
        let mut seen = Vec::new();
        let mut query = DeadLetterQuery::new(100);
        loop {
            let page = backend.dead_letter_page(&query).await?;
            for entry in page.entries {
                let letter = entry.letter.map_err(|unreadable| {
                    BackendError::Other(
                        format!(
                            "an unreadable dead letter {}: {}",
                            entry.id, unreadable.reason
                        )
                        .into(),
                    )
                })?;
                seen.push((letter.event.id(), letter.attempts, letter.reason));
            }
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return Ok(Some(seen)),
            }
        }
    })
}

/// Runs [`ModelConfig::cases`] generated operation sequences, each against a fresh backend
/// from `make`, beside the reference model (see the [module docs](self)).
///
/// `make` must give a backend that is empty and isolated (Redis: a new stream and group each
/// time) and dead-letters on the [`ModelConfig::max_deliveries`]-th nack. The backend must
/// override [`Backend::release`]: the default nacks, which counts an attempt. Each backend is
/// [closed](Backend::close) after its case.
///
/// # Errors
/// A [`ConformanceError`] of scenario `"model"` with the seed, the shrunk operation sequence,
/// its trace and the disagreement; also when `make`'s backend fails a call.
pub async fn backend_model_check<B, F, Fut>(
    make: F,
    config: ModelConfig,
) -> Result<(), ConformanceError>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    check(make, &config, no_dead_letters::<B>, None).await
}

/// [`backend_model_check`], and after every step the backend's dead letters
/// ([`DeadLetterQueue`], walked oldest first) must be the model's: the same events (in the
/// order they were made, unless [`ModelOrder::Unordered`]), each with the attempts it was
/// delivered and the reason of the nack that dead-lettered it.
///
/// # Errors
/// As [`backend_model_check`].
pub async fn backend_model_check_with_dead_letters<B, F, Fut>(
    make: F,
    config: ModelConfig,
) -> Result<(), ConformanceError>
where
    B: Backend + DeadLetterQueue,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    check(make, &config, list_dead_letters::<B>, None).await
}

/// [`backend_model_check_with_dead_letters`] with crashes among the operations: the consumer
/// stops holding its deliveries, neither acking, nacking nor releasing them, and is dropped
/// without being closed. `crash` is given that consumer's backend and returns the backend to
/// go on with, once the crashed consumer's deliveries can be recovered: the same queue after
/// the backend's own recovery (memory: `requeue_in_flight`), or another consumer of the same
/// queue once they count as abandoned (Redis: another consumer of the group, the crashed
/// one's entries made idle past `claim_min_idle`).
///
/// After a crash the model expects each held delivery back with its attempt raised by one
/// (the crashed delivery counts), or, when it was its last allowed delivery
/// ([`ModelConfig::max_deliveries`]), dead-lettered after that many deliveries with a reason
/// of the backend's choosing; the check pulls every pending event then (which is when some
/// backends reclaim) and releases them. The letters of one crash may be made in any order.
///
/// ```no_run
/// # async fn demo() -> Result<(), necro_testkit::ConformanceError> {
/// use necro_backend_memory::MemoryBackend;
/// use necro_testkit::{ModelConfig, ModelOrder, backend_model_check_with_crashes};
///
/// backend_model_check_with_crashes(
///     || async { MemoryBackend::builder().max_deliveries(3).build().unwrap() },
///     |crashed: &MemoryBackend| {
///         let queue = crashed.clone();
///         async move {
///             queue.requeue_in_flight();
///             queue
///         }
///     },
///     ModelConfig::new(3).order(ModelOrder::Strict).eager_pull(true),
/// )
/// .await
/// # }
/// ```
///
/// # Errors
/// As [`backend_model_check`].
pub async fn backend_model_check_with_crashes<B, F, Fut, C, CFut>(
    make: F,
    mut crash: C,
    config: ModelConfig,
) -> Result<(), ConformanceError>
where
    B: Backend + DeadLetterQueue,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
    C: FnMut(&B) -> CFut,
    CFut: Future<Output = B>,
{
    let mut hook =
        |backend: &B| -> Pin<Box<dyn Future<Output = B> + '_>> { Box::pin(crash(backend)) };
    check(make, &config, list_dead_letters::<B>, Some(&mut hook)).await
}

const SCENARIO: &str = "model";

async fn check<B, F, Fut>(
    mut make: F,
    config: &ModelConfig,
    dead_letters: DeadLetterView<B>,
    mut crash: Option<&mut CrashHook<'_, B>>,
) -> Result<(), ConformanceError>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    let check = Check::new(SCENARIO);
    let seed = config
        .seed
        .or_else(seed_from_env)
        .unwrap_or_else(random_seed);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: config.cases,
            max_shrink_iters: config.max_shrink_iters,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed)),
    );
    let strategy = ops::ops(config.max_steps, crash.is_some());
    for case in 1..=config.cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| check.fail(format!("generating a sequence: {e}")))?;
        let ops = tree.current();
        let Err(failure) = once(&mut make, config, dead_letters, crash.as_deref_mut(), &ops).await
        else {
            continue;
        };
        let generated = ops.len();
        let (ops, failure, runs) = shrink(
            &mut make,
            config,
            dead_letters,
            crash,
            &mut tree,
            ops,
            failure,
        )
        .await;
        return Err(check.fail(report(seed, case, generated, runs, &ops, &failure)));
    }
    Ok(())
}

/// Runs one sequence on a fresh backend and closes it (the one it ended on, after crashes).
async fn once<B, F, Fut>(
    make: &mut F,
    config: &ModelConfig,
    dead_letters: DeadLetterView<B>,
    crash: Option<&mut CrashHook<'_, B>>,
    ops: &[Op],
) -> Result<(), Failure>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    let backend = make().await;
    let (backend, result) = run_case(backend, config, dead_letters, crash, ops).await;
    let closed = backend.close().await;
    result?;
    closed.map_err(|e| Failure {
        trace: Vec::new(),
        message: format!("close failed: {}", necro_core::error_chain(&e)),
    })
}

/// Proptest's shrinking walk (as its `TestRunner` does it): simplify while the sequence
/// still fails, complicate back when a simplification passes. Returns the smallest failing
/// sequence found, its failure, and how many runs shrinking took.
async fn shrink<B, F, Fut, T>(
    make: &mut F,
    config: &ModelConfig,
    dead_letters: DeadLetterView<B>,
    mut crash: Option<&mut CrashHook<'_, B>>,
    tree: &mut T,
    mut ops: Vec<Op>,
    mut failure: Failure,
) -> (Vec<Op>, Failure, u32)
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
    T: ValueTree<Value = Vec<Op>>,
{
    let mut runs = 0;
    if !tree.simplify() {
        return (ops, failure, runs);
    }
    while runs < config.max_shrink_iters {
        runs += 1;
        let candidate = tree.current();
        let more = match once(make, config, dead_letters, crash.as_deref_mut(), &candidate).await {
            Err(f) => {
                ops = candidate;
                failure = f;
                tree.simplify()
            }
            Ok(()) => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    (ops, failure, runs)
}

fn report(
    seed: u64,
    case: u32,
    generated: usize,
    runs: u32,
    ops: &[Op],
    failure: &Failure,
) -> String {
    let mut message = format!(
        "{}\nseed {seed} (case {case}; shrunk from {generated} to {} operations in {runs} runs; \
         rerun with ModelConfig::seed or NECRO_MODEL_SEED={seed})\nminimal sequence: {ops:?}\ntrace:\n",
        failure.message,
        ops.len()
    );
    for line in &failure.trace {
        message.push_str(line);
        message.push('\n');
    }
    message.push_str(&format!("  -> {}", failure.message));
    message
}

fn seed_from_env() -> Option<u64> {
    std::env::var("NECRO_MODEL_SEED").ok()?.trim().parse().ok()
}

fn random_seed() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// ChaCha's 32 seed bytes from a `u64` (splitmix64, so nearby seeds differ everywhere).
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut state = seed;
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes
}
