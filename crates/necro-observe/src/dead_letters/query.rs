//! The section's query parameters (`/?dlq_organ=…&dlq_kind=…&dlq_after=…`) and the action
//! forms' ids, validated: anything unknown, repeated or overlong is refused as a whole, and
//! nothing of it is echoed back.

use necro_core::{DeadLetterFilter, DeadLetterId, DeadLetterKind};

use super::{KINDS, kind_name};

/// The longest organ name or event type a filter takes, in bytes.
const MAX_NAME: usize = 128;
/// The longest dead-letter id (cursor) accepted, in bytes.
const MAX_ID: usize = 128;

/// What a status message after an action says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Replayed,
    Purged,
}

impl Done {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Replayed => "replayed",
            Self::Purged => "purged",
        }
    }
}

/// The outcome of an action, carried in the redirect back to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) done: Done,
    /// Entries replayed or purged.
    pub(crate) count: u64,
    /// Selected entries no longer held.
    pub(crate) missing: u64,
    /// Entries left in place (unreadable: never replayed).
    pub(crate) skipped: u64,
}

impl Status {
    /// The page's URL with this status.
    pub(crate) fn location(self) -> String {
        format!(
            "/?dlq_done={}&dlq_n={}&dlq_missing={}&dlq_skipped={}",
            self.done.as_str(),
            self.count,
            self.missing,
            self.skipped
        )
    }
}

/// One request for the section, from the page's query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageQuery {
    pub(crate) organ: Option<String>,
    pub(crate) kind: Option<DeadLetterKind>,
    pub(crate) event_type: Option<String>,
    pub(crate) after: Option<DeadLetterId>,
    pub(crate) status: Option<Status>,
}

/// A query the section refuses (the 400's fixed message says no more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadQuery;

impl PageQuery {
    /// Parses the raw query string (`None`: no `?`).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, BadQuery> {
        let mut q = Self::default();
        let Some(raw) = raw else {
            return Ok(q);
        };
        if raw.len() > 2048 {
            return Err(BadQuery);
        }
        let mut seen: Vec<String> = Vec::new();
        let (mut done, mut n, mut missing, mut skipped) = (None, None, None, None);
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            if seen.iter().any(|k| *k == key) {
                return Err(BadQuery);
            }
            seen.push(key.to_string());
            let value = value.as_ref();
            match key.as_ref() {
                "dlq_organ" => q.organ = name(value)?,
                "dlq_type" => q.event_type = name(value)?,
                "dlq_kind" => q.kind = kind(value)?,
                "dlq_after" => q.after = (!value.is_empty()).then(|| id(value)).transpose()?,
                "dlq_done" => {
                    done = Some(match value {
                        "replayed" => Done::Replayed,
                        "purged" => Done::Purged,
                        _ => return Err(BadQuery),
                    });
                }
                "dlq_n" => n = Some(number(value)?),
                "dlq_missing" => missing = Some(number(value)?),
                "dlq_skipped" => skipped = Some(number(value)?),
                _ => return Err(BadQuery),
            }
        }
        if let Some(done) = done {
            q.status = Some(Status {
                done,
                count: n.unwrap_or(0),
                missing: missing.unwrap_or(0),
                skipped: skipped.unwrap_or(0),
            });
        }
        Ok(q)
    }

    /// The listing's filter.
    pub(crate) fn filter(&self) -> DeadLetterFilter {
        let mut f = DeadLetterFilter::new();
        if let Some(o) = &self.organ {
            f = f.organ(o.clone());
        }
        if let Some(k) = self.kind {
            f = f.kind(k);
        }
        if let Some(t) = &self.event_type {
            f = f.event_type(t.clone());
        }
        f
    }

    /// The page's URL for these filters, starting after `after` (URL-encoded; HTML-escape it
    /// before putting it in an attribute).
    pub(crate) fn href(&self, after: Option<&DeadLetterId>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(o) = &self.organ {
            s.append_pair("dlq_organ", o);
        }
        if let Some(k) = self.kind {
            s.append_pair("dlq_kind", kind_name(k));
        }
        if let Some(t) = &self.event_type {
            s.append_pair("dlq_type", t);
        }
        if let Some(a) = after {
            s.append_pair("dlq_after", a.as_str());
        }
        let s = s.finish();
        if s.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{s}")
        }
    }
}

/// An organ name or event type: empty for none; at most [`MAX_NAME`] bytes, no control
/// characters.
fn name(value: &str) -> Result<Option<String>, BadQuery> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(BadQuery);
    }
    Ok(Some(value.to_owned()))
}

fn kind(value: &str) -> Result<Option<DeadLetterKind>, BadQuery> {
    if value.is_empty() {
        return Ok(None);
    }
    KINDS
        .into_iter()
        .find(|k| kind_name(*k) == value)
        .map(Some)
        .ok_or(BadQuery)
}

fn number(value: &str) -> Result<u64, BadQuery> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadQuery);
    }
    value.parse().map_err(|_| BadQuery)
}

/// A dead-letter id as the page and its forms pass it: 1 to [`MAX_ID`] bytes of ASCII
/// letters, digits and `-_.:` (what the shipped backends issue).
pub(crate) fn id(value: &str) -> Result<DeadLetterId, BadQuery> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(DeadLetterId::new(value))
    } else {
        Err(BadQuery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_cursor_and_status() {
        let q = PageQuery::parse(Some(
            "dlq_organ=Mail%20er&dlq_kind=handler_failed&dlq_after=17&dlq_done=purged&dlq_n=2",
        ))
        .unwrap();
        assert_eq!(q.organ.as_deref(), Some("Mail er"));
        assert_eq!(q.kind, Some(DeadLetterKind::HandlerFailed));
        assert_eq!(q.after, Some(DeadLetterId::new("17")));
        assert_eq!(q.status.unwrap().count, 2);
        assert_eq!(
            q.href(Some(&DeadLetterId::new("3-0"))),
            "/?dlq_organ=Mail+er&dlq_kind=handler_failed&dlq_after=3-0"
        );
        assert_eq!(
            PageQuery::parse(Some("dlq_organ=&dlq_kind=")),
            Ok(PageQuery::default())
        );
    }

    #[test]
    fn refuses_unknown_repeated_and_overlong() {
        for bad in [
            "x=1",
            "dlq_kind=nope",
            "dlq_organ=a&dlq_organ=b",
            "dlq_after=%3Cscript%3E",
            "dlq_n=-1",
            "dlq_done=eaten",
            "dlq_organ=%0A",
        ] {
            assert_eq!(PageQuery::parse(Some(bad)), Err(BadQuery), "{bad}");
        }
        let long = format!("dlq_organ={}", "a".repeat(MAX_NAME + 1));
        assert_eq!(PageQuery::parse(Some(&long)), Err(BadQuery));
    }
}
