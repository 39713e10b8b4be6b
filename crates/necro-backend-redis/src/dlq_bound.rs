//! What the dead-letter stream's retention bound would drop next
//! ([`DlqStream::over_bound`]): what `necro dlq bound` shows. It removes nothing.

use std::time::Duration;

use fred::interfaces::ClientLike;
use fred::types::{CustomCommand, Value};
use necro_core::BackendError;

use crate::dlq::DlqStream;
use crate::entry::value_u64;
use crate::error::{backend_error, unexpected_reply};
use crate::floor::StreamId;
use crate::record::DlqEntry;

/// How many entries one page of the age count reads.
const PAGE: usize = 500;

/// What the dead-letter bound of the backend's [`RetentionPolicy`](crate::RetentionPolicy)
/// would drop if it ran now.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DlqOverBound {
    /// Dead letters now.
    pub length: u64,
    /// The count bound.
    pub max_entries: Option<u64>,
    /// The age bound.
    pub max_age: Option<Duration>,
    /// How many letters would go, oldest first.
    pub would_drop: u64,
    /// The first of them (up to the `limit` asked for), oldest first.
    pub next: Vec<DlqEntry>,
}

impl DlqStream<'_> {
    /// What the retention bound would drop from the dead-letter stream if it ran now: how
    /// many letters and the first `limit` of them. Reads only (`XLEN`, `TIME`, and `XRANGE`
    /// pages below the age cut).
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached or answered in an unexpected shape.
    pub async fn over_bound(&self, limit: usize) -> Result<DlqOverBound, BackendError> {
        let inner = &self.backend.inner;
        let policy = &inner.config.retention;
        let length = self.count().await?;
        let (max_entries, max_age) = if policy.enabled {
            (policy.dlq_max_entries, policy.dlq_max_age)
        } else {
            (None, None)
        };
        let by_count = max_entries.map_or(0, |n| length.saturating_sub(n));
        let mut by_age = 0;
        if let Some(age) = max_age {
            let time: Value = inner
                .pool
                .next()
                .custom(
                    CustomCommand::new_static("TIME", None::<u16>, false),
                    Vec::<Value>::new(),
                )
                .await
                .map_err(backend_error)?;
            let now_ms = match &time {
                Value::Array(p) if p.len() == 2 => value_u64(&p[0])
                    .zip(value_u64(&p[1]))
                    .map(|(s, us)| s.saturating_mul(1000).saturating_add(us / 1000)),
                _ => None,
            }
            .ok_or_else(|| unexpected_reply("TIME"))?;
            let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            let cut = format!("({}", StreamId::from_millis(now_ms.saturating_sub(age)));
            let mut start = "-".to_owned();
            loop {
                let page = self.range(&start, &cut, PAGE).await?;
                by_age += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE => start = format!("({}", last.id),
                    _ => break,
                }
            }
        }
        let would_drop = by_count.max(by_age);
        let shown = usize::try_from(would_drop).unwrap_or(usize::MAX).min(limit);
        let next = self
            .range("-", "+", shown)
            .await?
            .iter()
            .map(DlqEntry::from_raw)
            .collect();
        Ok(DlqOverBound {
            length,
            max_entries,
            max_age,
            would_drop,
            next,
        })
    }
}
