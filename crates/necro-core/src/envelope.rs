//! The values an event travels in beside its four JSON fields: [`Metadata`] (chain tracing),
//! [`Envelope`] (an event on its way into a backend) and [`Delivery`] (an event handed out by
//! one).

use uuid::Uuid;

use crate::event::Event;
use crate::headers::{HeaderError, Headers, PassOn};

/// Chain-tracing metadata and headers carried beside an event, never inside its four-field
/// JSON.
///
/// In memory it travels alongside the event; on Redis as extra stream-entry fields
/// (`correlation_id`, `causation_id`, and one `header:<name>` field per header).
///
/// ```
/// use necro_core::{Envelope, Event, Metadata, PassOn};
///
/// let root = Event::new("ORDER_PLACED", serde_json::json!({"id": 7}))?;
/// let meta = Metadata::default().with_header("tenant", "acme")?;
/// let child = Metadata::child_of_passing(&root, &meta, &PassOn::All);
/// assert_eq!(child.correlation_id, Some(root.id()));
/// assert_eq!(child.headers.get("tenant"), Some("acme"));
/// let _envelope = Envelope::with_meta(root, meta); // what `Backend::enqueue` takes
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// The id of the root event of the chain this event belongs to.
    pub correlation_id: Option<Uuid>,
    /// The id of the event whose handling emitted this one.
    pub causation_id: Option<Uuid>,
    /// Headers: trace context and application headers.
    pub headers: Headers,
}

impl Metadata {
    /// Metadata for an event emitted while handling `parent` (whose own metadata is
    /// `parent_meta`): same correlation id as the parent's chain, causation = the parent,
    /// and the parent's trace-context headers ([`PassOn::TraceContext`]).
    #[must_use]
    pub fn child_of(parent: &Event, parent_meta: &Metadata) -> Self {
        Self::child_of_passing(parent, parent_meta, &PassOn::TraceContext)
    }

    /// As [`child_of`](Self::child_of), passing on the headers `pass_on` selects.
    #[must_use]
    pub fn child_of_passing(parent: &Event, parent_meta: &Metadata, pass_on: &PassOn) -> Self {
        Self {
            correlation_id: Some(parent_meta.correlation_id.unwrap_or_else(|| parent.id())),
            causation_id: Some(parent.id()),
            headers: parent_meta.headers.passed_on(pass_on),
        }
    }

    /// This metadata with a header set.
    ///
    /// # Errors
    /// As [`Headers::insert`].
    pub fn with_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, HeaderError> {
        self.headers.insert(name, value)?;
        Ok(self)
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
