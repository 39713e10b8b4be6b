//! The event model: [`Event`] — its constructors and validation, its accessors, and its
//! four-field JSON form, read and written. What it carries and checks sits in leaves below it:
//! the [`EventType`] in `event_type.rs`, the payload limits and the scan of payload text read
//! from the wire in `scan.rs`, timestamp parsing and formatting in `timestamp.rs`.

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{EventError, truncate_for_error};
use crate::event_type::EventType;
use crate::payload::{DecodeError, Payload};
use crate::scan::{
    MAX_PAYLOAD_DEPTH, check_size, compact_object, finish_payload, json_error, json_kind,
};
use crate::timestamp::{
    format_timestamp, normalize_ts, now_micros, parse_timestamp, push_timestamp,
};

/// An immutable fact: what happened, when, and its data.
///
/// Every constructor validates: the type is trimmed and non-empty, the id is a UUID v4,
/// the payload is a JSON object of at most [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES)
/// bytes of compact JSON, nested at most [`MAX_PAYLOAD_DEPTH`] levels deep, holding no number
/// beyond the range of an `f64` and no `\u` escape of a lone UTF-16 surrogate: so
/// [`payload`](Event::payload) always holds the whole payload.
/// Cloning is a reference-count increment, so fanning one event out to many organs is cheap.
///
/// The JSON form is exactly `{"id","timestamp","event_type","payload"}`, with the timestamp
/// written the way the Python NecroStack writes it (`2024-01-15T10:30:45.123456+00:00`).
/// Timestamps keep microsecond precision so that form round-trips exactly.
///
/// Reading that form ([`from_json`](Event::from_json), serde) keeps the payload's text as
/// it was written, only without whitespace outside strings (Python's `json.dumps` writes
/// `", "` and `": "`): escapes, number spellings, big integers and key order are untouched,
/// so an event re-encodes to the same content. It also accepts:
/// - an id in either case (written back in lowercase, as Python's `str(uuid)` does), but
///   only in the hyphenated 8-4-4-4-12 form: the simple, braced and `urn:uuid:` forms are
///   refused ([`EventError::IdNotCanonical`]) rather than rewritten;
/// - a timestamp without an offset (`2024-01-15T10:30:45.123456`, what Python writes for a
///   naive `datetime`), read as UTC.
///
/// It refuses `NaN`, `Infinity` and `-Infinity` ([`EventError::NonFiniteNumber`]) and lone
/// surrogates such as `"\ud800"` ([`EventError::LoneSurrogate`]), which Python's `json`
/// writes but JSON does not allow.
///
/// ```
/// use necro_core::Event;
/// use serde_json::json;
///
/// let event = Event::new("HELLO", json!({"name": "World"})).unwrap();
/// assert_eq!(event.event_type(), "HELLO");
/// assert_eq!(event.payload()["name"], "World");
///
/// let wire = event.to_json();
/// let back = Event::from_json(&wire).unwrap();
/// assert_eq!(back, event);
/// ```
#[derive(Clone)]
pub struct Event(Arc<Inner>);

struct Inner {
    id: Uuid,
    timestamp: OffsetDateTime,
    event_type: EventType,
    /// Compact JSON text of the payload object.
    raw: Box<RawValue>,
    /// The parsed payload, filled on first access.
    parsed: OnceLock<Map<String, Value>>,
}

impl Event {
    /// Builds an event with a fresh v4 id and the current UTC time.
    ///
    /// # Errors
    /// An [`EventError`] for an empty type, a payload that is not an object, or one too large
    /// or too deep ([`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES), [`MAX_PAYLOAD_DEPTH`]).
    pub fn new(event_type: impl AsRef<str>, payload: Value) -> Result<Self, EventError> {
        let event_type = EventType::new(event_type.as_ref())?;
        Self::with_type(event_type, payload)
    }

    /// Like [`Event::new`] with an already validated type (no re-validation, no allocation for
    /// the type).
    ///
    /// # Errors
    /// An [`EventError`] for a payload that is not an object, or one too large or too deep.
    pub fn with_type(event_type: EventType, payload: Value) -> Result<Self, EventError> {
        match payload {
            Value::Object(map) => Self::assemble(Uuid::new_v4(), now_micros(), event_type, &map),
            other => Err(EventError::PayloadNotObject {
                found: json_kind(&other),
            }),
        }
    }

    /// Builds an event from a payload object.
    ///
    /// # Errors
    /// An [`EventError`] for an empty type or a payload too large or too deep.
    pub fn from_map(
        event_type: impl AsRef<str>,
        payload: Map<String, Value>,
    ) -> Result<Self, EventError> {
        let event_type = EventType::new(event_type.as_ref())?;
        Self::with_type(event_type, Value::Object(payload))
    }

    /// Builds an event from every part, for replays, imports and tests.
    ///
    /// The timestamp is converted to UTC and truncated to microseconds.
    ///
    /// # Errors
    /// An [`EventError`] for a non-v4 id, an empty type, a payload that is not an object,
    /// or one too large or too deep.
    pub fn from_parts(
        id: Uuid,
        timestamp: OffsetDateTime,
        event_type: impl AsRef<str>,
        payload: Value,
    ) -> Result<Self, EventError> {
        check_v4(id)?;
        let event_type = EventType::new(event_type.as_ref())?;
        match payload {
            Value::Object(map) => Self::assemble(id, normalize_ts(timestamp), event_type, &map),
            other => Err(EventError::PayloadNotObject {
                found: json_kind(&other),
            }),
        }
    }

    /// Builds an event whose type and payload come from a typed [`Payload`].
    ///
    /// ```
    /// use necro_core::{Event, Payload};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize, Payload)]
    /// #[payload(event_type = "HELLO")]
    /// struct Hello { name: String }
    ///
    /// let event = Event::from_payload(&Hello { name: "World".into() }).unwrap();
    /// assert_eq!(event.event_type(), "HELLO");
    /// assert_eq!(event.decode::<Hello>().unwrap().name, "World");
    /// ```
    ///
    /// # Errors
    /// An [`EventError`] if the payload does not serialize to a JSON object within the size
    /// and depth limits (or, through a `RawValue` field, holds what [`Event`] refuses).
    pub fn from_payload<P: Payload>(payload: &P) -> Result<Self, EventError> {
        let event_type = EventType::new(P::EVENT_TYPE)?;
        // Serialized straight into the raw value: serde_json's own output is valid JSON, so it
        // is not parsed again.
        let raw = serde_json::value::to_raw_value(payload).map_err(EventError::Serialize)?;
        if !raw.get().starts_with('{') {
            let value: Value = serde_json::from_str(raw.get()).map_err(EventError::Serialize)?;
            return Err(EventError::PayloadNotObject {
                found: json_kind(&value),
            });
        }
        // A `RawValue` field of the payload type can bring in anything the text holds.
        let raw = finish_payload(raw)?;
        Ok(Self(Arc::new(Inner {
            id: Uuid::new_v4(),
            timestamp: now_micros(),
            event_type,
            raw,
            parsed: OnceLock::new(),
        })))
    }

    fn assemble(
        id: Uuid,
        timestamp: OffsetDateTime,
        event_type: EventType,
        map: &Map<String, Value>,
    ) -> Result<Self, EventError> {
        // The depth is checked while the map is written (no second pass over it or its
        // text). Nothing else `scan_payload` refuses can be in a `Value`: its strings are Rust
        // strings, its numbers finite, and serde_json writes it without whitespace.
        let too_deep = Cell::new(false);
        let limited = DepthLimited {
            value: Limited::Map(map),
            levels: MAX_PAYLOAD_DEPTH,
            too_deep: &too_deep,
        };
        let raw = serde_json::value::to_raw_value(&limited).map_err(|err| {
            if too_deep.get() {
                EventError::PayloadTooDeep {
                    limit: MAX_PAYLOAD_DEPTH,
                }
            } else {
                EventError::Serialize(err)
            }
        })?;
        check_size(raw.get().len())?;
        // The map is not kept: a parsed map costs several times the compact text in memory
        // (a queue of a million ~100-byte events went from ~1.25 GB to ~0.3 GB), and typed
        // organs decode from the text anyway. `payload()` parses it on first access.
        Ok(Self(Arc::new(Inner {
            id,
            timestamp,
            event_type,
            raw,
            parsed: OnceLock::new(),
        })))
    }

    /// Validates the parts of an event read from the wire.
    fn from_wire(
        id: &str,
        timestamp: &str,
        event_type: &str,
        payload: Box<RawValue>,
    ) -> Result<Self, EventError> {
        let id = parse_id(id)?;
        let timestamp = parse_timestamp(timestamp)?;
        let event_type = EventType::new(event_type)?;
        let raw = compact_object(payload)?;
        Ok(Self(Arc::new(Inner {
            id,
            timestamp: normalize_ts(timestamp),
            event_type,
            raw,
            parsed: OnceLock::new(),
        })))
    }

    /// Parses and validates the JSON form `{"id","timestamp","event_type","payload"}`.
    ///
    /// What is accepted, and how the payload text is kept, is described on [`Event`].
    ///
    /// # Errors
    /// [`EventError::Json`] for malformed JSON, missing or unknown fields
    /// ([`EventError::NonFiniteNumber`] when it is `NaN` or `Infinity`); the other variants
    /// for values that fail validation.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let wire: Wire<'_> =
            serde_json::from_str(text).map_err(|err| json_error(text.as_bytes(), err))?;
        Self::from_wire(&wire.id, &wire.timestamp, &wire.event_type, wire.payload)
    }

    /// Parses and validates the JSON form from bytes (which must be UTF-8).
    ///
    /// # Errors
    /// As [`Event::from_json`].
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|err| json_error(bytes, err))?;
        Self::from_wire(&wire.id, &wire.timestamp, &wire.event_type, wire.payload)
    }

    /// The compact JSON form, wire-compatible with the Python NecroStack.
    #[must_use]
    pub fn to_json(&self) -> String {
        let inner = &*self.0;
        let raw = inner.raw.get();
        let mut out = String::with_capacity(raw.len() + inner.event_type.as_str().len() + 120);
        out.push_str("{\"id\":\"");
        out.push_str(
            inner
                .id
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        out.push_str("\",\"timestamp\":\"");
        push_timestamp(&mut out, inner.timestamp);
        out.push_str("\",\"event_type\":");
        // Serializing a &str into a String cannot fail.
        out.push_str(
            &serde_json::to_string(inner.event_type.as_str()).unwrap_or_else(|_| "\"\"".into()),
        );
        out.push_str(",\"payload\":");
        out.push_str(raw);
        out.push('}');
        out
    }

    /// The event's id (UUID v4).
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.0.id
    }

    /// When the event was created (UTC, microsecond precision).
    #[must_use]
    pub fn timestamp(&self) -> OffsetDateTime {
        self.0.timestamp
    }

    /// The timestamp in the wire form, e.g. `2024-01-15T10:30:45.123456+00:00`.
    #[must_use]
    pub fn timestamp_rfc3339(&self) -> String {
        format_timestamp(self.0.timestamp)
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> &EventType {
        &self.0.event_type
    }

    /// The payload object, parsed from [`payload_json`](Event::payload_json) on first access.
    ///
    /// Every key and value is there (the constructors refuse what could not be parsed), but
    /// as a `serde_json` map: keys are sorted, escapes decoded, and integers beyond the `i64`
    /// and `u64` ranges become the nearest `f64`. [`payload_json`](Event::payload_json) is
    /// the exact text.
    #[must_use]
    pub fn payload(&self) -> &Map<String, Value> {
        self.0.parsed.get_or_init(|| {
            // The text was checked when the event was built: valid JSON, an object, no deeper
            // than MAX_PAYLOAD_DEPTH, no lone surrogate, every number within f64. So this
            // parse does not fail.
            let parsed = serde_json::from_str(self.0.raw.get());
            debug_assert!(parsed.is_ok(), "a checked payload failed to parse");
            parsed.unwrap_or_default()
        })
    }

    /// One field of the payload, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.payload().get(key)
    }

    /// The payload as compact JSON text: exactly as read from the wire without whitespace
    /// outside strings (escapes, number spellings and key order as written), or as
    /// serde_json wrote it for a payload built in Rust.
    #[must_use]
    pub fn payload_json(&self) -> &str {
        self.0.raw.get()
    }

    /// Size of the payload in bytes: the length of [`payload_json`](Event::payload_json)
    /// (what [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES) counts).
    #[must_use]
    pub fn payload_size(&self) -> usize {
        self.0.raw.get().len()
    }

    /// Decodes the payload into its typed form, checking the event type first.
    ///
    /// # Errors
    /// [`DecodeError::WrongType`] when the event is of another type,
    /// [`DecodeError::Invalid`] naming the field that did not fit.
    pub fn decode<P: Payload>(&self) -> Result<P, DecodeError> {
        if self.0.event_type.as_str() != P::EVENT_TYPE {
            return Err(DecodeError::WrongType {
                expected: P::EVENT_TYPE,
                found: self.0.event_type.clone(),
            });
        }
        self.decode_as()
    }

    /// Decodes the payload into any deserializable type, whatever the event type.
    ///
    /// # Errors
    /// [`DecodeError::Invalid`] naming the field that did not fit.
    pub fn decode_as<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        // The fast path: a plain decode. Only when it fails is the payload decoded again with
        // path tracking, to name the field that did not fit (tracking costs about as much as
        // the decode itself).
        if let Ok(value) = serde_json::from_str(self.0.raw.get()) {
            return Ok(value);
        }
        let mut de = serde_json::Deserializer::from_str(self.0.raw.get());
        serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            DecodeError::Invalid {
                event_type: self.0.event_type.clone(),
                target: std::any::type_name::<T>(),
                path,
                source: err.into_inner(),
            }
        })
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.id == other.0.id
                && self.0.timestamp == other.0.timestamp
                && self.0.event_type == other.0.event_type
                && (self.0.raw.get() == other.0.raw.get() || self.payload() == other.payload()))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may hold personal data: show its size, not its content.
        f.debug_struct("Event")
            .field("id", &self.0.id)
            .field("timestamp", &format_args!("{}", self.timestamp_rfc3339()))
            .field("event_type", &self.0.event_type)
            .field("payload_bytes", &self.payload_size())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    event_type: std::borrow::Cow<'a, str>,
    payload: Box<RawValue>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Event", 4)?;
        st.serialize_field("id", &self.0.id)?;
        st.serialize_field("timestamp", &format_timestamp(self.0.timestamp))?;
        st.serialize_field("event_type", self.0.event_type.as_str())?;
        st.serialize_field("payload", &*self.0.raw)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        Self::from_wire(&wire.id, &wire.timestamp, &wire.event_type, wire.payload)
            .map_err(de::Error::custom)
    }
}

fn check_v4(id: Uuid) -> Result<(), EventError> {
    if id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122 {
        Ok(())
    } else {
        Err(EventError::IdNotV4 { id })
    }
}

/// A payload map or one of its values, for [`DepthLimited`].
#[derive(Clone, Copy)]
enum Limited<'a> {
    Map(&'a Map<String, Value>),
    Value(&'a Value),
}

/// Serializes a `Value` as serde_json does, failing (and setting `too_deep`) once objects and
/// arrays nest more than `levels` deep. Recurses no deeper than the limit, whatever the value.
struct DepthLimited<'a> {
    value: Limited<'a>,
    levels: usize,
    too_deep: &'a Cell<bool>,
}

impl DepthLimited<'_> {
    fn child<'b>(&'b self, value: &'b Value) -> DepthLimited<'b> {
        DepthLimited {
            value: Limited::Value(value),
            levels: self.levels - 1,
            too_deep: self.too_deep,
        }
    }

    fn refuse<E: serde::ser::Error>(&self) -> E {
        self.too_deep.set(true);
        E::custom("payload too deep")
    }
}

impl Serialize for DepthLimited<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let map = match self.value {
            Limited::Map(map) | Limited::Value(Value::Object(map)) => map,
            Limited::Value(Value::Array(items)) => {
                if self.levels == 0 {
                    return Err(self.refuse());
                }
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.child(item))?;
                }
                return seq.end();
            }
            Limited::Value(other) => return other.serialize(s),
        };
        if self.levels == 0 {
            return Err(self.refuse());
        }
        let mut out = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            out.serialize_entry(k, &self.child(v))?;
        }
        out.end()
    }
}

/// Parses an id in the canonical hyphenated form (either case), as a UUID v4.
fn parse_id(text: &str) -> Result<Uuid, EventError> {
    let id = Uuid::parse_str(text).map_err(|source| EventError::InvalidId {
        value: truncate_for_error(text),
        source,
    })?;
    // `Uuid::parse_str` also reads the simple, braced and `urn:uuid:` forms; an id is only
    // accepted as it is written back (lowercased, like Python's `str(uuid.UUID(...))`).
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes.get(i) != Some(&b'-')) {
        return Err(EventError::IdNotCanonical {
            value: truncate_for_error(text),
        });
    }
    check_v4(id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_timestamp_round_trips() {
        let text = r#"{"id":"550e8400-e29b-41d4-a716-446655440000","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"ORDER_PLACED","payload":{"order_id":123}}"#;
        let ev = Event::from_json(text).unwrap();
        assert_eq!(ev.to_json(), text);
        assert_eq!(serde_json::to_string(&ev).unwrap(), text);
    }

    #[test]
    fn emoji_counts_utf8_bytes() {
        let ev = Event::new("T", json!({"e": "😀"})).unwrap();
        assert_eq!(ev.payload_size(), r#"{"e":"😀"}"#.len());
    }
}
