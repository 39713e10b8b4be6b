//! The operations the model check generates ([`Op`]), the proptest strategy that generates
//! sequences of them, and [`Pick`], how an operation chooses among the held deliveries.

use std::fmt;

use proptest::prelude::*;

/// Which of the held deliveries an operation takes: bit `i % 8` of the mask selects the
/// `i`-th held delivery (in the order they were pulled); a mask that selects none takes the
/// first. It shrinks towards 0, "the first one".
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick(pub(crate) u8);

impl Pick {
    /// The indices (ascending) this pick selects among `held` deliveries; empty only when
    /// nothing is held.
    pub(crate) fn select(self, held: usize) -> Vec<usize> {
        let chosen: Vec<usize> = (0..held).filter(|i| self.0 & (1 << (i % 8)) != 0).collect();
        if chosen.is_empty() && held > 0 {
            vec![0]
        } else {
            chosen
        }
    }

    /// The one index this pick selects among `held` deliveries (the mask's value, modulo).
    pub(crate) fn one(self, held: usize) -> Option<usize> {
        (held > 0).then(|| usize::from(self.0) % held)
    }
}

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010b}", self.0)
    }
}

/// One step of a generated sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Enqueue this many new events, as one batch.
    Enqueue(usize),
    /// Pull up to this many deliveries.
    Pull(usize),
    /// Ack the picked held deliveries, in one call.
    Ack(Pick),
    /// Nack one held delivery.
    Nack(Pick),
    /// Release the picked held deliveries, in one call.
    Release(Pick),
    /// Release every held delivery (a consumer that stops).
    ReleaseAll,
    /// Commit this many new events with the acks of the picked held deliveries.
    Commit(usize, Pick),
    /// Pull every pending event (they must all come), compare them with the model, and
    /// release them all.
    Probe,
    /// The consumer crashes holding its deliveries (it neither acks, nacks nor releases
    /// them, and is never closed); the run's crash hook recovers the backend (another
    /// consumer), and a probe follows: every held delivery comes back with its attempt
    /// raised, or is dead-lettered when it was the last allowed. Generated only when the
    /// check has a crash hook.
    Crash,
}

fn pick() -> impl Strategy<Value = Pick> {
    any::<u8>().prop_map(Pick)
}

/// One operation, weighted so that sequences build up pending, held and dead events; with
/// `crashes`, a crash now and then.
fn op(crashes: bool) -> impl Strategy<Value = Op> {
    let crash = u32::from(crashes);
    prop_oneof![
        3 => (1usize..=4).prop_map(Op::Enqueue),
        4 => (1usize..=5).prop_map(Op::Pull),
        2 => pick().prop_map(Op::Ack),
        3 => pick().prop_map(Op::Nack),
        2 => pick().prop_map(Op::Release),
        1 => Just(Op::ReleaseAll),
        1 => ((0usize..=2), pick()).prop_map(|(k, p)| Op::Commit(k, p)),
        1 => Just(Op::Probe),
        crash => Just(Op::Crash),
    ]
}

/// Sequences of 1 to `max_steps` operations (at least 1); crashes among them only with
/// `crashes`.
pub(crate) fn ops(max_steps: usize, crashes: bool) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(crashes), 1..=max_steps.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_selects_by_bits_and_falls_back_to_the_first() {
        assert_eq!(Pick(0).select(0), Vec::<usize>::new());
        assert_eq!(Pick(0).select(3), [0]);
        assert_eq!(Pick(0b101).select(4), [0, 2]);
        assert_eq!(Pick(0b10).select(10), [1, 9]);
        assert_eq!(Pick(7).one(0), None);
        assert_eq!(Pick(7).one(3), Some(1));
    }
}
