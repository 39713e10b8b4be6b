//! [`Headers`]: a small, bounded, ordered map of strings carried beside an event (trace
//! context, tenant, idempotency key, schema version), and [`PassOn`]: which of them the events
//! an organ emits inherit.

use std::fmt;
use std::sync::Arc;

/// The W3C Trace Context and Baggage headers: what [`PassOn::TraceContext`] passes on.
pub const TRACE_CONTEXT_HEADERS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty, too long, or holds a character other than `a`–`z`, `0`–`9`, `-`,
    /// `_` and `.`.
    #[error(
        "invalid header name {name:?}: names are 1 to {max} bytes of lowercase ASCII letters, digits, `-`, `_` and `.`",
        max = Headers::MAX_NAME_LEN
    )]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The value is longer than [`Headers::MAX_VALUE_LEN`] bytes.
    #[error(
        "header {name:?}: its value is {len} bytes, more than the {max} allowed",
        max = Headers::MAX_VALUE_LEN
    )]
    ValueTooLong {
        /// The header's name.
        name: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// The value holds a control character (a newline, a NUL, …).
    #[error("header {name:?}: its value holds a control character")]
    InvalidValue {
        /// The header's name.
        name: String,
    },
    /// Adding it would make more than [`Headers::MAX_COUNT`] headers.
    #[error("header {name:?}: an event carries at most {max} headers", max = Headers::MAX_COUNT)]
    TooMany {
        /// The header that did not fit.
        name: String,
    },
    /// Adding it would take the headers' names and values past [`Headers::MAX_TOTAL_LEN`]
    /// bytes in all.
    #[error(
        "header {name:?}: the headers would take {total} bytes, more than the {max} allowed",
        max = Headers::MAX_TOTAL_LEN
    )]
    TooLarge {
        /// The header that did not fit.
        name: String,
        /// What the names and values would have taken, in bytes.
        total: usize,
    },
}

/// A small ordered map of string headers, carried beside an event and never inside its
/// four-field JSON: W3C `traceparent`, `tracestate` and `baggage`, and application headers
/// (a tenant, an idempotency key, a schema version).
///
/// Names are unique and kept in the order they were first inserted; inserting a name again
/// replaces its value in place. It is bounded so it cannot grow an event without limit: at
/// most [`MAX_COUNT`](Self::MAX_COUNT) headers, names of lowercase ASCII letters, digits, `-`,
/// `_` and `.` up to [`MAX_NAME_LEN`](Self::MAX_NAME_LEN) bytes, values without control
/// characters up to [`MAX_VALUE_LEN`](Self::MAX_VALUE_LEN) bytes, and
/// [`MAX_TOTAL_LEN`](Self::MAX_TOTAL_LEN) bytes of names and values in all. Past a bound,
/// [`insert`](Self::insert) returns a typed [`HeaderError`] and leaves the map as it was.
///
/// ```
/// use necro_core::{HeaderError, Headers};
///
/// let mut headers = Headers::new();
/// headers.insert("tenant", "acme")?;
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
/// assert_eq!(headers.get("tenant"), Some("acme"));
/// assert_eq!(headers.iter().map(|(name, _)| name).collect::<Vec<_>>(), ["tenant", "traceparent"]);
///
/// assert!(matches!(headers.insert("Tenant", "x"), Err(HeaderError::InvalidName { .. })));
/// # Ok::<(), HeaderError>(())
/// ```
#[derive(Clone, Default)]
pub struct Headers {
    /// Shared, copied on write: a clone (into each emitted event, into each organ call's
    /// context) is a reference count, not an allocation. `None` when empty, so that no
    /// headers cost no allocation at all.
    shared: Option<Arc<Vec<(String, String)>>>,
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl Eq for Headers {}

impl std::hash::Hash for Headers {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.entries().hash(state);
    }
}

impl Headers {
    /// The most headers one event carries.
    pub const MAX_COUNT: usize = 32;
    /// The longest header name, in bytes.
    pub const MAX_NAME_LEN: usize = 64;
    /// The longest header value, in bytes.
    pub const MAX_VALUE_LEN: usize = 4096;
    /// The most bytes of names and values one event's headers take in all.
    pub const MAX_TOTAL_LEN: usize = 8192;

    /// No headers.
    #[must_use]
    pub const fn new() -> Self {
        Self { shared: None }
    }

    /// The headers, in order.
    fn entries(&self) -> &[(String, String)] {
        self.shared.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The headers to change: this value's own copy (made now if it was shared).
    fn entries_mut(&mut self) -> &mut Vec<(String, String)> {
        Arc::make_mut(self.shared.get_or_insert_with(Arc::default))
    }

    /// Checks a header name against the rules above.
    ///
    /// # Errors
    /// [`HeaderError::InvalidName`].
    pub fn check_name(name: &str) -> Result<(), HeaderError> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if valid {
            Ok(())
        } else {
            Err(HeaderError::InvalidName {
                name: name.to_owned(),
            })
        }
    }

    /// Sets `name` to `value`, replacing the value it had (in place). Returns the value it
    /// replaced.
    ///
    /// # Errors
    /// A [`HeaderError`] when the name or the value breaks a rule, or the headers would grow
    /// past a bound; the headers are then unchanged.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<String>, HeaderError> {
        let name = name.into();
        let value = value.into();
        Self::check_name(&name)?;
        if value.len() > Self::MAX_VALUE_LEN {
            return Err(HeaderError::ValueTooLong {
                len: value.len(),
                name,
            });
        }
        if value.chars().any(char::is_control) {
            return Err(HeaderError::InvalidValue { name });
        }
        let entries = self.entries();
        let existing = entries.iter().position(|(n, _)| *n == name);
        let replaced = existing.map_or(0, |i| entries[i].0.len() + entries[i].1.len());
        let total = self.total_len() - replaced + name.len() + value.len();
        if total > Self::MAX_TOTAL_LEN {
            return Err(HeaderError::TooLarge { name, total });
        }
        match existing {
            Some(i) => Ok(Some(std::mem::replace(&mut self.entries_mut()[i].1, value))),
            None if entries.len() >= Self::MAX_COUNT => Err(HeaderError::TooMany { name }),
            None => {
                self.entries_mut().push((name, value));
                Ok(None)
            }
        }
    }

    /// These headers with `name` set to `value`: [`insert`](Self::insert) for chaining.
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    pub fn with(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, HeaderError> {
        self.insert(name, value)?;
        Ok(self)
    }

    /// The value of `name`, if it is set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.entries().iter().position(|(n, _)| n == name)?;
        let removed = self.entries_mut().remove(i).1;
        if self.entries().is_empty() {
            self.shared = None;
        }
        Some(removed)
    }

    /// How many headers are set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether none is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The headers as `(name, value)`, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.entries().iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The bytes the names and values take in all.
    #[must_use]
    pub fn total_len(&self) -> usize {
        self.entries().iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    /// The headers `policy` passes on to the events emitted while handling an event that
    /// carries these, in the same order.
    #[must_use]
    pub fn passed_on(&self, policy: &PassOn) -> Self {
        match policy {
            PassOn::All => self.clone(),
            PassOn::Nothing => Self::new(),
            // Every header passes (the common case: only the trace context is set): share.
            policy if self.entries().iter().all(|(name, _)| policy.passes(name)) => self.clone(),
            policy => {
                let kept: Vec<(String, String)> = self
                    .entries()
                    .iter()
                    .filter(|(name, _)| policy.passes(name))
                    .cloned()
                    .collect();
                Self {
                    shared: (!kept.is_empty()).then(|| Arc::new(kept)),
                }
            }
        }
    }

    /// Builds headers from pairs, in order (a name given twice keeps its last value).
    ///
    /// # Errors
    /// The first [`HeaderError`] met.
    pub fn try_from_pairs<N, V>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, HeaderError>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.insert(name, value)?;
        }
        Ok(headers)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries().iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Which of the headers of the event being handled the events an organ emits inherit.
///
/// An organ declares it with `passes_on` ([`Organ::passes_on`](crate::Organ::passes_on) and
/// its twins); [`BoxedOrgan::passing_on`](crate::BoxedOrgan::passing_on) overrides it where
/// the organ is wired. The correlation and causation ids are always set, whatever the policy.
///
/// ```
/// use necro_core::{Headers, PassOn};
///
/// let headers = Headers::new().with("traceparent", "00-…-01")?.with("tenant", "acme")?;
/// assert_eq!(headers.passed_on(&PassOn::TraceContext).len(), 1);
/// assert_eq!(headers.passed_on(&PassOn::All).len(), 2);
/// assert_eq!(headers.passed_on(&PassOn::trace_context_and(["tenant"])).len(), 2);
/// assert!(headers.passed_on(&PassOn::Nothing).is_empty());
/// # Ok::<(), necro_core::HeaderError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassOn {
    /// The W3C trace context: [`TRACE_CONTEXT_HEADERS`] (the default).
    #[default]
    TraceContext,
    /// Every header.
    All,
    /// None.
    Nothing,
    /// Exactly the headers named (add the trace context with
    /// [`trace_context_and`](Self::trace_context_and)).
    Named(Arc<[String]>),
}

impl PassOn {
    /// Exactly the headers named.
    #[must_use]
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Named(names.into_iter().map(Into::into).collect())
    }

    /// The trace context and the headers named.
    #[must_use]
    pub fn trace_context_and<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::named(
            TRACE_CONTEXT_HEADERS
                .iter()
                .map(|n| (*n).to_owned())
                .chain(names.into_iter().map(Into::into)),
        )
    }

    /// Whether a header of that name is passed on.
    #[must_use]
    pub fn passes(&self, name: &str) -> bool {
        match self {
            Self::TraceContext => TRACE_CONTEXT_HEADERS.contains(&name),
            Self::All => true,
            Self::Nothing => false,
            Self::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic fails the test.
    use super::*;

    #[test]
    fn bounds_are_typed_errors_and_leave_the_headers_unchanged() {
        let mut h = Headers::new();
        for i in 0..Headers::MAX_COUNT {
            h.insert(format!("h{i}"), "v").unwrap();
        }
        let before = h.clone();
        assert!(matches!(
            h.insert("one-more", "v"),
            Err(HeaderError::TooMany { .. })
        ));
        // Replacing an existing one is still fine at the count bound.
        assert_eq!(h.insert("h0", "w").unwrap(), Some("v".to_owned()));
        assert_eq!(h.len(), before.len());

        let mut h = Headers::new();
        let long = "x".repeat(Headers::MAX_VALUE_LEN);
        h.insert("a", long.clone()).unwrap();
        assert!(matches!(
            h.insert("b", format!("{long}x")),
            Err(HeaderError::ValueTooLong { len, .. }) if len == Headers::MAX_VALUE_LEN + 1
        ));
        assert!(matches!(
            h.insert("b", long),
            Err(HeaderError::TooLarge { .. })
        ));
        assert_eq!(h.len(), 1);

        for bad in ["", "Tenant", "a b", "é", &"n".repeat(65), "a:b"] {
            assert!(
                matches!(
                    Headers::new().insert(bad, "v"),
                    Err(HeaderError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Headers::new().insert("a", "line\nbreak"),
            Err(HeaderError::InvalidValue { .. })
        ));
    }

    #[test]
    fn clones_share_until_written_and_compare_by_content() {
        let a = Headers::try_from_pairs([("traceparent", "t"), ("tenant", "acme")]).unwrap();
        let mut b = a.clone();
        assert!(Arc::ptr_eq(
            a.shared.as_ref().unwrap(),
            b.shared.as_ref().unwrap()
        ));
        b.insert("tenant", "other").unwrap();
        assert_eq!(
            a.get("tenant"),
            Some("acme"),
            "a write copies, the original is kept"
        );
        assert_eq!(b.get("tenant"), Some("other"));
        // Emptied by removals, it equals (and hashes as) one that never held any.
        let mut c = Headers::new().with("x", "1").unwrap();
        c.remove("x");
        assert_eq!(c, Headers::new());
        assert!(c.shared.is_none());
        // Passed on whole, it is shared; filtered, it is a new set.
        let trace = Headers::new().with("traceparent", "t").unwrap();
        let passed = trace.passed_on(&PassOn::TraceContext);
        assert!(Arc::ptr_eq(
            trace.shared.as_ref().unwrap(),
            passed.shared.as_ref().unwrap()
        ));
        assert_eq!(a.passed_on(&PassOn::TraceContext).len(), 1);
        assert!(a.passed_on(&PassOn::named(["nope"])).shared.is_none());
    }

    #[test]
    fn replacing_keeps_the_order() {
        let h = Headers::try_from_pairs([("b", "1"), ("a", "2"), ("b", "3")]).unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), [("b", "3"), ("a", "2")]);
    }
}
