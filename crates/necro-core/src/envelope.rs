//! The values an event travels in beside its four JSON fields: [`Metadata`] (chain tracing),
//! [`Envelope`] (an event on its way into a backend) and [`Delivery`] (an event handed out by
//! one).

use uuid::Uuid;

use crate::event::Event;

/// Chain-tracing metadata carried beside an event, never inside its four-field JSON.
///
/// In memory it travels alongside the event; on Redis as extra stream-entry fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// The id of the root event of the chain this event belongs to.
    pub correlation_id: Option<Uuid>,
    /// The id of the event whose handling emitted this one.
    pub causation_id: Option<Uuid>,
}

impl Metadata {
    /// Metadata for an event emitted while handling `parent` (whose own metadata is
    /// `parent_meta`): same correlation id as the parent's chain, causation = the parent.
    #[must_use]
    pub fn child_of(parent: &Event, parent_meta: &Metadata) -> Self {
        Self {
            correlation_id: Some(parent_meta.correlation_id.unwrap_or_else(|| parent.id())),
            causation_id: Some(parent.id()),
        }
    }

    /// The correlation id, falling back to the event's own id for a root event.
    #[must_use]
    pub fn correlation_or(&self, event: &Event) -> Uuid {
        self.correlation_id.unwrap_or_else(|| event.id())
    }
}

/// An event with its metadata, on its way into a backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The event.
    pub event: Event,
    /// Its chain-tracing metadata.
    pub meta: Metadata,
}

impl Envelope {
    /// An envelope with empty metadata (a root event).
    #[must_use]
    pub fn new(event: Event) -> Self {
        Self {
            event,
            meta: Metadata::default(),
        }
    }

    /// An envelope with the given metadata.
    #[must_use]
    pub fn with_meta(event: Event, meta: Metadata) -> Self {
        Self { event, meta }
    }
}

impl From<Event> for Envelope {
    fn from(event: Event) -> Self {
        Self::new(event)
    }
}

/// One event handed out by a backend, to be acked or nacked with its token.
#[derive(Debug, Clone)]
pub struct Delivery<T> {
    /// The event.
    pub event: Event,
    /// Its chain-tracing metadata.
    pub meta: Metadata,
    /// Which delivery this is: 1 the first time, raised by every redelivery.
    pub attempt: u32,
    /// The backend's own handle for acking this delivery.
    pub token: T,
}
