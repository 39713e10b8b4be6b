//! The event model: [`Event`] — its payload limits and validation, and its four-field JSON
//! form, read and written (the [`EventType`] it carries is in `event_type.rs`).

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

use crate::error::EventError;
use crate::event_type::EventType;
use crate::payload::{DecodeError, Payload};

/// The largest payload an event may carry, in bytes of its compact JSON text (UTF-8).
///
/// The text is the one [`Event::payload_json`] returns: as serde_json writes it for a payload
/// built in Rust, and as it was written (minus insignificant whitespace) for one read from the
/// wire, so a `\u00e9` escape written by Python's `json.dumps` counts 6 bytes, `é` 2.
pub const MAX_PAYLOAD_BYTES: usize = 1_000_000;

/// How deeply a payload may nest objects and arrays: the payload object itself is level 1,
/// so `{"a":{"b":[1]}}` is 3 levels deep.
///
/// Deeper payloads are refused ([`EventError::PayloadTooDeep`]) when an event is built and
/// when one is read. The limit keeps every accepted payload within what serde_json parses
/// (its default recursion limit is 128 levels), with room to spare for the event's own JSON
/// form and for documents that embed it, so [`Event::payload`] always holds the whole payload.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// An immutable fact: what happened, when, and its data.
///
/// Every constructor validates: the type is trimmed and non-empty, the id is a UUID v4,
/// the payload is a JSON object of at most [`MAX_PAYLOAD_BYTES`] bytes of compact JSON,
/// nested at most [`MAX_PAYLOAD_DEPTH`] levels deep, holding no number beyond the range of
/// an `f64` and no `\u` escape of a lone UTF-16 surrogate: so [`payload`](Event::payload)
/// always holds the whole payload.
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
    /// or too deep ([`MAX_PAYLOAD_BYTES`], [`MAX_PAYLOAD_DEPTH`]).
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
    /// #[derive(Serialize, Deserialize)]
    /// struct Hello { name: String }
    /// impl Payload for Hello { const EVENT_TYPE: &'static str = "HELLO"; }
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
        out.push_str(&format_timestamp(inner.timestamp));
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
    /// (what [`MAX_PAYLOAD_BYTES`] counts).
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

fn check_size(size: usize) -> Result<(), EventError> {
    if size > MAX_PAYLOAD_BYTES {
        Err(EventError::PayloadTooLarge {
            size,
            max: MAX_PAYLOAD_BYTES,
        })
    } else {
        Ok(())
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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

/// Checks a raw payload read from the wire is an object and returns it in compact form.
fn compact_object(raw: Box<RawValue>) -> Result<Box<RawValue>, EventError> {
    let text = raw.get();
    if !text.starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(EventError::Json)?;
        return Err(EventError::PayloadNotObject {
            found: json_kind(&value),
        });
    }
    finish_payload(raw)
}

/// Checks a payload object's JSON text (already valid JSON) against what an event may hold,
/// and strips insignificant whitespace: one scan, no copy when it is compact already.
fn finish_payload(raw: Box<RawValue>) -> Result<Box<RawValue>, EventError> {
    match scan_payload(raw.get())? {
        None => {
            check_size(raw.get().len())?;
            Ok(raw)
        }
        Some(compact) => {
            check_size(compact.len())?;
            // serde_json validates the text once more; nothing in it is converted.
            RawValue::from_string(compact).map_err(EventError::Json)
        }
    }
}

/// One pass over valid JSON text: refuses what a parsed payload could not hold (nesting
/// beyond [`MAX_PAYLOAD_DEPTH`], lone surrogate escapes, numbers beyond `f64`) and returns
/// the text without whitespace outside strings, or `None` when there was none. Everything
/// else (escapes, number spellings, key order, duplicate keys) is kept as written.
fn scan_payload(text: &str) -> Result<Option<String>, EventError> {
    let bytes = text.as_bytes();
    let mut compact: Option<String> = None;
    // Everything before `copied` is in `compact` already (or was whitespace).
    let mut copied = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i = skip_string(bytes, i + 1)?;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_PAYLOAD_DEPTH {
                    return Err(EventError::PayloadTooDeep {
                        limit: MAX_PAYLOAD_DEPTH,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                i = check_number(text, i)?;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => {
                // `copied` and `i` sit on ASCII bytes, so both are char boundaries.
                let out = compact.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..i]);
                i += 1;
                while matches!(bytes.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                    i += 1;
                }
                copied = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(compact.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    }))
}

/// Skips a string literal whose opening quote is just before `i`; returns the index after
/// its closing quote. Refuses a `\u` escape of a lone UTF-16 surrogate, which serde_json lets
/// through when it only checks the syntax.
fn skip_string(bytes: &[u8], mut i: usize) -> Result<usize, EventError> {
    loop {
        while let Some(&b) = bytes.get(i) {
            if b == b'"' || b == b'\\' {
                break;
            }
            i += 1;
        }
        match bytes.get(i) {
            Some(b'"') => return Ok(i + 1),
            Some(_) if bytes.get(i + 1) == Some(&b'u') => match hex4(bytes, i + 2) {
                Some(0xD800..=0xDBFF)
                    if bytes.get(i + 6) == Some(&b'\\')
                        && bytes.get(i + 7) == Some(&b'u')
                        && matches!(hex4(bytes, i + 8), Some(0xDC00..=0xDFFF)) =>
                {
                    i += 12;
                }
                Some(0xD800..=0xDFFF) => {
                    let escape = bytes.get(i..i + 6).unwrap_or_default();
                    return Err(EventError::LoneSurrogate {
                        escape: String::from_utf8_lossy(escape).into_owned(),
                    });
                }
                _ => i += 6,
            },
            Some(_) => i += 2,
            // Unterminated: serde_json has refused such text already.
            None => return Ok(i),
        }
    }
}

/// The four hex digits at `at`, as a UTF-16 code unit.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)?
        .iter()
        .try_fold(0, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
}

/// Skips the number starting at `start`; returns the index after it. Refuses one too large
/// for an `f64` (serde_json refuses to parse those, so the payload could not be read).
fn check_number(text: &str, start: usize) -> Result<usize, EventError> {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut exponent = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' | b'-' | b'+' | b'.' => {}
            b'e' | b'E' => exponent = true,
            _ => break,
        }
        i += 1;
    }
    let number = &text[start..i];
    // Without an exponent only more than 308 digits can go beyond f64::MAX (~1.8e308), so
    // most numbers are never parsed here.
    if (exponent || number.len() > 308) && !number.parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(EventError::NumberOutOfRange {
            number: truncate_for_error(number),
        });
    }
    Ok(i)
}

/// serde_json's complaint about event text, naming `NaN`, `Infinity` and `-Infinity` (what
/// Python's `json` writes for non-finite floats) when that is what it stopped at.
fn json_error(text: &[u8], err: serde_json::Error) -> EventError {
    if err.is_syntax()
        && let Some(token) = non_finite_at(text, err.line(), err.column())
    {
        return EventError::NonFiniteNumber { token, source: err };
    }
    EventError::Json(err)
}

/// The non-finite token at a 1-based line and byte column, if there is one.
fn non_finite_at(text: &[u8], line: usize, column: usize) -> Option<&'static str> {
    let line_start = match line {
        0 | 1 => 0,
        n => {
            text.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .nth(n - 2)?
                .0
                + 1
        }
    };
    let at = line_start + column.checked_sub(1)?;
    let rest = text.get(at..)?;
    if rest.starts_with(b"NaN") {
        Some("NaN")
    } else if rest.starts_with(b"Infinity") {
        Some(if at > 0 && text.get(at - 1) == Some(&b'-') {
            "-Infinity"
        } else {
            "Infinity"
        })
    } else {
        None
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

/// Parses an RFC 3339 timestamp; one without an offset (what Python's `isoformat()` writes
/// for a naive `datetime`) is read as UTC.
fn parse_timestamp(text: &str) -> Result<OffsetDateTime, EventError> {
    const NAIVE: &[time::format_description::BorrowedFormatItem<'_>] = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    OffsetDateTime::parse(text, &Rfc3339).or_else(|source| {
        PrimitiveDateTime::parse(text, NAIVE)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| EventError::InvalidTimestamp {
                value: truncate_for_error(text),
                source,
            })
    })
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(64).collect()
}

fn now_micros() -> OffsetDateTime {
    normalize_ts(OffsetDateTime::now_utc())
}

fn normalize_ts(ts: OffsetDateTime) -> OffsetDateTime {
    let ts = ts.to_offset(UtcOffset::UTC);
    let micros = ts.nanosecond() / 1_000 * 1_000;
    ts.replace_nanosecond(micros).unwrap_or(ts)
}

/// Formats a timestamp the way the Python original writes it.
#[must_use]
pub fn format_timestamp(ts: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    ts.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000000+00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whitespace_scanner_ignores_strings() {
        assert_eq!(scan_payload(r#"{"a":"b c","d":"\" x"}"#).unwrap(), None);
        assert_eq!(
            scan_payload(r#"{"a": 1, "b" : [ "c d" ] }"#)
                .unwrap()
                .as_deref(),
            Some(r#"{"a":1,"b":["c d"]}"#)
        );
        assert_eq!(
            scan_payload("{\"a\":\"\\\\\", \"b\":\n 2}")
                .unwrap()
                .as_deref(),
            Some("{\"a\":\"\\\\\",\"b\":2}"),
            "an escaped backslash ends before the closing quote"
        );
    }

    #[test]
    fn non_finite_tokens_are_found_on_any_line() {
        let text = b"{\n\"a\": 1,\n\"b\": -Infinity}";
        let err = serde_json::from_slice::<Value>(text).unwrap_err();
        assert!(matches!(
            json_error(text, err),
            EventError::NonFiniteNumber {
                token: "-Infinity",
                ..
            }
        ));
    }

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
