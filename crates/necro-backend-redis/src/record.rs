//! Dead-letter records, written and read: the fields a dead letter is written with
//! ([`DlqRecord`]), how a read entry becomes a delivery or a dead letter ([`classify`]), and
//! how an entry of the dead-letter stream is read back ([`DlqEntry`]) and becomes necro-core's
//! `DeadLetterEntry`.

use necro_core::{
    DeadLetter, DeadLetterEntry, DeadLetterId, DeadLetterKind, Delivery, Event, Failure, Metadata,
    UnreadableLetter, format_timestamp,
};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::entry::{
    Decoded, EntryId, RawEntry, decode, entry_id_millis, json_bytes, meta_fields, read_meta,
};
use fred::types::Key;

/// A dead letter about to be written: the DLQ entry's fields, and the main-stream entry to ack.
pub(crate) struct DlqRecord {
    pub(crate) original_id: Option<EntryId>,
    pub(crate) event: String,
    pub(crate) reason: String,
    pub(crate) kind: DeadLetterKind,
    pub(crate) attempts: u32,
    pub(crate) organ: Option<String>,
    pub(crate) failures: Option<String>,
    pub(crate) meta: Metadata,
    /// Every field of a malformed entry, as JSON.
    pub(crate) fields: Option<String>,
    pub(crate) failed_at: String,
}

impl DlqRecord {
    pub(crate) fn fields(&self, consumer: &str) -> Vec<(Key, String)> {
        let f = vec![
            (
                "original_id",
                self.original_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("event", self.event.clone()),
            ("reason", self.reason.clone()),
            ("failed_at", self.failed_at.clone()),
            ("kind", kind_str(self.kind)),
            ("attempts", self.attempts.to_string()),
            ("consumer", consumer.to_owned()),
        ];
        let optional = [
            ("organ", &self.organ),
            ("failures", &self.failures),
            ("fields", &self.fields),
        ];
        let mut f: Vec<(Key, String)> = f
            .into_iter()
            .chain(
                optional
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.clone()?))),
            )
            .map(|(name, value)| (Key::from_static_str(name), value))
            .collect();
        meta_fields(&self.meta, &mut f);
        f
    }
}

pub(crate) fn kind_str(kind: DeadLetterKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{kind:?}"),
    }
}

pub(crate) fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Sorts one read entry, delivered `attempt` times: a delivery, a dead letter (malformed or
/// delivered more than `max_retries` times), or an ack (deleted from the stream meanwhile).
pub(crate) fn classify(
    entry: RawEntry,
    attempt: u32,
    max_retries: u32,
    records: &mut Vec<DlqRecord>,
    acks: &mut Vec<EntryId>,
    ignored_headers: &mut u64,
) -> Option<Delivery<EntryId>> {
    let decoded = decode(entry);
    if let Decoded::Good {
        ignored_headers: n, ..
    } = &decoded
    {
        *ignored_headers += n;
    }
    match decoded {
        Decoded::Good {
            id, event, meta, ..
        } if attempt > max_retries => {
            records.push(DlqRecord {
                original_id: Some(id),
                event: event.to_json(),
                reason: format!(
                    "delivered {} times without being acknowledged (max_retries = {max_retries}); the consumer crashed or stalled",
                    attempt - 1
                ),
                kind: DeadLetterKind::MaxDeliveries,
                attempts: attempt - 1,
                organ: None,
                failures: None,
                meta,
                fields: None,
                failed_at: now_timestamp(),
            });
            None
        }
        Decoded::Good {
            id, event, meta, ..
        } => Some(Delivery {
            event,
            meta,
            attempt,
            token: id,
        }),
        Decoded::Malformed {
            id,
            reason,
            raw_event,
            fields_json,
        } => {
            records.push(DlqRecord {
                original_id: Some(id),
                event: raw_event,
                reason,
                kind: DeadLetterKind::Malformed,
                attempts: attempt,
                organ: None,
                failures: None,
                meta: Metadata::default(),
                fields: Some(fields_json),
                failed_at: now_timestamp(),
            });
            None
        }
        Decoded::Deleted { id } => {
            acks.push(id);
            None
        }
    }
}

/// One entry of the dead-letter stream, as listed.
///
/// The Python original writes `original_id`, `event`, `reason` and `failed_at`; the Rust
/// backend adds `kind`, `attempts`, `consumer` and, when known, `organ`, `failures` (JSON),
/// `fields` (JSON of a malformed entry's fields), `correlation_id`, `causation_id` and one
/// `header:<name>` field per header.
/// Fields a writer left out are `None` or empty here.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DlqEntry {
    /// This entry's id in the dead-letter stream (what replay and purge take).
    pub id: EntryId,
    /// The id the event had in the main stream, when it came from a delivery.
    pub original_id: Option<EntryId>,
    /// The `event` field as stored: the event's JSON, or whatever a malformed entry's
    /// `event` field held when it is UTF-8 text (empty when it was binary: see
    /// [`original_fields`](Self::original_fields)).
    pub raw_event: String,
    /// The event, when `raw_event` is a valid one (malformed entries have none).
    pub event: Option<Event>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// When, as written (`2024-01-15T10:30:45.123456+00:00`).
    pub failed_at: String,
    /// What kind of failure, when recorded.
    pub kind: Option<DeadLetterKind>,
    /// How many times it was delivered, when recorded.
    pub attempts: Option<u32>,
    /// The first organ that failed, if any.
    pub organ: Option<String>,
    /// Every organ's failure, when recorded.
    pub failures: Vec<Failure>,
    /// Chain-tracing metadata, when recorded.
    pub meta: Metadata,
    /// The consumer that dead-lettered it, when recorded.
    pub consumer: Option<String>,
    /// A malformed entry's original fields, as stored: a JSON array of `[name, value]` pairs
    /// in the entry's order, each a JSON string when it is UTF-8 and `{"base64": "…"}` when
    /// it is not; the `event` value is `null` when it is [`raw_event`](Self::raw_event) (so
    /// it is stored once). [`original_fields`](Self::original_fields) decodes it.
    pub fields: Option<String>,
}

impl DlqEntry {
    /// A malformed entry's fields exactly as they were in the main stream, names and values
    /// byte for byte, in their order: decoded from [`fields`](Self::fields), with the `event`
    /// value taken from [`raw_event`](Self::raw_event) where it is stored. Also reads the
    /// JSON-object form of `fields` that earlier versions wrote (non-UTF-8 bytes in it were
    /// already replaced then). `None` for a dead letter that is not a malformed entry, or
    /// when `fields` does not decode.
    #[must_use]
    pub fn original_fields(&self) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let fields: serde_json::Value = serde_json::from_str(self.fields.as_deref()?).ok()?;
        match fields {
            serde_json::Value::Array(pairs) => pairs
                .iter()
                .map(|pair| match pair.as_array()?.as_slice() {
                    [name, serde_json::Value::Null] => {
                        Some((json_bytes(name)?, self.raw_event.clone().into_bytes()))
                    }
                    [name, value] => Some((json_bytes(name)?, json_bytes(value)?)),
                    _ => None,
                })
                .collect(),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| Some((k.clone().into_bytes(), v.as_str()?.as_bytes().to_vec())))
                .collect(),
            _ => None,
        }
    }
}

impl DlqEntry {
    /// Reads an entry of the dead-letter stream; fields a writer left out are `None` or empty.
    pub(crate) fn from_raw(raw: &RawEntry) -> Self {
        let text = |name: &str| raw.field_str(name).map(std::borrow::Cow::into_owned);
        let raw_event = text("event").unwrap_or_default();
        Self {
            id: raw.id.clone(),
            original_id: text("original_id")
                .filter(|s| !s.is_empty())
                .map(EntryId::from),
            event: Event::from_json(&raw_event).ok(),
            raw_event,
            reason: text("reason").unwrap_or_default(),
            failed_at: text("failed_at").unwrap_or_default(),
            kind: text("kind")
                .and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
            attempts: text("attempts").and_then(|a| a.parse().ok()),
            organ: text("organ"),
            failures: text("failures")
                .and_then(|f| serde_json::from_str(&f).ok())
                .unwrap_or_default(),
            meta: read_meta(raw.id.as_str(), raw.fields.as_deref().unwrap_or_default()).0,
            consumer: text("consumer"),
            fields: text("fields"),
        }
    }
}

/// A dead-letter stream entry as necro-core's [`DeadLetterEntry`], with the entry id as its
/// [`DeadLetterId`]: a readable event gives a [`DeadLetter`], an unreadable one an
/// [`UnreadableLetter`] (with the kind, metadata, attempts and time that were recorded).
///
/// Fields a writer left out (the Python original writes only `original_id`, `event`,
/// `reason` and `failed_at`):
/// - no `kind`: [`DeadLetterKind::MaxDeliveries`] for a readable letter (what the Python
///   original dead-letters a readable event for: too many deliveries), none for an unreadable
///   one;
/// - no `attempts`: 0 (not known) for a readable letter;
/// - no `organ` or `failures`: none;
/// - a `failed_at` that is missing or does not read (RFC 3339, or without an offset, read as
///   UTC): the time in the entry id, which is when the entry was added to the dead-letter
///   stream, to the millisecond.
impl From<DlqEntry> for DeadLetterEntry {
    fn from(entry: DlqEntry) -> Self {
        let failed_at = read_timestamp(&entry.failed_at).or_else(|| id_time(&entry.id));
        let id = DeadLetterId::new(entry.id.as_str());
        match entry.event {
            Some(event) => DeadLetterEntry::new(
                id,
                DeadLetter {
                    event,
                    meta: entry.meta,
                    kind: entry.kind.unwrap_or(DeadLetterKind::MaxDeliveries),
                    reason: entry.reason,
                    organ: entry.organ,
                    failures: entry.failures,
                    attempts: entry.attempts.unwrap_or(0),
                    failed_at: failed_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                },
            ),
            None => {
                let mut letter = UnreadableLetter::new(entry.raw_event, entry.reason);
                letter.kind = entry.kind;
                letter.meta = entry.meta;
                letter.attempts = entry.attempts;
                letter.failed_at = failed_at;
                DeadLetterEntry::unreadable(id, letter)
            }
        }
    }
}

/// A `failed_at` as written: RFC 3339 (`2024-01-15T10:30:45.123456+00:00`), or without an
/// offset (a naive Python `datetime`), read as UTC.
fn read_timestamp(text: &str) -> Option<OffsetDateTime> {
    const NAIVE: &[time::format_description::BorrowedFormatItem<'_>] = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        PrimitiveDateTime::parse(text, NAIVE)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })
}

/// The time a stream entry id holds (its milliseconds since the epoch).
fn id_time(id: &EntryId) -> Option<OffsetDateTime> {
    let millis = entry_id_millis(id.as_str())?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, event: Option<Event>, failed_at: &str) -> DlqEntry {
        DlqEntry {
            id: EntryId::from(id),
            original_id: Some(EntryId::from("1-0")),
            raw_event: event
                .as_ref()
                .map_or_else(|| "not json".to_owned(), Event::to_json),
            event,
            reason: "max retries exceeded".to_owned(),
            failed_at: failed_at.to_owned(),
            kind: None,
            attempts: None,
            organ: None,
            failures: Vec::new(),
            meta: Metadata::default(),
            consumer: None,
            fields: None,
        }
    }

    #[test]
    fn an_entry_the_python_original_wrote_gets_the_defaults() {
        let event = Event::new("ORDER_PLACED", json!({"n": 1})).unwrap();
        let core = DeadLetterEntry::from(entry(
            "1705314645123-0",
            Some(event.clone()),
            "2024-01-15T10:30:45.123456+00:00",
        ));
        assert_eq!(core.id.as_str(), "1705314645123-0");
        let letter = core.letter.unwrap();
        assert_eq!(letter.event, event);
        assert_eq!(letter.kind, DeadLetterKind::MaxDeliveries);
        assert_eq!(letter.attempts, 0);
        assert_eq!(letter.reason, "max retries exceeded");
        assert_eq!(letter.organ, None);
        assert_eq!(
            letter.failed_at,
            OffsetDateTime::from_unix_timestamp_nanos(1_705_314_645_123_456_000).unwrap()
        );
    }

    #[test]
    fn failed_at_reads_naive_times_and_falls_back_to_the_entry_id() {
        let event = Event::new("A", json!({})).unwrap();
        let at = |failed_at: &str| {
            DeadLetterEntry::from(entry("1705314645123-7", Some(event.clone()), failed_at))
                .letter
                .unwrap()
                .failed_at
        };
        let nanos = |n: i128| OffsetDateTime::from_unix_timestamp_nanos(n).unwrap();
        assert_eq!(
            at("2024-01-15T10:30:45.5"),
            nanos(1_705_314_645_500_000_000)
        );
        assert_eq!(at("yesterday"), nanos(1_705_314_645_123_000_000));
        assert_eq!(at(""), nanos(1_705_314_645_123_000_000));
    }

    #[test]
    fn an_unreadable_event_is_an_unreadable_letter() {
        let mut raw = entry("5-0", None, "");
        raw.kind = Some(DeadLetterKind::Malformed);
        raw.attempts = Some(2);
        let core = DeadLetterEntry::from(raw);
        assert_eq!(core.kind(), Some(DeadLetterKind::Malformed));
        let letter = core.letter.unwrap_err();
        assert_eq!(letter.raw_event, "not json");
        assert_eq!(letter.attempts, Some(2));
        assert_eq!(
            letter.failed_at,
            Some(OffsetDateTime::from_unix_timestamp_nanos(5_000_000).unwrap())
        );
    }
}
