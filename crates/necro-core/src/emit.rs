//! [`Emit`]: what an organ returns — none, one or many events.

use crate::event::Event;

/// The events an organ emits after handling one event.
///
/// Build it with [`Emit::none`], [`Emit::one`], [`Emit::many`] or from an `Event`,
/// `Option<Event>`, `Vec<Event>` or `()` with `.into()`.
///
/// ```
/// use necro_core::{Emit, Event};
/// let ev = Event::new("DONE", serde_json::json!({})).unwrap();
/// let e: Emit = ev.clone().into();
/// assert_eq!(e.len(), 1);
/// assert!(Emit::none().is_empty());
/// assert_eq!(Emit::many(vec![ev.clone(), ev]).len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub enum Emit {
    /// Nothing to emit.
    #[default]
    None,
    /// Exactly one event.
    One(Event),
    /// Any number of events, enqueued in this order.
    Many(Vec<Event>),
}

impl Emit {
    /// Nothing.
    #[must_use]
    pub fn none() -> Self {
        Self::None
    }

    /// One event.
    #[must_use]
    pub fn one(event: Event) -> Self {
        Self::One(event)
    }

    /// Many events, in order.
    #[must_use]
    pub fn many(events: Vec<Event>) -> Self {
        Self::Many(events)
    }

    /// How many events.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One(_) => 1,
            Self::Many(v) => v.len(),
        }
    }

    /// Whether there is nothing to emit.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the events.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        match self {
            Self::None => [].iter(),
            Self::One(e) => std::slice::from_ref(e).iter(),
            Self::Many(v) => v.iter(),
        }
    }

    /// Appends another event.
    pub fn push(&mut self, event: Event) {
        *self = match std::mem::take(self) {
            Self::None => Self::One(event),
            Self::One(first) => Self::Many(vec![first, event]),
            Self::Many(mut v) => {
                v.push(event);
                Self::Many(v)
            }
        };
    }
}

impl From<Event> for Emit {
    fn from(e: Event) -> Self {
        Self::One(e)
    }
}

impl From<Option<Event>> for Emit {
    fn from(e: Option<Event>) -> Self {
        e.map_or(Self::None, Self::One)
    }
}

impl From<Vec<Event>> for Emit {
    fn from(v: Vec<Event>) -> Self {
        Self::Many(v)
    }
}

impl From<()> for Emit {
    fn from((): ()) -> Self {
        Self::None
    }
}

impl FromIterator<Event> for Emit {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        Self::Many(iter.into_iter().collect())
    }
}

impl IntoIterator for Emit {
    type Item = Event;
    type IntoIter = std::vec::IntoIter<Event>;
    fn into_iter(self) -> Self::IntoIter {
        match self {
            Self::None => Vec::new().into_iter(),
            Self::One(e) => vec![e].into_iter(),
            Self::Many(v) => v.into_iter(),
        }
    }
}

impl<'a> IntoIterator for &'a Emit {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
