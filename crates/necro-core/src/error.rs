//! The error types every layer shares, below all of them (this file imports nothing from the
//! crate): [`EventError`] (an event could not be built or read), [`BackendError`] (a backend
//! failed), [`BoxError`], [`error_chain`] / [`panic_message`] for reporting, and the crate's
//! `truncate_for_error` (how much of a bad input an error quotes). The errors of
//! typed payloads ([`DecodeError`](crate::DecodeError), in `payload.rs`) and of organs
//! ([`OrganError`](crate::OrganError), in `organ_error.rs`) sit beside what raises them.

use std::error::Error as StdError;

/// A boxed error with its cause chain intact.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why an event could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event type was empty or only whitespace.
    #[error("event type must not be empty or whitespace")]
    EmptyEventType,
    /// The payload was not a JSON object.
    #[error("event payload must be a JSON object, got {found}")]
    PayloadNotObject {
        /// What kind of JSON value was found instead.
        found: &'static str,
    },
    /// The payload's compact JSON is larger than the limit.
    #[error("event payload is {size} bytes of compact JSON, more than the {max} allowed")]
    PayloadTooLarge {
        /// Bytes of compact UTF-8 JSON.
        size: usize,
        /// The limit, [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES).
        max: usize,
    },
    /// The payload nests objects and arrays deeper than the limit.
    #[error(
        "event payload is nested more than {limit} levels deep (objects and arrays; the payload object is level 1)"
    )]
    PayloadTooDeep {
        /// The limit, [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH).
        limit: usize,
    },
    /// The payload holds a number too large for a 64-bit float (e.g. `1e400`), which its
    /// parsed form could not hold.
    #[error("event payload holds the number {number}, which is beyond the range of a 64-bit float")]
    NumberOutOfRange {
        /// The number as written (truncated).
        number: String,
    },
    /// The JSON holds `NaN`, `Infinity` or `-Infinity`: Python's `json` writes them for
    /// non-finite floats, but they are not JSON.
    #[error(
        "event JSON holds {token}, which Python's json writes for a non-finite float but JSON does not allow"
    )]
    NonFiniteNumber {
        /// The token found: `NaN`, `Infinity` or `-Infinity`.
        token: &'static str,
        /// serde_json's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The payload holds a `\uXXXX` escape of a lone UTF-16 surrogate (e.g. `"\ud800"`, which
    /// Python's `json` writes for a lone surrogate): it encodes no Unicode character.
    #[error(
        "event payload holds the escape {escape}, a lone UTF-16 surrogate that encodes no Unicode character"
    )]
    LoneSurrogate {
        /// The escape as written, e.g. `\ud800`.
        escape: String,
    },
    /// The id is a UUID, but not written in the canonical hyphenated form
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`): no hyphens, braces or `urn:uuid:`.
    #[error(
        "event id {value:?} is not in the hyphenated 8-4-4-4-12 form (no braces, no urn:uuid: prefix)"
    )]
    IdNotCanonical {
        /// The offending text (truncated).
        value: String,
    },
    /// The id is a UUID but not a version 4 one.
    #[error("event id {id} is not a UUID v4")]
    IdNotV4 {
        /// The offending id.
        id: uuid::Uuid,
    },
    /// The id is not a UUID at all.
    #[error("event id {value:?} is not a UUID")]
    InvalidId {
        /// The offending text (truncated).
        value: String,
        /// The parser's complaint.
        #[source]
        source: uuid::Error,
    },
    /// The timestamp is not an RFC 3339 date and time (with or without an offset).
    #[error(
        "event timestamp {value:?} is not an RFC 3339 date and time (YYYY-MM-DDTHH:MM:SS[.ffffff], with an offset or none for UTC)"
    )]
    InvalidTimestamp {
        /// The offending text (truncated).
        value: String,
        /// The parser's complaint.
        #[source]
        source: time::error::Parse,
    },
    /// The JSON form was malformed: bad syntax, a missing or unknown field.
    #[error("event JSON is malformed: {0}")]
    Json(#[source] serde_json::Error),
    /// A payload could not be serialized.
    #[error("event payload could not be serialized: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// The message a panic carried (`panic!("...")` gives a `&str` or a `String`), for reporting
/// a caught panic (`catch_unwind`, a task's `JoinError::into_panic`) as a failure.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("organ blew up: {}", 42)).unwrap_err();
/// assert_eq!(necro_core::panic_message(&*caught), "organ blew up: 42");
/// ```
#[must_use]
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Renders an error and its sources as `outer: cause: root`.
#[must_use]
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// What went wrong inside a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A bounded queue is full; nothing was enqueued.
    #[error("queue is full ({capacity} events)")]
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The backend was closed.
    #[error("backend is closed")]
    Closed,
    /// The backend could not be reached or the connection broke.
    #[error("backend connection failed: {0}")]
    Connection(#[source] BoxError),
    /// The backend answered with an error.
    #[error("backend command failed: {0}")]
    Command(#[source] BoxError),
    /// An event could not be encoded or decoded.
    #[error("event could not be encoded or decoded: {0}")]
    Event(#[from] EventError),
    /// A token was acknowledged or nacked that the backend does not know (already acked?).
    #[error("unknown delivery token {0}")]
    UnknownToken(String),
    /// A command did not answer in time.
    #[error("backend timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Anything else.
    #[error("{0}")]
    Other(#[source] BoxError),
}

impl BackendError {
    /// Whether retrying the same call may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Full { .. } | Self::Connection(_) | Self::Timeout(_)
        )
    }

    /// Whether the backend could not be reached at all (connection failed, timed out, or
    /// closed): any other call is likely to fail the same way, so retrying call by call only
    /// waits out one timeout after another.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connection(_) | Self::Timeout(_) | Self::Closed)
    }
}

/// At most the first 64 characters of a bad input, for an error to quote.
pub(crate) fn truncate_for_error(s: &str) -> String {
    s.chars().take(64).collect()
}
