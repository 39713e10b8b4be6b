//! The reference model: where each enqueued event is (pending with its attempt number, held
//! by the checker, acked, dead-lettered), and the checks of what a backend hands out against
//! it. Events are named `e1`, `e2`, … in the order they were enqueued.

use std::collections::{HashMap, VecDeque};

use necro_core::uuid::Uuid;
use necro_core::{Delivery, Envelope, NackOutcome};

use super::ModelOrder;

/// Where an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Waiting to be pulled.
    Pending,
    /// Pulled and neither acked, nacked nor released yet.
    Held,
    /// Acked: done for good.
    Acked,
    /// Dead-lettered by a nack at the maximum, or by a crash on its last allowed delivery.
    Dead,
}

/// A pending event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Queued {
    /// Which event (`e{n + 1}`).
    pub(crate) n: usize,
    /// The attempt number its next delivery must carry.
    pub(crate) attempt: u32,
    /// Whether it was ever delivered.
    pub(crate) delivered: bool,
}

/// A delivery the checker holds.
pub(crate) struct Held<T> {
    pub(crate) n: usize,
    pub(crate) delivery: Delivery<T>,
}

/// A dead letter the model expects (or the backend holds): which event, after how many
/// deliveries, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dead {
    pub(crate) n: usize,
    pub(crate) attempts: u32,
    /// The nack's reason; `None` for a letter a crash made, whose reason is the backend's.
    pub(crate) reason: Option<String>,
    /// The step of the crash that made it: the letters of one crash may be made in any
    /// order (the backend recovers them together).
    pub(crate) crash: Option<usize>,
}

impl Dead {
    /// Whether the backend's letter `got` is the one the model expects (`self`).
    pub(crate) fn matches(&self, got: &Dead) -> bool {
        self.n == got.n
            && self.attempts == got.attempts
            && self
                .reason
                .as_ref()
                .is_none_or(|r| got.reason.as_ref() == Some(r))
    }
}

/// The reference model of one backend.
pub(crate) struct Model<T> {
    max_deliveries: u32,
    order: ModelOrder,
    eager_pull: bool,
    /// Every enqueued event, by number.
    events: Vec<Envelope>,
    by_id: HashMap<Uuid, usize>,
    /// Where each event is, by number.
    places: Vec<Place>,
    /// Pending events: in the exact order of the queue under [`ModelOrder::Strict`].
    pub(crate) pending: VecDeque<Queued>,
    /// Held deliveries, in the order they were pulled.
    pub(crate) held: Vec<Held<T>>,
    /// Dead letters, in the order they were made.
    pub(crate) dead: Vec<Dead>,
}

/// An event's name in traces and messages: `e1` for the first enqueued.
pub(crate) fn name(n: usize) -> String {
    format!("e{}", n + 1)
}

impl<T> Model<T> {
    pub(crate) fn new(max_deliveries: u32, order: ModelOrder, eager_pull: bool) -> Self {
        Self {
            max_deliveries,
            order,
            eager_pull,
            events: Vec::new(),
            by_id: HashMap::new(),
            places: Vec::new(),
            pending: VecDeque::new(),
            held: Vec::new(),
            dead: Vec::new(),
        }
    }

    /// The event numbers of the next `k` events to enqueue.
    pub(crate) fn next_numbers(&self, k: usize) -> std::ops::Range<usize> {
        self.events.len()..self.events.len() + k
    }

    /// Records accepted envelopes: pending at attempt 1, after everything pending.
    pub(crate) fn accept(&mut self, batch: &[Envelope]) {
        for envelope in batch {
            let n = self.events.len();
            self.by_id.insert(envelope.event.id(), n);
            self.events.push(envelope.clone());
            self.places.push(Place::Pending);
            self.pending.push_back(Queued {
                n,
                attempt: 1,
                delivered: false,
            });
        }
    }

    /// Checks a pulled batch against the model and moves its events to the held ones.
    /// Returns the batch's trace (`e1@1 e3@2`).
    pub(crate) fn pulled(&mut self, batch: Vec<Delivery<T>>, max: usize) -> Result<String, String> {
        let available = self.pending.len();
        if batch.len() > max {
            return Err(format!(
                "pull(max = {max}) returned {} deliveries",
                batch.len()
            ));
        }
        let got = batch.len();
        let mut trace = Vec::with_capacity(got);
        for delivery in batch {
            let n = self.place_in_pending(&delivery)?;
            trace.push(format!("{}@{}", name(n), delivery.attempt));
            self.held.push(Held { n, delivery });
        }
        if self.eager_pull && got != max.min(available) {
            return Err(format!(
                "pull(max = {max}) returned {} deliveries with {available} pending (eager_pull: \
                 expected {})",
                got,
                max.min(available)
            ));
        }
        Ok(if trace.is_empty() {
            "nothing".to_owned()
        } else {
            trace.join(" ")
        })
    }

    /// Finds a delivery's event among the pending ones, checks it (content, attempt, order)
    /// and takes it out of them.
    fn place_in_pending(&mut self, delivery: &Delivery<T>) -> Result<usize, String> {
        let id = delivery.event.id();
        let Some(&n) = self.by_id.get(&id) else {
            return Err(format!(
                "pull returned the event {id}, which was never enqueued"
            ));
        };
        let Some(pos) = self.pending.iter().position(|q| q.n == n) else {
            let place = match self.places[n] {
                Place::Held => "held (pulled before, neither acked, nacked nor released)",
                Place::Acked => "acked",
                Place::Dead => "dead-lettered",
                Place::Pending => "pending (model inconsistent)",
            };
            return Err(format!(
                "pull returned {} (attempt {}), which is {place}: delivered twice",
                name(n),
                delivery.attempt
            ));
        };
        let queued = self.pending[pos];
        let sent = &self.events[n];
        if delivery.event != sent.event || delivery.meta != sent.meta {
            return Err(format!(
                "pull returned {} with another content than was enqueued: got {:?} {:?}, \
                 enqueued {:?} {:?}",
                name(n),
                delivery.event,
                delivery.meta,
                sent.event,
                sent.meta
            ));
        }
        if delivery.attempt != queued.attempt {
            return Err(format!(
                "pull returned {} with attempt {}, expected {} (raised by each nack, never by \
                 a release)",
                name(n),
                delivery.attempt,
                queued.attempt
            ));
        }
        match self.order {
            ModelOrder::Strict if pos != 0 => {
                return Err(format!(
                    "pull returned {} before {} (strict order: the front of the queue first)",
                    name(n),
                    name(self.pending[0].n)
                ));
            }
            ModelOrder::Strict | ModelOrder::FirstDeliveriesFifo if !queued.delivered => {
                if let Some(older) = self.pending.iter().take(pos).find(|q| !q.delivered) {
                    return Err(format!(
                        "pull delivered {} for the first time before the older {} (first \
                         deliveries come in the order of enqueueing)",
                        name(n),
                        name(older.n)
                    ));
                }
            }
            _ => {}
        }
        self.pending.remove(pos);
        self.places[n] = Place::Held;
        Ok(n)
    }

    /// Takes the held deliveries at `indices` (ascending) out of the held ones, in the order
    /// they were pulled.
    pub(crate) fn take_held(&mut self, indices: &[usize]) -> Vec<Held<T>> {
        let mut taken = Vec::with_capacity(indices.len());
        for &i in indices.iter().rev() {
            taken.push(self.held.remove(i));
        }
        taken.reverse();
        taken
    }

    /// Records acked deliveries.
    pub(crate) fn acked(&mut self, taken: &[Held<T>]) {
        for held in taken {
            self.places[held.n] = Place::Acked;
        }
    }

    /// Records released deliveries: back at the front of the pending ones, in their order,
    /// with the same attempt.
    pub(crate) fn released(&mut self, taken: &[Held<T>]) {
        for held in taken.iter().rev() {
            self.places[held.n] = Place::Pending;
            self.pending.push_front(Queued {
                n: held.n,
                attempt: held.delivery.attempt,
                delivered: true,
            });
        }
    }

    /// What a nack of `held` must answer.
    pub(crate) fn expected_nack(&self, held: &Held<T>) -> NackOutcome {
        if held.delivery.attempt >= self.max_deliveries {
            NackOutcome::DeadLettered
        } else {
            NackOutcome::Requeued {
                next_attempt: held.delivery.attempt + 1,
            }
        }
    }

    /// Records a nack the backend answered as the model expects: requeued at the back with
    /// its attempt raised, or dead-lettered.
    pub(crate) fn nacked(&mut self, held: &Held<T>, outcome: NackOutcome, reason: String) {
        match outcome {
            NackOutcome::Requeued { next_attempt } => {
                self.places[held.n] = Place::Pending;
                self.pending.push_back(Queued {
                    n: held.n,
                    attempt: next_attempt,
                    delivered: true,
                });
            }
            _ => {
                self.places[held.n] = Place::Dead;
                self.dead.push(Dead {
                    n: held.n,
                    attempts: held.delivery.attempt,
                    reason: Some(reason),
                    crash: None,
                });
            }
        }
    }

    /// Records deliveries held by a consumer that crashed at `step`, as a backend recovers
    /// them: each goes to the back of the pending ones, in the order it was pulled, with its
    /// attempt raised (the crashed delivery counts), or, when it was the last allowed
    /// delivery, is dead-lettered after that many deliveries.
    pub(crate) fn crashed(&mut self, taken: &[Held<T>], step: usize) {
        for held in taken {
            let attempt = held.delivery.attempt;
            if attempt >= self.max_deliveries {
                self.places[held.n] = Place::Dead;
                self.dead.push(Dead {
                    n: held.n,
                    attempts: attempt,
                    reason: None,
                    crash: Some(step),
                });
            } else {
                self.places[held.n] = Place::Pending;
                self.pending.push_back(Queued {
                    n: held.n,
                    attempt: attempt + 1,
                    delivered: true,
                });
            }
        }
    }

    /// The model's own bookkeeping: every enqueued event is in exactly one place, and that
    /// place is the one recorded for it.
    pub(crate) fn audit(&self) -> Result<(), String> {
        let mut seen: Vec<Vec<Place>> = vec![Vec::new(); self.events.len()];
        for q in &self.pending {
            seen[q.n].push(Place::Pending);
        }
        for h in &self.held {
            seen[h.n].push(Place::Held);
        }
        for d in &self.dead {
            seen[d.n].push(Place::Dead);
        }
        for (n, place) in self.places.iter().enumerate() {
            if *place == Place::Acked {
                seen[n].push(Place::Acked);
            }
        }
        for (n, places) in seen.iter().enumerate() {
            if places.len() != 1 || places[0] != self.places[n] {
                return Err(format!(
                    "model bookkeeping: {} is in {places:?}, recorded as {:?}",
                    name(n),
                    self.places[n]
                ));
            }
        }
        Ok(())
    }

    /// The event number of an id, if the model enqueued it.
    pub(crate) fn number_of(&self, id: &Uuid) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The pending events, for messages: `e2@1 e5@3`.
    pub(crate) fn pending_trace(&self) -> String {
        let names: Vec<String> = self
            .pending
            .iter()
            .map(|q| format!("{}@{}", name(q.n), q.attempt))
            .collect();
        names.join(" ")
    }
}
