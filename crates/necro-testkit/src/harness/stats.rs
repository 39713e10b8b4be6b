//! One run's share of a spine's cumulative [`Stats`].

use std::collections::BTreeMap;

use necro_spine::Stats;

/// What changed between two snapshots of one spine's counters: `after - before`, field by
/// field; per-key maps keep only the keys that moved.
pub(crate) fn run_stats(before: &Stats, after: &Stats) -> Stats {
    let mut run = after.clone();
    for (field, earlier) in [
        (&mut run.processed, before.processed),
        (&mut run.emitted, before.emitted),
        (&mut run.unrouted, before.unrouted),
        (&mut run.enqueue_retries, before.enqueue_retries),
        (&mut run.retries, before.retries),
        (&mut run.timeouts, before.timeouts),
        (&mut run.panics, before.panics),
        (&mut run.circuit_rejections, before.circuit_rejections),
        (&mut run.dead_lettered, before.dead_lettered),
        (&mut run.nacked, before.nacked),
        (&mut run.nack_dead_lettered, before.nack_dead_lettered),
        (&mut run.released, before.released),
        (&mut run.backend_errors, before.backend_errors),
        (&mut run.ack_errors, before.ack_errors),
    ] {
        *field = field.saturating_sub(earlier);
    }
    subtract(&mut run.enqueue_failures, &before.enqueue_failures);
    subtract(&mut run.handler_errors, &before.handler_errors);
    run
}

/// How many fields [`run_stats`] subtracts: a test compares it with `Stats`' own count, so a
/// counter added to the spine cannot silently stay cumulative here.
#[cfg(test)]
const FIELDS_HANDLED: usize = 16;

fn subtract(map: &mut BTreeMap<String, u64>, before: &BTreeMap<String, u64>) {
    for (key, earlier) in before {
        if let Some(n) = map.get_mut(key) {
            *n = n.saturating_sub(*earlier);
        }
    }
    map.retain(|_, n| *n > 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_of_stats_is_subtracted() {
        // `Stats { a: 0, b: {}, … }`: one ": " per field.
        let debug = format!("{:?}", Stats::default());
        assert_eq!(
            debug.matches(": ").count(),
            FIELDS_HANDLED,
            "Stats has a field run_stats does not subtract: {debug}"
        );
    }

    #[test]
    fn a_run_keeps_what_moved() {
        let mut before = Stats::default();
        before.processed = 3;
        before.handler_errors.insert("A".into(), 1);
        before.handler_errors.insert("B".into(), 2);
        let mut after = before.clone();
        after.processed = 5;
        after.retries = 2;
        after.handler_errors.insert("B".into(), 3);
        after.handler_errors.insert("C".into(), 1);
        let run = run_stats(&before, &after);
        assert_eq!(run.processed, 2);
        assert_eq!(run.retries, 2);
        assert_eq!(
            run.handler_errors,
            BTreeMap::from([("B".to_owned(), 1), ("C".to_owned(), 1)])
        );
        assert_eq!(run_stats(&after, &after), Stats::default());
    }
}
