//! A payload's JSON text: the limits an event's payload is held to ([`MAX_PAYLOAD_BYTES`],
//! [`MAX_PAYLOAD_DEPTH`]) and the one-pass scan that checks text read from the wire against
//! them (depth, lone surrogate escapes, numbers beyond `f64`) while stripping insignificant
//! whitespace, plus the naming of `NaN`/`Infinity` in serde_json's errors. A leaf below
//! `event.rs`, which uses it: it imports only the error types.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{EventError, truncate_for_error};

/// The largest payload an event may carry, in bytes of its compact JSON text (UTF-8).
///
/// The text is the one [`Event::payload_json`](crate::Event::payload_json) returns: as
/// serde_json writes it for a payload built in Rust, and as it was written (minus
/// insignificant whitespace) for one read from the wire, so a `\u00e9` escape written by
/// Python's `json.dumps` counts 6 bytes, `é` 2.
pub const MAX_PAYLOAD_BYTES: usize = 1_000_000;

/// How deeply a payload may nest objects and arrays: the payload object itself is level 1,
/// so `{"a":{"b":[1]}}` is 3 levels deep.
///
/// Deeper payloads are refused ([`EventError::PayloadTooDeep`]) when an event is built and
/// when one is read. The limit keeps every accepted payload within what serde_json parses
/// (its default recursion limit is 128 levels), with room to spare for the event's own JSON
/// form and for documents that embed it, so [`Event::payload`](crate::Event::payload) always
/// holds the whole payload.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

pub(crate) fn check_size(size: usize) -> Result<(), EventError> {
    if size > MAX_PAYLOAD_BYTES {
        Err(EventError::PayloadTooLarge {
            size,
            max: MAX_PAYLOAD_BYTES,
        })
    } else {
        Ok(())
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a raw payload read from the wire is an object and returns it in compact form.
pub(crate) fn compact_object(raw: Box<RawValue>) -> Result<Box<RawValue>, EventError> {
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
pub(crate) fn finish_payload(raw: Box<RawValue>) -> Result<Box<RawValue>, EventError> {
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
pub(crate) fn json_error(text: &[u8], err: serde_json::Error) -> EventError {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
