//! The safe floor: the smallest entry id some consumer group still needs, below which
//! `XTRIM … MINID` may remove entries without losing anything a group has not acknowledged.
//!
//! ## Why the floor is safe, even computed by two workers at once
//!
//! For one group, the entries it still needs are those pending in it (each `>=` its oldest
//! pending id, from the `XPENDING` summary) and those not delivered to it yet (each `>` its
//! last-delivered id, from `XINFO GROUPS`). Its floor is the smaller of the two ids
//! ([`GroupNeeds::floor`]); the stream's is the smallest over its groups ([`safe_floor`]).
//! `XTRIM … MINID f` removes the entries with an id `< f` only.
//!
//! The two reads are not one atomic snapshot: `XINFO GROUPS` is read at a time `t1`, the
//! `XPENDING` summaries at a later `t2` (same connection, in that order), the trim runs at
//! `t3 >= t2`. Take an entry `e` a group needs at `t3`:
//!
//! - if it was not delivered to the group at `t1`, then `e > last_delivered(t1) >= floor`;
//! - if it was delivered at `t1` and is pending at `t3`, it was pending at `t2` too (an
//!   acknowledged entry never becomes pending again, and a pending one only moves between
//!   consumers), so `e >= oldest_pending(t2) >= floor`.
//!
//! So a floor computed from reads in that order stays safe at any later time: new entries get
//! ids above every existing one, and nothing ever makes an old, acknowledged entry needed
//! again. A stale floor from a slow worker is smaller than a fresh one, and trimming at it
//! later removes nothing that is needed; two trims at once each remove only entries below
//! their own safe floor. The lease (`trim.rs`) only keeps the fleet from doing the work twice.
//! (`XGROUP SETID` moving a group backwards, or a group created later at `0`, ask for entries
//! that may already be gone: the floor protects the groups that exist, where they are.)
//! The model test below checks this with two trimmers interleaved with deliveries and acks.
//!
//! [`Marks`] turn the count bound into an id: where the stream's end was at each interval.

use std::collections::VecDeque;
use std::fmt;

use crate::entry::EntryId;

/// A stream entry id, ordered as Redis orders them (`{ms}-{seq}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct StreamId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    /// `0-0`: below every entry.
    pub(crate) const ZERO: Self = Self { ms: 0, seq: 0 };

    /// The first id of a millisecond.
    pub(crate) fn from_millis(ms: u64) -> Self {
        Self { ms, seq: 0 }
    }

    /// Reads `ms-seq` (or a bare `ms`); `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a group holds the floor where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FloorHold {
    /// The group still holds this entry pending (delivered, not acknowledged).
    Pending,
    /// This is the last entry delivered to the group; everything after it is still to come.
    Undelivered,
}

/// What holds trimming back: the group whose needs are the oldest, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SafeFloor {
    /// This entry and every later one are kept; those before it are acknowledged by every
    /// group (that is not ignored) and may be trimmed.
    pub id: EntryId,
    /// The group that holds the floor there.
    pub group: String,
    /// Whether that group still holds the entry pending or has read nothing after it.
    pub hold: FloorHold,
    /// Entries not yet delivered to that group (`XINFO GROUPS`' `lag`), when Redis can tell.
    pub lag: Option<u64>,
}

/// One group's needs, as read from `XINFO GROUPS` and the `XPENDING` summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupNeeds {
    pub(crate) name: String,
    /// `None` (an id that does not read) holds everything.
    pub(crate) last_delivered: Option<StreamId>,
    pub(crate) oldest_pending: Option<StreamId>,
    pub(crate) lag: Option<u64>,
}

impl GroupNeeds {
    /// The smallest id this group still needs, and why.
    pub(crate) fn floor(&self) -> (StreamId, FloorHold) {
        let last = self.last_delivered.unwrap_or(StreamId::ZERO);
        match self.oldest_pending {
            Some(p) if p <= last => (p, FloorHold::Pending),
            _ => (last, FloorHold::Undelivered),
        }
    }
}

/// Where trimming may go, by the groups alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Floor {
    /// The stream has no consumer group: nobody has read anything, nothing is trimmed.
    NoGroups,
    /// Every group is ignored: only the retention bound limits trimming.
    Unlimited,
    /// Entries below `id` may go.
    At(StreamId, SafeFloor),
}

/// The smallest floor over the groups not in `ignore`.
pub(crate) fn safe_floor(groups: &[GroupNeeds], ignore: &[String]) -> Floor {
    if groups.is_empty() {
        return Floor::NoGroups;
    }
    let lowest = groups
        .iter()
        .filter(|g| !ignore.contains(&g.name))
        .map(|g| (g.floor(), g))
        .min_by_key(|((id, _), _)| *id);
    match lowest {
        None => Floor::Unlimited,
        Some(((id, hold), g)) => Floor::At(
            id,
            SafeFloor {
                id: EntryId::from(id.to_string()),
                group: g.name.clone(),
                hold,
                lag: g.lag,
            },
        ),
    }
}

/// The id to trim at: the retention bound, but never past the groups' floor. `None`: trim
/// nothing.
pub(crate) fn trim_target(floor: &Floor, retention: Option<StreamId>) -> Option<StreamId> {
    let retention = retention?;
    match floor {
        Floor::NoGroups => None,
        Floor::Unlimited => Some(retention),
        Floor::At(id, _) => Some(retention.min(*id)),
    }
}

/// The most marks kept; past it every other one goes (the count bound gets coarser, never
/// unsafe).
const MAX_MARKS: usize = 4096;

/// Where the stream's end was at each interval: `(entries_added, last_generated_id)`, the
/// logical number of an entry and its id. Trimming at a mark's id keeps exactly the entries
/// added since (plus the mark itself), which is how a count bound becomes a `MINID`.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    marks: VecDeque<(u64, StreamId)>,
}

impl Marks {
    /// Notes the stream's end. A smaller count than the last mark means the stream was
    /// deleted and made again: the old marks mean nothing.
    pub(crate) fn observe(&mut self, added: u64, last: StreamId) {
        match self.marks.back() {
            Some(&(a, _)) if a == added => return,
            Some(&(a, _)) if a > added => self.marks.clear(),
            _ => {}
        }
        self.marks.push_back((added, last));
        if self.marks.len() > MAX_MARKS {
            let kept: VecDeque<_> = self.marks.iter().copied().step_by(2).collect();
            self.marks = kept;
        }
    }

    /// The newest mark that keeps at least `keep` entries of the `added` so far, dropping
    /// the older ones (they will never be chosen again: `added` only grows).
    pub(crate) fn cut(&mut self, added: u64, keep: u64) -> Option<StreamId> {
        let limit = (added + 1).checked_sub(keep)?;
        while self.marks.len() > 1 && self.marks[1].0 <= limit {
            self.marks.pop_front();
        }
        self.marks
            .front()
            .filter(|(a, _)| *a <= limit)
            .map(|(_, id)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn id(n: u64) -> StreamId {
        StreamId { ms: n, seq: 0 }
    }

    fn needs(name: &str, last: u64, pending: Option<u64>) -> GroupNeeds {
        GroupNeeds {
            name: name.to_owned(),
            last_delivered: Some(id(last)),
            oldest_pending: pending.map(id),
            lag: None,
        }
    }

    #[test]
    fn marks_turn_a_count_into_an_id() {
        let mut m = Marks::default();
        assert_eq!(m.cut(0, 10), None);
        // Entry k has id k: marks at 100, 200, 300 entries added.
        for a in [100, 200, 200, 300] {
            m.observe(a, id(a));
        }
        // 300 added, keep 150: the newest mark with at least 150 after it is 100.
        assert_eq!(m.cut(300, 150), Some(id(100)));
        // Keep 100: mark 200 keeps entries 200..=300, 101 of them.
        assert_eq!(m.cut(300, 100), Some(id(200)));
        // Older marks are gone now; asking for more keeps nothing to trim at.
        assert_eq!(m.cut(300, 250), None);
        assert_eq!(m.cut(50, 100), None);
        // A stream made again starts over.
        m.observe(5, id(5));
        assert_eq!(m.cut(5, 1), Some(id(5)));
    }

    #[test]
    fn marks_stay_bounded() {
        let mut m = Marks::default();
        for a in 1..=10_000u64 {
            m.observe(a, id(a));
        }
        assert!(m.marks.len() <= MAX_MARKS);
        let cut = m.cut(10_000, 5_000).unwrap();
        assert!(cut <= id(5_001), "{cut}");
    }

    #[test]
    fn ids_order_and_read_as_redis_writes_them() {
        let a = StreamId::parse("1700000000000-5").unwrap();
        let b = StreamId::parse("1700000000000-12").unwrap();
        let c = StreamId::parse("1700000000001-0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-12");
        assert_eq!(StreamId::parse("42"), Some(id(42)));
        assert_eq!(StreamId::parse("x-1"), None);
        assert_eq!(StreamId::parse("1-"), None);
    }

    #[test]
    fn the_floor_is_the_oldest_need_of_any_group() {
        assert_eq!(safe_floor(&[], &[]), Floor::NoGroups);
        let groups = [needs("fast", 90, Some(88)), needs("slow", 40, None)];
        let Floor::At(at, f) = safe_floor(&groups, &[]) else {
            panic!("a floor")
        };
        assert_eq!(
            (at, f.group.as_str(), f.hold),
            (id(40), "slow", FloorHold::Undelivered)
        );
        let Floor::At(at, f) = safe_floor(&groups, &["slow".to_owned()]) else {
            panic!("a floor")
        };
        assert_eq!((at, f.hold), (id(88), FloorHold::Pending));
        let all = ["fast".to_owned(), "slow".to_owned()];
        assert_eq!(safe_floor(&groups, &all), Floor::Unlimited);
        // An id that does not read holds everything.
        let odd = GroupNeeds {
            last_delivered: None,
            ..needs("odd", 0, None)
        };
        assert!(matches!(
            safe_floor(&[odd], &[]),
            Floor::At(StreamId::ZERO, _)
        ));
    }

    #[test]
    fn the_target_never_passes_the_floor() {
        let floor = safe_floor(&[needs("g", 50, Some(20))], &[]);
        assert_eq!(trim_target(&floor, Some(id(30))), Some(id(20)));
        assert_eq!(trim_target(&floor, Some(id(10))), Some(id(10)));
        assert_eq!(trim_target(&floor, None), None);
        assert_eq!(trim_target(&Floor::NoGroups, Some(id(10))), None);
        assert_eq!(trim_target(&Floor::Unlimited, Some(id(10))), Some(id(10)));
    }

    /// A model of one stream with groups, and two trimmers whose three steps (read the
    /// groups, read the pending summaries, trim) interleave with deliveries and acks.
    #[derive(Debug, Clone)]
    enum Op {
        Add,
        Deliver(usize, usize),
        Ack(usize, usize),
        Step(usize),
    }

    #[derive(Default, Clone)]
    struct Group {
        last: u64,
        pending: BTreeSet<u64>,
    }

    #[derive(Default)]
    enum Trimmer {
        #[default]
        Idle,
        ReadGroups(Vec<(u64, usize)>),
        ReadPending(Vec<GroupNeeds>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Add),
            3 => (0..3usize, 1..4usize).prop_map(|(g, n)| Op::Deliver(g, n)),
            3 => (0..3usize, 0..8usize).prop_map(|(g, i)| Op::Ack(g, i)),
            4 => (0..2usize).prop_map(Op::Step),
        ]
    }

    proptest! {
        #[test]
        fn interleaved_trimmers_never_remove_a_needed_entry(ops in proptest::collection::vec(op(), 1..200)) {
            let mut stream: BTreeSet<u64> = BTreeSet::new();
            let mut next = 1u64;
            let mut groups = vec![Group::default(); 3];
            let mut trimmers = [Trimmer::Idle, Trimmer::Idle];
            for op in ops {
                match op {
                    Op::Add => { stream.insert(next); next += 1; }
                    Op::Deliver(g, n) => {
                        let fresh: Vec<u64> = stream.range(groups[g].last + 1..).take(n).copied().collect();
                        for e in fresh { groups[g].pending.insert(e); groups[g].last = e; }
                    }
                    Op::Ack(g, i) => {
                        if let Some(e) = groups[g].pending.iter().nth(i).copied() {
                            groups[g].pending.remove(&e);
                        }
                    }
                    Op::Step(t) => {
                        trimmers[t] = match std::mem::take(&mut trimmers[t]) {
                            Trimmer::Idle => Trimmer::ReadGroups(
                                groups.iter().map(|g| (g.last, g.pending.len())).collect(),
                            ),
                            Trimmer::ReadGroups(seen) => Trimmer::ReadPending(
                                seen.iter().zip(&groups).enumerate().map(|(i, ((last, count), now))| GroupNeeds {
                                    name: format!("g{i}"),
                                    last_delivered: Some(id(*last)),
                                    // As trim.rs does: no XPENDING for a group that had none.
                                    oldest_pending: if *count > 0 { now.pending.first().copied().map(id) } else { None },
                                    lag: None,
                                }).collect(),
                            ),
                            Trimmer::ReadPending(needs) => {
                                // The retention bound asks for everything; the floor limits it.
                                if let Some(to) = trim_target(&safe_floor(&needs, &[]), Some(id(u64::MAX))) {
                                    stream.retain(|e| id(*e) >= to);
                                }
                                Trimmer::Idle
                            }
                        };
                    }
                }
                for g in &groups {
                    for e in &g.pending {
                        prop_assert!(stream.contains(e), "pending {e} was trimmed");
                    }
                    for e in g.last + 1..next {
                        prop_assert!(stream.contains(&e), "undelivered {e} was trimmed");
                    }
                }
            }
        }
    }
}
