//! Entry points for the fuzz targets (`fuzz/` at the repository's root) and the tests that
//! replay their seed corpus: not part of the API, and not covered by SemVer.

use fred::types::{Key, Value};
use necro_core::{DeadLetterEntry, DeadLetterKind};

use crate::entry::{EntryId, RawEntry};
use crate::record::{DlqEntry, classify};

fn raw(id: &str, fields: &[(Vec<u8>, Vec<u8>)]) -> RawEntry {
    RawEntry {
        id: EntryId::new(id),
        fields: Some(
            fields
                .iter()
                .map(|(k, v)| (Key::from(k.as_slice()), Value::Bytes(v.clone().into())))
                .collect(),
        ),
    }
}

/// Reads a main-stream entry as a pull does (`attempt` deliveries so far, `max_retries` 3),
/// then writes each dead letter it makes and reads it back as the dead-letter queue does.
///
/// # Panics
/// When an invariant breaks: a malformed entry's dead letter must give back its fields byte
/// for byte ([`DlqEntry::original_fields`]), and a delivered event must survive a JSON round
/// trip.
pub fn stream_entry(id: &str, fields: &[(Vec<u8>, Vec<u8>)], attempt: u32) {
    let mut records = Vec::new();
    let mut acks = Vec::new();
    let mut ignored = 0;
    let delivery = classify(
        raw(id, fields),
        attempt,
        3,
        &mut records,
        &mut acks,
        &mut ignored,
    );
    if let Some(d) = delivery {
        let again = necro_core::Event::from_json(&d.event.to_json());
        assert_eq!(again.ok().as_ref(), Some(&d.event), "event round trip");
    }
    for record in records {
        let written: Vec<(Vec<u8>, Vec<u8>)> = record
            .fields("fuzz")
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
            .collect();
        let entry = DlqEntry::from_raw(&raw("1-0", &written));
        if record.kind == DeadLetterKind::Malformed {
            assert_eq!(
                entry.original_fields().as_deref(),
                Some(fields),
                "a malformed entry's fields come back byte for byte"
            );
        }
        let _ = DeadLetterEntry::from(entry);
    }
}

/// Reads an entry of the dead-letter stream, whoever wrote it, as `necro dlq` and the
/// dead-letter API do: [`DlqEntry`], its original fields, and necro-core's
/// [`DeadLetterEntry`].
pub fn dead_letter_entry(id: &str, fields: &[(Vec<u8>, Vec<u8>)]) {
    let entry = DlqEntry::from_raw(&raw(id, fields));
    let _ = entry.original_fields();
    let _ = DeadLetterEntry::from(entry);
}

/// Parses `bytes` as an event's JSON; what parses must come back equal from its `to_json`.
///
/// # Panics
/// When that round trip breaks.
pub fn event_json(bytes: &[u8]) {
    if let Ok(event) = necro_core::Event::from_json_slice(bytes) {
        let text = event.to_json();
        let again = necro_core::Event::from_json(&text);
        assert_eq!(again.ok().as_ref(), Some(&event), "round trip of {text}");
    }
}

/// The fuzz targets' input format for an entry's fields: `name NUL value NUL …` (a trailing
/// name without a value gets an empty one). NUL cannot occur inside a name or value.
#[must_use]
pub fn split_fields(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut parts = bytes.split(|b| *b == 0);
    let mut fields = Vec::new();
    while let Some(name) = parts.next() {
        if name.is_empty() && fields.is_empty() && bytes.is_empty() {
            break;
        }
        let value = parts.next().unwrap_or_default();
        fields.push((name.to_vec(), value.to_vec()));
    }
    fields
}

/// [`stream_entry`] on the fuzz input format: a delivery-count byte, then [`split_fields`].
pub fn stream_entry_bytes(bytes: &[u8]) {
    let Some((&attempt, rest)) = bytes.split_first() else {
        return;
    };
    stream_entry(
        "1700000000000-0",
        &split_fields(rest),
        u32::from(attempt % 8) + 1,
    );
}

/// [`dead_letter_entry`] on the fuzz input format ([`split_fields`]).
pub fn dead_letter_entry_bytes(bytes: &[u8]) {
    dead_letter_entry("1700000000000-0", &split_fields(bytes));
}
