//! Event timestamps: read from the wire (RFC 3339, or without an offset as Python writes a
//! naive `datetime`), normalised to UTC microseconds, and written the way the Python
//! NecroStack writes them ([`format_timestamp`]). A leaf below `event.rs`: it imports only the
//! error types.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::{EventError, truncate_for_error};

/// Parses an RFC 3339 timestamp; one without an offset (what Python's `isoformat()` writes
/// for a naive `datetime`) is read as UTC.
pub(crate) fn parse_timestamp(text: &str) -> Result<OffsetDateTime, EventError> {
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

pub(crate) fn now_micros() -> OffsetDateTime {
    normalize_ts(OffsetDateTime::now_utc())
}

pub(crate) fn normalize_ts(ts: OffsetDateTime) -> OffsetDateTime {
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
