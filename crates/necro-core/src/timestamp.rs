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

/// Formats a timestamp the way the Python original writes it:
/// `2024-01-15T10:30:45.123456+00:00` (UTC, microseconds).
///
/// ```
/// use necro_core::format_timestamp;
/// use time::macros::datetime;
///
/// assert_eq!(
///     format_timestamp(datetime!(2024-01-15 10:30:45.123456789 +02:00)),
///     "2024-01-15T08:30:45.123456+00:00"
/// );
/// ```
#[must_use]
pub fn format_timestamp(ts: OffsetDateTime) -> String {
    let mut out = String::with_capacity(32);
    push_timestamp(&mut out, ts);
    out
}

/// Appends [`format_timestamp`]'s text to `out`. Years 0 to 9999 (every timestamp an event
/// can be given in practice) are written digit by digit, on the producer's hot path; others
/// go through `time`'s formatter, which [`format_with_time`] is, and a property test holds
/// the two to the same text.
pub(crate) fn push_timestamp(out: &mut String, ts: OffsetDateTime) {
    let ts = ts.to_offset(UtcOffset::UTC);
    let Ok(year) = u32::try_from(ts.year()) else {
        out.push_str(&format_with_time(ts));
        return;
    };
    if year > 9999 {
        out.push_str(&format_with_time(ts));
        return;
    }
    let mut buf = *b"0000-00-00T00:00:00.000000+00:00";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            // A digit: below 10 by construction.
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, u32::from(u8::from(ts.month())));
    put(8, 2, u32::from(ts.day()));
    put(11, 2, u32::from(ts.hour()));
    put(14, 2, u32::from(ts.minute()));
    put(17, 2, u32::from(ts.second()));
    put(20, 6, ts.microsecond());
    // Only ASCII digits were written into an ASCII template.
    out.push_str(std::str::from_utf8(&buf).unwrap_or("1970-01-01T00:00:00.000000+00:00"));
}

/// The same text through `time`'s formatter.
pub(crate) fn format_with_time(ts: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    ts.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000000+00:00"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::OffsetDateTime;

    use super::{format_timestamp, format_with_time};

    proptest! {
        /// The digit-by-digit writer and `time`'s formatter give the same text, whatever
        /// the instant and its offset (the range spans years before 0 and after 9999).
        #[test]
        fn the_fast_format_is_times_format(
            secs in -200_000_000_000i64..300_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            offset_secs in -86_399i32..86_400,
        ) {
            let Ok(utc) = OffsetDateTime::from_unix_timestamp(secs) else {
                return Ok(());
            };
            let Ok(ts) = utc.replace_nanosecond(nanos) else {
                return Ok(());
            };
            let Ok(offset) = time::UtcOffset::from_whole_seconds(offset_secs) else {
                return Ok(());
            };
            let Some(ts) = ts.checked_to_offset(offset) else {
                return Ok(());
            };
            prop_assert_eq!(format_timestamp(ts), format_with_time(ts));
        }
    }

    #[test]
    fn edges_of_the_fast_range() {
        for text in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T12:34:56.000001Z",
        ] {
            let ts = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap();
            assert_eq!(format_timestamp(ts), format_with_time(ts), "{text}");
        }
    }
}
