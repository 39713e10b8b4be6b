//! An entry's metadata fields: the chain ids (`correlation_id`, `causation_id`) and one
//! `header:NAME` field per header, written with every event and read back, within the bounds
//! of [`Headers`].

use fred::types::{Key, Value};
use necro_core::{HeaderError, Headers, Metadata};
use uuid::Uuid;

/// Optional field: the chain's root event id.
pub(crate) const F_CORRELATION: &str = "correlation_id";
/// Optional field: the id of the event whose handling emitted this one.
pub(crate) const F_CAUSATION: &str = "causation_id";
/// Prefix of the optional fields holding the headers, one field per header:
/// `header:traceparent`, `header:tenant`, …
pub(crate) const HEADER_PREFIX: &str = "header:";

/// The metadata fields (ids, then headers) of an entry, main stream or dead letters alike.
pub(crate) fn meta_fields(meta: &Metadata, fields: &mut Vec<(Key, String)>) {
    if let Some(c) = meta.correlation_id {
        fields.push((Key::from_static_str(F_CORRELATION), c.to_string()));
    }
    if let Some(c) = meta.causation_id {
        fields.push((Key::from_static_str(F_CAUSATION), c.to_string()));
    }
    for (name, value) in &meta.headers {
        fields.push((
            Key::from(format!("{HEADER_PREFIX}{name}")),
            value.to_owned(),
        ));
    }
}

/// The metadata of an entry, and how many of its `header:` fields were left out. A field that
/// does not read (an id that is no UUID, a header past a bound of [`Headers`] or not UTF-8) is
/// left out: the event itself is still delivered. One warning per entry says how many header
/// fields were left out and why the first one was (an entry with thousands of them logs one
/// line, not thousands).
pub(crate) fn read_meta(entry_id: &str, fields: &[(Key, Value)]) -> (Metadata, u64) {
    let mut meta = Metadata {
        correlation_id: uuid_field(entry_id, fields, F_CORRELATION),
        causation_id: uuid_field(entry_id, fields, F_CAUSATION),
        headers: Headers::new(),
    };
    let mut ignored = 0u64;
    let mut first_error = None;
    for (key, value) in fields {
        let Some(name) = key.as_bytes().strip_prefix(HEADER_PREFIX.as_bytes()) else {
            continue;
        };
        let text = std::str::from_utf8(name)
            .ok()
            .zip(bytes(value).and_then(|v| std::str::from_utf8(v).ok()));
        let result = match text {
            Some((name, value)) => meta.headers.insert(name, value).map(drop),
            None => Err(HeaderError::InvalidName {
                name: String::from_utf8_lossy(name).chars().take(64).collect(),
            }),
        };
        if let Err(err) = result {
            ignored += 1;
            first_error.get_or_insert(err);
        }
    }
    if let Some(err) = first_error {
        tracing::warn!(
            entry_id,
            ignored,
            first = %err,
            "ignoring header fields that do not read"
        );
    }
    (meta, ignored)
}

fn uuid_field(entry_id: &str, fields: &[(Key, Value)], name: &str) -> Option<Uuid> {
    let value = fields
        .iter()
        .find(|(k, _)| k.as_bytes() == name.as_bytes())
        .map(|(_, v)| v)?;
    let text = String::from_utf8_lossy(bytes(value)?);
    match Uuid::parse_str(&text) {
        Ok(id) => Some(id),
        Err(err) => {
            tracing::debug!(entry_id, field = name, error = %err, "ignoring unparsable metadata field");
            None
        }
    }
}

/// A value's bytes, when it is a string.
fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::String(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}
