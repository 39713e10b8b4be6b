//! Stream entries on the wire: ids, the fields we write, and the decoding of what we read.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use fred::types::{Key, Value};
use necro_core::{Event, Metadata, error_chain};

use crate::error::unexpected_reply;
pub(crate) use crate::meta::{meta_fields, read_meta};
use necro_core::BackendError;

/// Field holding the event's four-field JSON (the Python original's only field).
pub(crate) const F_EVENT: &str = "event";
/// A stream entry id such as `1700000000000-0`: the backend's delivery token.
///
/// Cheap to clone (reference counted).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EntryId(Arc<str>);

impl EntryId {
    /// Wraps an id as Redis writes it (`{ms}-{seq}`).
    #[must_use]
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The id as Redis writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.0)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EntryId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for EntryId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for EntryId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

/// The milliseconds of a stream entry id in the one form Redis writes ids in (`{ms}-{seq}`,
/// both decimal without a sign or leading zeros); `None` for any other text.
pub(crate) fn entry_id_millis(text: &str) -> Option<u64> {
    let (ms, seq) = text.split_once('-')?;
    let canonical = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    if !(canonical(ms) && canonical(seq)) {
        return None;
    }
    seq.parse::<u64>().ok()?;
    ms.parse().ok()
}

/// The fields of a main-stream entry for one event: `event` plus the metadata present, the
/// headers last, one `header:<name>` field each, in their order.
pub(crate) fn event_fields(event: &Event, meta: &Metadata) -> Vec<(Key, String)> {
    let mut fields = Vec::with_capacity(3 + meta.headers.len());
    fields.push((Key::from_static_str(F_EVENT), event.to_json()));
    meta_fields(meta, &mut fields);
    fields
}

/// One entry as read: its id, and its fields (`None` when the entry was deleted meanwhile).
/// Names and values are kept as Redis sent them: bytes, UTF-8 or not.
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub(crate) id: EntryId,
    pub(crate) fields: Option<Vec<(Key, Value)>>,
}

impl RawEntry {
    /// The first field of that name.
    pub(crate) fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .as_ref()?
            .iter()
            .find(|(k, _)| k.as_bytes() == name.as_bytes())
            .map(|(_, v)| v)
    }

    pub(crate) fn field_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.field(name).and_then(value_str_lossy)
    }

    /// Every field, for a dead letter, in the format of the dead letter's `fields` (see
    /// [`DlqEntry::original_fields`](crate::DlqEntry::original_fields)): a JSON array of
    /// `[name, value]` pairs in the entry's order, each a JSON string when it is UTF-8 and
    /// `{"base64": "…"}` when it is not. With `event_elsewhere`, the value of the first `event`
    /// field is `null`: the dead letter's own `event` field holds it, so it is stored once.
    pub(crate) fn fields_json(&self, event_elsewhere: bool) -> String {
        let mut out = Vec::with_capacity(64);
        out.push(b'[');
        let mut event_seen = false;
        for (i, (k, v)) in self.fields.iter().flatten().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            write_json_bytes(&mut out, k.as_bytes());
            out.push(b',');
            if event_elsewhere && !event_seen && k.as_bytes() == F_EVENT.as_bytes() {
                event_seen = true;
                out.extend_from_slice(b"null");
            } else {
                match value_bytes(v) {
                    Some(bytes) => write_json_bytes(&mut out, bytes),
                    None => write_json_bytes(
                        &mut out,
                        value_str_lossy(v).unwrap_or_default().as_bytes(),
                    ),
                }
            }
            out.push(b']');
        }
        out.push(b']');
        // Only JSON strings and ASCII were written.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Marker key of a value that is not UTF-8, in a dead letter's `fields`: `{"base64": "…"}`.
pub(crate) const BASE64_MARKER: &str = "base64";

/// Writes bytes as a JSON string when they are UTF-8, else as `{"base64":"…"}`.
fn write_json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine as _;
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            // Serializing a `&str` into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut *out, text);
        }
        Err(_) => {
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(BASE64_MARKER.as_bytes());
            out.extend_from_slice(b"\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Decodes one name or value of a dead letter's `fields`: a string, or `{"base64": "…"}`.
pub(crate) fn json_bytes(value: &serde_json::Value) -> Option<Vec<u8>> {
    use base64::Engine as _;
    match value {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let encoded = map.get(BASE64_MARKER)?.as_str()?;
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        }
        _ => None,
    }
}

/// What a read entry turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A valid event.
    Good {
        id: EntryId,
        event: Event,
        meta: Metadata,
        /// Header fields left out (see [`read_meta`]).
        ignored_headers: u64,
    },
    /// Something that is not an event: dead-letter it with the reason.
    Malformed {
        id: EntryId,
        reason: String,
        /// The `event` field when it is UTF-8 text, exactly; empty when there was none or it
        /// is not UTF-8 (then `fields_json` holds its bytes).
        raw_event: String,
        /// Every field, as [`RawEntry::fields_json`] writes them (the `event` given in
        /// `raw_event` is not repeated).
        fields_json: String,
    },
    /// The entry no longer exists in the stream (trimmed or deleted while pending).
    Deleted { id: EntryId },
}

/// How many field names a "no `event` field" reason lists, and how much of each.
const REASON_NAMES: usize = 8;
const REASON_NAME_CHARS: usize = 64;

/// "no `event` field", naming the first few fields (each cut short): an entry with thousands
/// of fields gets a reason of bounded size (they are all kept in the dead letter's `fields`).
fn no_event_reason(entry: &RawEntry) -> String {
    let all = entry.fields.as_deref().unwrap_or_default();
    let names: Vec<String> = all
        .iter()
        .take(REASON_NAMES)
        .map(|(k, _)| k.as_str_lossy().chars().take(REASON_NAME_CHARS).collect())
        .collect();
    let more = all.len().saturating_sub(REASON_NAMES);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("malformed entry: no `event` field (fields: {names:?}{more})")
}

pub(crate) fn decode(entry: RawEntry) -> Decoded {
    if entry.fields.is_none() {
        return Decoded::Deleted { id: entry.id };
    }
    let malformed = |entry: &RawEntry, reason: String| {
        let raw_event = entry
            .field(F_EVENT)
            .and_then(value_bytes)
            .and_then(|b| std::str::from_utf8(b).ok());
        Decoded::Malformed {
            id: entry.id.clone(),
            reason,
            fields_json: entry.fields_json(raw_event.is_some()),
            raw_event: raw_event.map(str::to_owned).unwrap_or_default(),
        }
    };
    let Some(value) = entry.field(F_EVENT) else {
        return malformed(&entry, no_event_reason(&entry));
    };
    let Some(bytes) = value_bytes(value) else {
        return malformed(
            &entry,
            "malformed entry: the `event` field is not a string".to_owned(),
        );
    };
    match Event::from_json_slice(bytes) {
        Ok(event) => {
            let (meta, ignored_headers) = read_meta(
                entry.id.as_str(),
                entry.fields.as_deref().unwrap_or_default(),
            );
            Decoded::Good {
                id: entry.id,
                event,
                meta,
                ignored_headers,
            }
        }
        Err(err) => malformed(&entry, format!("malformed entry: {}", error_chain(&err))),
    }
}

pub(crate) fn value_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::String(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

pub(crate) fn value_str_lossy(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(&**s)),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        Value::Integer(i) => Some(Cow::Owned(i.to_string())),
        Value::Double(d) => Some(Cow::Owned(d.to_string())),
        _ => None,
    }
}

pub(crate) fn value_string(v: &Value) -> Option<String> {
    value_str_lossy(v).map(Cow::into_owned)
}

pub(crate) fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        other => value_str_lossy(other)?.parse().ok(),
    }
}

/// Parses `[[id, [field, value, ...]], ...]` (an XRANGE / XCLAIM / XAUTOCLAIM entry list).
pub(crate) fn parse_entries(value: Value, what: &str) -> Result<Vec<RawEntry>, BackendError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(unexpected_reply(what)),
    };
    items
        .into_iter()
        .map(|item| parse_entry(item, what))
        .collect()
}

fn parse_entry(item: Value, what: &str) -> Result<RawEntry, BackendError> {
    let Value::Array(mut parts) = item else {
        return Err(unexpected_reply(what));
    };
    if parts.len() != 2 {
        return Err(unexpected_reply(what));
    }
    let fields = parts.pop().unwrap_or(Value::Null);
    let id = parts
        .pop()
        .as_ref()
        .and_then(value_string)
        .ok_or_else(|| unexpected_reply(what))?;
    let fields = match fields {
        Value::Null => None,
        Value::Array(flat) => {
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                let key = match k {
                    Value::Bytes(b) => Key::from(b),
                    other => Key::from(value_string(&other).ok_or_else(|| unexpected_reply(what))?),
                };
                out.push((key, v));
            }
            Some(out)
        }
        Value::Map(map) => Some(map.inner().into_iter().collect()),
        _ => return Err(unexpected_reply(what)),
    };
    Ok(RawEntry {
        id: EntryId::from(id),
        fields,
    })
}

/// Parses an XREADGROUP reply for one stream: `[[key, [entries...]]]` or nil.
pub(crate) fn parse_xreadgroup(value: Value) -> Result<Vec<RawEntry>, BackendError> {
    const WHAT: &str = "XREADGROUP";
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(streams) => {
            let mut out = Vec::new();
            for stream in streams {
                let Value::Array(mut pair) = stream else {
                    return Err(unexpected_reply(WHAT));
                };
                if pair.len() != 2 {
                    return Err(unexpected_reply(WHAT));
                }
                let entries = pair.pop().unwrap_or(Value::Null);
                out.extend(parse_entries(entries, WHAT)?);
            }
            Ok(out)
        }
        Value::Map(map) => {
            let mut out = Vec::new();
            for (_, entries) in map.inner() {
                out.extend(parse_entries(entries, WHAT)?);
            }
            Ok(out)
        }
        _ => Err(unexpected_reply(WHAT)),
    }
}

/// Parses a flat `[k, v, k, v]` reply (XINFO GROUPS items) or a map into pairs.
pub(crate) fn flat_pairs(value: Value) -> Vec<(String, Value)> {
    match value {
        Value::Array(flat) => {
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Some(key) = value_string(&k) {
                    out.push((key, v));
                }
            }
            out
        }
        Value::Map(map) => map
            .inner()
            .into_iter()
            .map(|(k, v)| (k.as_str_lossy().into_owned(), v))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn entry(id: &str, fields: &[(&str, &str)]) -> Value {
        let flat = fields.iter().flat_map(|(k, v)| [s(k), s(v)]).collect();
        Value::Array(vec![s(id), Value::Array(flat)])
    }

    #[test]
    fn decodes_the_python_wire_form() {
        let json = r#"{"id":"6f1c2b1e-8a4e-4b8f-9a1d-2b3c4d5e6f70","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"ORDER_PLACED","payload":{"order_id":123}}"#;
        let reply = Value::Array(vec![Value::Array(vec![
            s("necrostack:events"),
            Value::Array(vec![entry("1-0", &[("event", json)])]),
        ])]);
        let mut entries = parse_xreadgroup(reply).unwrap();
        assert_eq!(entries.len(), 1);
        match decode(entries.remove(0)) {
            Decoded::Good {
                id, event, meta, ..
            } => {
                assert_eq!(id.as_str(), "1-0");
                assert_eq!(event.event_type(), "ORDER_PLACED");
                assert_eq!(event.payload()["order_id"], json!(123));
                assert_eq!(meta, Metadata::default());
                assert_eq!(event.to_json(), json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_entries_carry_a_reason() {
        let cases = [
            (vec![("data", "x")], "no `event` field"),
            (vec![("event", "not json")], "malformed"),
            (
                vec![(
                    "event",
                    r#"{"id":"6f1c2b1e-8a4e-4b8f-9a1d-2b3c4d5e6f70","timestamp":"2024-01-15T10:30:45.123456+00:00","event_type":"  ","payload":{}}"#,
                )],
                "empty",
            ),
        ];
        for (fields, needle) in cases {
            let raw = parse_entries(Value::Array(vec![entry("2-0", &fields)]), "t").unwrap();
            match decode(raw.into_iter().next().unwrap()) {
                Decoded::Malformed { reason, .. } => assert!(reason.contains(needle), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn deleted_entries_are_recognised() {
        let raw = parse_entries(
            Value::Array(vec![Value::Array(vec![s("3-0"), Value::Null])]),
            "t",
        )
        .unwrap();
        assert!(matches!(
            decode(raw.into_iter().next().unwrap()),
            Decoded::Deleted { .. }
        ));
    }

    #[test]
    fn entry_ids_are_read_in_their_one_form() {
        assert_eq!(entry_id_millis("1700000000000-0"), Some(1_700_000_000_000));
        assert_eq!(entry_id_millis("0-1"), Some(0));
        for bad in [
            "",
            "5",
            "5-",
            "-5",
            "05-0",
            "5-01",
            "+5-0",
            "5-0-0",
            "a-0",
            "18446744073709551616-0",
        ] {
            assert_eq!(entry_id_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn metadata_round_trips_through_fields() {
        let event = Event::new("A", json!({})).unwrap();
        let meta = Metadata::child_of(&event, &Metadata::default())
            .with_header("traceparent", "00-abc-01")
            .unwrap()
            .with_header("tenant", "acme")
            .unwrap();
        let fields = event_fields(&event, &meta);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str()))
            .collect();
        assert_eq!(
            pairs[3..],
            [
                ("header:traceparent", "00-abc-01"),
                ("header:tenant", "acme")
            ]
        );
        let raw = parse_entries(Value::Array(vec![entry("4-0", &pairs)]), "t").unwrap();
        match decode(raw.into_iter().next().unwrap()) {
            Decoded::Good { meta: got, .. } => assert_eq!(got, meta),
            other => panic!("{other:?}"),
        }
        assert_eq!(event_fields(&event, &Metadata::default()).len(), 1);
    }

    #[test]
    fn header_fields_that_do_not_read_are_left_out_and_the_event_still_decodes() {
        let event = Event::new("A", json!({})).unwrap();
        let json = event.to_json();
        let too_long = "x".repeat(necro_core::Headers::MAX_VALUE_LEN + 1);
        let pairs = [
            ("event", json.as_str()),
            ("header:tenant", "acme"),
            ("header:Bad Name", "v"),
            ("header:big", too_long.as_str()),
            ("header:", "empty name"),
        ];
        let raw = parse_entries(Value::Array(vec![entry("4-0", &pairs)]), "t").unwrap();
        match decode(raw.into_iter().next().unwrap()) {
            Decoded::Good { meta, .. } => {
                assert_eq!(
                    meta.headers.iter().collect::<Vec<_>>(),
                    [("tenant", "acme")]
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
