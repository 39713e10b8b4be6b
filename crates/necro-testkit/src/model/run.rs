//! One case of the model check: a generated sequence of [`Op`]s run against a fresh backend
//! and the [`Model`] side by side, checked after every step, then drained.

use std::time::{Duration, Instant};

use necro_core::serde_json::json;
use necro_core::{Backend, BackendError, Envelope, Event, error_chain};

use super::ops::Op;
use super::state::{Dead, Held, Model, name};
use super::{CrashHook, DeadLetterView, ModelConfig};

/// A failed case: what it did step by step, and what went wrong.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) trace: Vec<String>,
    pub(crate) message: String,
}

/// One case in progress.
struct Case<'a, 'h, B: Backend> {
    /// The backend the checker consumes from: replaced by the crash hook's at each crash.
    backend: B,
    config: &'a ModelConfig,
    dead_letters: DeadLetterView<B>,
    crash: Option<&'a mut CrashHook<'h, B>>,
    model: Model<B::Token>,
    trace: Vec<String>,
    step: usize,
}

/// Runs `ops` against `backend`, then drains it; `Err` on the first disagreement. Returns the
/// backend the case ended on (the last crash hook's, after a crash) for the caller to close.
pub(crate) async fn run_case<'h, B: Backend>(
    backend: B,
    config: &ModelConfig,
    dead_letters: DeadLetterView<B>,
    crash: Option<&mut CrashHook<'h, B>>,
    ops: &[Op],
) -> (B, Result<(), Failure>) {
    let mut case = Case {
        backend,
        config,
        dead_letters,
        crash,
        model: Model::new(config.max_deliveries, config.order, config.eager_pull),
        trace: Vec::new(),
        step: 0,
    };
    let result = case.run(ops).await;
    let result = result.map_err(|message| Failure {
        trace: case.trace,
        message,
    });
    (case.backend, result)
}

fn call<T>(what: &str, result: Result<T, BackendError>) -> Result<T, String> {
    result.map_err(|e| format!("{what} failed: {}", error_chain(&e)))
}

fn names<T>(held: &[Held<T>]) -> String {
    let names: Vec<String> = held
        .iter()
        .map(|h| format!("{}@{}", name(h.n), h.delivery.attempt))
        .collect();
    names.join(" ")
}

impl<B: Backend> Case<'_, '_, B> {
    async fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        for op in ops {
            self.step += 1;
            let line = self.apply(op).await;
            let line = self.traced(line, &format!("{op:?}"))?;
            self.trace.push(line);
            self.model.audit()?;
            self.check_dead_letters().await?;
        }
        self.step += 1;
        let line = self.drain().await;
        let line = self.traced(line, "drain")?;
        self.trace.push(line);
        self.check_dead_letters().await
    }

    /// The trace line of a step, or, when it failed, the failure after a line naming the
    /// step.
    fn traced(&mut self, line: Result<String, String>, op: &str) -> Result<String, String> {
        match line {
            Ok(line) => Ok(format!("{:>3}. {line}", self.step)),
            Err(e) => {
                self.trace.push(format!("{:>3}. {op}: fails", self.step));
                Err(e)
            }
        }
    }

    /// Runs one operation on the backend and the model; returns its trace line.
    async fn apply(&mut self, op: &Op) -> Result<String, String> {
        match *op {
            Op::Enqueue(k) => {
                let batch = self.new_events(k)?;
                let list = self.list_new(k);
                call("enqueue", self.backend.enqueue(batch.clone()).await)?;
                self.model.accept(&batch);
                Ok(format!("enqueue {list}"))
            }
            Op::Pull(max) => {
                let wait = self.wait();
                let batch = call("pull", self.backend.pull(max, wait).await)?;
                let got = self.model.pulled(batch, max)?;
                Ok(format!("pull {max} -> {got}"))
            }
            Op::Ack(pick) => {
                let taken = self.model.take_held(&pick.select(self.model.held.len()));
                if taken.is_empty() {
                    return Ok("ack: nothing held".to_owned());
                }
                let tokens = taken.iter().map(|h| h.delivery.token.clone()).collect();
                call("ack", self.backend.ack(tokens).await)?;
                self.model.acked(&taken);
                Ok(format!("ack {}", names(&taken)))
            }
            Op::Nack(pick) => {
                let Some(i) = pick.one(self.model.held.len()) else {
                    return Ok("nack: nothing held".to_owned());
                };
                let held = self.model.take_held(&[i]).remove(0);
                let reason = format!("model nack at step {}", self.step);
                let want = self.model.expected_nack(&held);
                let what = format!("nack {}@{}", name(held.n), held.delivery.attempt);
                let got = call(
                    "nack",
                    self.backend
                        .nack(held.delivery.clone(), reason.clone())
                        .await,
                )?;
                if got != want {
                    return Err(format!(
                        "{what} (max deliveries {}) answered {got:?}, expected {want:?}",
                        self.config.max_deliveries
                    ));
                }
                self.model.nacked(&held, got, reason);
                Ok(format!("{what} -> {got:?}"))
            }
            Op::Release(pick) => {
                let indices = pick.select(self.model.held.len());
                self.release(&indices, "release").await
            }
            Op::ReleaseAll => {
                let indices: Vec<usize> = (0..self.model.held.len()).collect();
                self.release(&indices, "release all").await
            }
            Op::Commit(k, pick) => {
                let batch = self.new_events(k)?;
                let list = self.list_new(k);
                let taken = self.model.take_held(&pick.select(self.model.held.len()));
                let tokens = taken.iter().map(|h| h.delivery.token.clone()).collect();
                call("commit", self.backend.commit(batch.clone(), tokens).await)?;
                self.model.accept(&batch);
                self.model.acked(&taken);
                Ok(format!("commit emit [{list}] ack [{}]", names(&taken)))
            }
            Op::Probe => {
                let pending = self.model.pending_trace();
                let got = self.collect_pending("probe").await?;
                let line = format!("probe: pending [{pending}] all pulled and released");
                let indices: Vec<usize> =
                    (self.model.held.len() - got..self.model.held.len()).collect();
                self.release(&indices, "probe release").await?;
                Ok(line)
            }
            Op::Crash => self.crash().await,
        }
    }

    /// The consumer crashes holding what it holds; the hook recovers the backend; a probe
    /// then pulls every pending event (the recovered ones among them: pulling is what makes
    /// some backends reclaim and dead-letter) and releases them.
    async fn crash(&mut self) -> Result<String, String> {
        let Some(hook) = self.crash.as_mut() else {
            return Ok("crash: no crash hook (not generated)".to_owned());
        };
        let all: Vec<usize> = (0..self.model.held.len()).collect();
        let taken = self.model.take_held(&all);
        let recovered = hook(&self.backend).await;
        // The crashed consumer is dropped, never closed.
        drop(std::mem::replace(&mut self.backend, recovered));
        self.model.crashed(&taken, self.step);
        let pending = self.model.pending_trace();
        let got = self.collect_pending("after the crash").await?;
        let indices: Vec<usize> = (self.model.held.len() - got..self.model.held.len()).collect();
        self.release(&indices, "recovery release").await?;
        Ok(format!(
            "crash holding [{}]; recovered, pending [{pending}] all pulled and released",
            names(&taken)
        ))
    }

    /// Releases the held deliveries at `indices`.
    async fn release(&mut self, indices: &[usize], what: &str) -> Result<String, String> {
        let taken = self.model.take_held(indices);
        if taken.is_empty() {
            return Ok(format!("{what}: nothing held"));
        }
        let deliveries = taken.iter().map(|h| h.delivery.clone()).collect();
        call("release", self.backend.release(deliveries).await)?;
        self.model.released(&taken);
        Ok(format!("{what} {}", names(&taken)))
    }

    /// Pulls until every event the model holds pending has come (each checked as any pull);
    /// fails when they do not all come within the drain timeout. Returns how many were
    /// pulled; they are the last of the held deliveries.
    async fn collect_pending(&mut self, what: &str) -> Result<usize, String> {
        let want = self.model.pending.len();
        let deadline = Instant::now() + self.config.drain_timeout;
        let mut got = 0;
        while got < want {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: pending events never came within {:?}: {} (lost?)",
                    self.config.drain_timeout,
                    self.model.pending_trace()
                ));
            }
            let max = want - got;
            let wait = self.config.pull_wait;
            let batch = call("pull", self.backend.pull(max, wait).await)?;
            let n = batch.len();
            self.model
                .pulled(batch, max)
                .map_err(|e| format!("{what}: {e}"))?;
            got += n;
        }
        Ok(got)
    }

    /// Acks everything held, pulls and acks everything pending, and checks that nothing more
    /// comes.
    async fn drain(&mut self) -> Result<String, String> {
        let held: Vec<usize> = (0..self.model.held.len()).collect();
        let held = self.model.take_held(&held);
        let tokens = held.iter().map(|h| h.delivery.token.clone()).collect();
        call("ack", self.backend.ack(tokens).await)?;
        self.model.acked(&held);
        let pending = self.model.pending_trace();
        self.collect_pending("drain").await?;
        let rest: Vec<usize> = (0..self.model.held.len()).collect();
        let rest = self.model.take_held(&rest);
        let tokens = rest.iter().map(|h| h.delivery.token.clone()).collect();
        call("ack", self.backend.ack(tokens).await)?;
        self.model.acked(&rest);
        // Nothing is pending now: whatever comes is delivered twice (or never enqueued).
        let extra = call("pull", self.backend.pull(8, self.config.pull_wait).await)?;
        self.model
            .pulled(extra, 8)
            .map_err(|e| format!("drain, once every event was acked or dead-lettered: {e}"))?;
        self.model.audit()?;
        Ok(format!(
            "drain: ack held [{}], pull and ack pending [{pending}], nothing more",
            names(&held)
        ))
    }

    /// Compares the backend's dead letters with the model's, when it can list them.
    async fn check_dead_letters(&self) -> Result<(), String> {
        let Some(letters) = call(
            "listing the dead letters",
            (self.dead_letters)(&self.backend).await,
        )?
        else {
            return Ok(());
        };
        let mut got: Vec<Dead> = Vec::with_capacity(letters.len());
        for (id, attempts, reason) in letters {
            let Some(n) = self.model.number_of(&id) else {
                return Err(format!(
                    "the dead letters hold the event {id}, which was never enqueued"
                ));
            };
            got.push(Dead {
                n,
                attempts,
                reason: Some(reason),
                crash: None,
            });
        }
        let mut want = self.model.dead.clone();
        if self.config.order == super::ModelOrder::Unordered {
            got.sort_by_key(|d| d.n);
            want.sort_by_key(|d| d.n);
        } else {
            same_crash_in_any_order(&mut want, &mut got);
        }
        let same = got.len() == want.len() && want.iter().zip(&got).all(|(w, g)| w.matches(g));
        if !same {
            let show = |letters: &[Dead]| {
                let shown: Vec<String> = letters
                    .iter()
                    .map(|d| {
                        let reason = d.reason.as_deref().unwrap_or("any reason: a crash");
                        format!("{} after {} ({reason:?})", name(d.n), d.attempts)
                    })
                    .collect();
                format!("[{}]", shown.join(", "))
            };
            return Err(format!(
                "the dead letters are {}, expected {}",
                show(&got),
                show(&want)
            ));
        }
        Ok(())
    }

    /// How long a pull waits: nothing when the model has nothing pending (none should come).
    fn wait(&self) -> Duration {
        if self.model.pending.is_empty() {
            Duration::ZERO
        } else {
            self.config.pull_wait
        }
    }

    fn new_events(&self, k: usize) -> Result<Vec<Envelope>, String> {
        self.model
            .next_numbers(k)
            .map(|n| {
                Event::new("MODEL_EVENT", json!({ "n": n + 1 }))
                    .map(Envelope::new)
                    .map_err(|e| format!("making event {}: {e}", name(n)))
            })
            .collect()
    }

    fn list_new(&self, k: usize) -> String {
        let names: Vec<String> = self.model.next_numbers(k).map(name).collect();
        names.join(" ")
    }
}

/// The dead letters one crash made may be listed in any order: sorts each run of the
/// model's letters from one crash, and the backend's letters at the same places, by event.
fn same_crash_in_any_order(want: &mut [Dead], got: &mut [Dead]) {
    let mut i = 0;
    while i < want.len() {
        let Some(step) = want[i].crash else {
            i += 1;
            continue;
        };
        let end = i + want[i..]
            .iter()
            .take_while(|d| d.crash == Some(step))
            .count();
        want[i..end].sort_by_key(|d| d.n);
        if let Some(run) = got.get_mut(i..end) {
            run.sort_by_key(|d| d.n);
        }
        i = end;
    }
}
