//! What a Python NecroStack consumer accepts: its payload measure, and the producer-side
//! check `python_compatible(true)` turns on.
//!
//! Rust counts a payload as bytes of compact UTF-8 JSON; the Python original counts
//! `len(json.dumps(payload))` with its defaults: separators `", "` and `": "`, every character
//! outside printable ASCII escaped (`\uXXXX`, two of them for a character beyond the BMP), and
//! numbers written as Python writes them. The same [`MAX_PAYLOAD_BYTES`] limit therefore lets
//! through, in Rust, events that every Python consumer dead-letters.

use std::fmt::Write as _;

use necro_core::{BackendError, Event, MAX_PAYLOAD_BYTES};
use uuid::Uuid;

/// An event a Python NecroStack consumer would refuse, which a backend built with
/// [`python_compatible(true)`](crate::RedisConfigBuilder::python_compatible) did not write.
///
/// Returned as the source of a [`BackendError::Other`]; nothing of the call was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PythonCompatError {
    /// The payload is larger than the limit by Python's measure
    /// ([`python_payload_size`]), though within it by Rust's.
    #[error(
        "event {id} ({event_type}) was not written: its payload is {size} characters of Python's json.dumps, more than the {max} a Python consumer accepts ({rust_size} bytes of compact UTF-8 JSON; the backend is python_compatible)"
    )]
    PayloadTooLarge {
        /// The event's id.
        id: Uuid,
        /// The event's type.
        event_type: String,
        /// `len(json.dumps(payload))`, as Python computes it.
        size: usize,
        /// The payload's size as Rust counts it ([`Event::payload_size`]).
        rust_size: usize,
        /// The limit, [`MAX_PAYLOAD_BYTES`] (the Python original's too).
        max: usize,
    },
}

/// The size of an event's payload as the Python NecroStack measures it:
/// `len(json.dumps(json.loads(payload)))`, computed by walking the payload's JSON, without
/// building the escaped text.
///
/// One difference is left on purpose: Python keeps only the last of duplicate object keys,
/// which this counts every time, so for such a payload the figure is an upper bound.
///
/// ```
/// use necro_core::{Event, serde_json::json};
/// let e = Event::new("T", json!({"text": "caf\u{e9}"})).unwrap();
/// assert_eq!(e.payload_size(), 16); // {"text":"café"}
/// assert_eq!(necro_backend_redis::python_payload_size(&e), 21); // {"text": "caf\u00e9"}
/// ```
#[must_use]
pub fn python_payload_size(event: &Event) -> usize {
    python_json_len(event.payload_json().as_bytes())
}

/// Refuses the first event a Python consumer would dead-letter.
pub(crate) fn check<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<(), BackendError> {
    for event in events {
        let rust_size = event.payload_size();
        // Python spends at most 6 characters on one byte of compact JSON (a DEL character
        // is `\u007f`; a float's exponent form is at most 4.5 times longer), so small
        // payloads need no walk.
        if rust_size.saturating_mul(6) <= MAX_PAYLOAD_BYTES {
            continue;
        }
        let size = python_payload_size(event);
        if size > MAX_PAYLOAD_BYTES {
            return Err(BackendError::Other(Box::new(
                PythonCompatError::PayloadTooLarge {
                    id: event.id(),
                    event_type: event.event_type().as_str().to_owned(),
                    size,
                    rust_size,
                    max: MAX_PAYLOAD_BYTES,
                },
            )));
        }
    }
    Ok(())
}

/// `len(json.dumps(json.loads(text)))` for valid JSON `text`.
fn python_json_len(text: &[u8]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let (cost, next) = string_len(text, i + 1);
                len += cost;
                i = next;
                continue;
            }
            b',' | b':' => len += 2,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                len += number_len(&text[start..i]);
                continue;
            }
            // Brackets and the letters of true, false and null are written as they are.
            _ => len += 1,
        }
        i += 1;
    }
    len
}

/// The cost of one JSON string, quotes included, whose content starts at `start`; and the
/// index after its closing quote.
fn string_len(text: &[u8], start: usize) -> (usize, usize) {
    let mut len = 2;
    let mut i = start;
    while i < text.len() {
        let b = text[i];
        match b {
            b'"' => return (len, i + 1),
            b'\\' => {
                let esc = text.get(i + 1).copied().unwrap_or(b'\\');
                if esc == b'u' {
                    let unit = text
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .unwrap_or(0);
                    // Each half of a surrogate pair is a `\uXXXX` of its own in Python too.
                    len += if (0xD800..=0xDFFF).contains(&unit) {
                        6
                    } else {
                        char_len(char::from_u32(unit).unwrap_or('\u{fffd}'))
                    };
                    i += 6;
                } else {
                    len += match esc {
                        b'/' => 1,
                        _ => 2, // \" \\ \b \f \n \r \t
                    };
                    i += 2;
                }
            }
            0x00..=0x7f => {
                len += char_len(char::from(b));
                i += 1;
            }
            _ => {
                // A UTF-8 sequence: its length from the lead byte, its cost from its width.
                let width = match b {
                    0xF0..=0xFF => 4,
                    0xE0..=0xEF => 3,
                    _ => 2,
                };
                len += if width == 4 { 12 } else { 6 };
                i += width;
            }
        }
    }
    (len, i)
}

/// What `json.dumps` (`ensure_ascii=True`) writes for one character.
fn char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        ' '..='~' => 1,
        '\u{0}'..='\u{ffff}' => 6,
        _ => 12,
    }
}

/// The length of a JSON number as Python writes it back: an integer exactly as written (but
/// `-0` is `0`); a number with a fraction or an exponent as `repr(float(text))`.
fn number_len(token: &[u8]) -> usize {
    if !token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return if token == b"-0" { 1 } else { token.len() };
    }
    let value: f64 = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN);
    float_repr_len(value)
}

/// `len(repr(x))` for a Python float.
fn float_repr_len(x: f64) -> usize {
    if x.is_nan() {
        return 3; // NaN
    }
    let sign = usize::from(x.is_sign_negative());
    if x.is_infinite() {
        return sign + 8; // Infinity
    }
    // The shortest digits that read back as `x` (Python's repr picks the same ones), in
    // scientific form: `d[.ddd]e<exp>`.
    let mut buf = Buf::default();
    if write!(buf, "{:e}", x.abs()).is_err() {
        return sign + 3;
    }
    let sci = buf.as_str();
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.len() - usize::from(mantissa.contains('.'));
    let exp: i32 = exp.parse().unwrap_or(0);
    // Python's decimal point position: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    let n = i32::try_from(digits).unwrap_or(i32::MAX);
    let body = if decpt <= -4 || decpt > 16 {
        // d[.ddd]e±XX, the exponent with at least two digits.
        let e = exp.unsigned_abs();
        let e_digits = if e >= 100 { 3 } else { 2 };
        digits + usize::from(digits > 1) + 2 + e_digits
    } else if decpt <= 0 {
        // 0.000ddd
        2 + decpt.unsigned_abs() as usize + digits
    } else if decpt < n {
        // ddd.ddd
        digits + 1
    } else {
        // ddd000.0
        decpt.unsigned_abs() as usize + 2
    };
    sign + body
}

/// A small stack buffer for formatting one float.
#[derive(Default)]
struct Buf {
    bytes: [u8; 32],
    len: usize,
}

impl Buf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("0e0")
    }
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(text: &str) -> usize {
        python_json_len(text.as_bytes())
    }

    #[test]
    fn counts_like_json_dumps() {
        assert_eq!(len("{}"), 2);
        assert_eq!(
            len(r#"{"a":1,"b":[1,2]}"#),
            r#"{"a": 1, "b": [1, 2]}"#.len()
        );
        assert_eq!(len(r#"{"e":"é"}"#), r#"{"e": "\u00e9"}"#.len());
        assert_eq!(len(r#"{"e":"😀"}"#), r#"{"e": "\ud83d\ude00"}"#.len());
        assert_eq!(
            len(r#"{"e":"\ud83d\ude00"}"#),
            r#"{"e": "\ud83d\ude00"}"#.len()
        );
        assert_eq!(len(r#"{"e":"\u0041\/"}"#), r#"{"e": "A/"}"#.len());
        assert_eq!(len("{\"e\":\"\u{7f}\"}"), r#"{"e": "\u007f"}"#.len());
        assert_eq!(len(r#"{"e":"\u0001\n"}"#), r#"{"e": "\u0001\n"}"#.len());
        assert_eq!(len(r#"{"n":-0}"#), r#"{"n": 0}"#.len());
    }

    #[test]
    fn floats_are_counted_as_python_repr_writes_them() {
        for (x, repr) in [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123.456, "123.456"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (100.0, "100.0"),
            (-2.5e-10, "-2.5e-10"),
        ] {
            assert_eq!(float_repr_len(x), repr.len(), "{x} is {repr}");
        }
    }
}
