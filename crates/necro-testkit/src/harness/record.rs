//! What the harness records: one [`Recorded`] per event that entered the queue, with its
//! [`Origin`], and the readable listing the assertion helpers print.

use std::fmt::Write as _;

use necro_core::uuid::Uuid;
use necro_core::{DeadLetter, Event, Metadata};

/// How a recorded event entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Sent from outside the organs: [`Harness::send`](super::Harness::send) and its
    /// siblings (an enqueue).
    Sent,
    /// Emitted by an organ and committed by the spine.
    Emitted,
}

impl Origin {
    /// `"sent"` or `"emitted"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Emitted => "emitted",
        }
    }
}

/// One event the backend accepted, with its metadata, in the order the backend took them.
///
/// Only what the backend really took is recorded: events of a batch the backend refused
/// (a full queue), and events a NACKed attempt emitted (the spine discards them), are not;
/// redeliveries are not recorded twice.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Recorded {
    /// The event: id, type, timestamp, payload.
    pub event: Event,
    /// Its metadata: correlation and causation ids, headers.
    pub meta: Metadata,
    /// Whether it was sent in or emitted by an organ.
    pub origin: Origin,
}

impl Recorded {
    pub(crate) fn new(event: Event, meta: Metadata, origin: Origin) -> Self {
        Self {
            event,
            meta,
            origin,
        }
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.event.event_type().as_str()
    }

    /// The id of the chain's root: the correlation id, or the event's own id for a root.
    #[must_use]
    pub fn correlation_id(&self) -> Uuid {
        self.meta.correlation_or(&self.event)
    }

    /// The id of the event whose handling emitted this one; `None` for a root.
    #[must_use]
    pub fn causation_id(&self) -> Option<Uuid> {
        self.meta.causation_id
    }

    /// One header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.meta.headers.get(name)
    }

    /// Whether an organ emitted it.
    #[must_use]
    pub fn is_emitted(&self) -> bool {
        self.origin == Origin::Emitted
    }
}

/// The longest payload a listing line shows before cutting it.
const PAYLOAD_SHOWN: usize = 160;

/// One line per record, numbered, with its origin, type, payload, parent (by number when the
/// parent is recorded too) and headers:
///
/// ```text
///   #0 sent    HELLO {"name":"World"}
///   #1 emitted GREETED {"msg":"Hello, World!"} (from #0)
/// ```
pub(crate) fn listing(records: &[Recorded]) -> String {
    if records.is_empty() {
        return "  (no events)\n".to_owned();
    }
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        let _ = write!(
            out,
            "  #{i} {:<7} {} {}",
            r.origin.as_str(),
            r.event_type(),
            shorten(r.event.payload_json())
        );
        if let Some(parent) = r.causation_id() {
            match records.iter().position(|p| p.event.id() == parent) {
                Some(j) => {
                    let _ = write!(out, " (from #{j})");
                }
                None => {
                    let _ = write!(out, " (caused by {parent})");
                }
            }
        }
        if !r.meta.headers.is_empty() {
            let headers: Vec<String> = r
                .meta
                .headers
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = write!(out, " headers {{{}}}", headers.join(", "));
        }
        out.push('\n');
    }
    out
}

/// One line per dead letter: type, kind, reason.
pub(crate) fn dead_letter_listing(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "  (none)\n".to_owned();
    }
    let mut out = String::new();
    for letter in letters {
        let _ = writeln!(
            out,
            "  {} {:?} after {} attempt(s): {}",
            letter.event.event_type(),
            letter.kind,
            letter.attempts,
            letter.reason
        );
    }
    out
}

fn shorten(text: &str) -> String {
    if text.len() <= PAYLOAD_SHOWN {
        return text.to_owned();
    }
    let mut end = PAYLOAD_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A panic fails the test.
    use super::*;
    use necro_core::serde_json::json;

    #[test]
    fn a_listing_numbers_records_links_parents_and_shows_headers() {
        let root = Event::new("HELLO", json!({"name": "World"})).unwrap();
        let child = Event::new("GREETED", json!({"msg": "hi"})).unwrap();
        let parent_meta = Metadata::default().with_header("tenant", "acme").unwrap();
        let child_meta = Metadata::child_of_passing(&root, &parent_meta, &necro_core::PassOn::All);
        let records = [
            Recorded::new(root, parent_meta, Origin::Sent),
            Recorded::new(child, child_meta, Origin::Emitted),
        ];
        assert_eq!(
            listing(&records),
            "  #0 sent    HELLO {\"name\":\"World\"} headers {tenant=acme}\n  \
             #1 emitted GREETED {\"msg\":\"hi\"} (from #0) headers {tenant=acme}\n"
        );
        assert_eq!(listing(&[]), "  (no events)\n");
    }

    #[test]
    fn long_payloads_are_cut_on_a_char_boundary() {
        let long = "é".repeat(200);
        let short = shorten(&long);
        assert!(short.ends_with("… (400 bytes)"), "{short}");
        assert!(short.len() < 200);
    }
}
