//! The dead-letter stream: [`DeadLetterQueue`] (counting, listing, replaying and purging) and
//! the `DeadLetterStore` impl that stores the spine's dead letters. The records themselves are
//! in `record.rs`.

use fred::error::Error as FredError;
use fred::interfaces::{KeysInterface, StreamsInterface, TransactionInterface};
use fred::types::Value;
use necro_core::{BackendError, DeadLetter, DeadLetterStore, Event, Metadata, format_timestamp};

use crate::backend::RedisBackend;
use crate::entry::{EntryId, RawEntry, event_fields, parse_entries, value_string, value_u64};
use crate::error::{backend_error, sent_write_error, unexpected_reply};
use crate::record::{DlqEntry, DlqRecord};

/// Entries read per round trip by [`DeadLetterQueue::replay_all`].
const PAGE: usize = 100;

/// What [`DeadLetterQueue::replay_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// `(dead-letter id, new main-stream id)` of every replayed entry.
    pub replayed: Vec<(EntryId, EntryId)>,
    /// `(dead-letter id, why)` of every entry left in place: not a valid event.
    pub skipped: Vec<(EntryId, String)>,
}

/// The dead-letter stream of a [`RedisBackend`]: list, replay and purge.
///
/// ```no_run
/// # async fn demo(backend: necro_backend_redis::RedisBackend) -> Result<(), necro_core::BackendError> {
/// let dlq = backend.dlq();
/// for entry in dlq.list(50).await? {
///     println!("{} (was {:?}): {}", entry.id, entry.original_id, entry.reason);
/// }
/// let report = dlq.replay_all().await?;     // back onto the main stream
/// println!("replayed {}, skipped {}", report.replayed.len(), report.skipped.len());
/// dlq.purge_all().await?;                   // drop what is left
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterQueue<'a> {
    backend: &'a RedisBackend,
}

impl RedisBackend {
    /// The dead-letter stream.
    #[must_use]
    pub fn dlq(&self) -> DeadLetterQueue<'_> {
        DeadLetterQueue { backend: self }
    }
}

impl DeadLetterQueue<'_> {
    /// The number of dead letters.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn count(&self) -> Result<u64, BackendError> {
        self.backend.inner.check_open()?;
        let inner = &self.backend.inner;
        let n: Value = inner
            .pool
            .next()
            .xlen(inner.dlq.clone())
            .await
            .map_err(backend_error)?;
        Ok(value_u64(&n).unwrap_or(0))
    }

    /// Up to `limit` dead letters, oldest first.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn list(&self, limit: usize) -> Result<Vec<DlqEntry>, BackendError> {
        self.page(None, limit).await
    }

    /// Up to `limit` dead letters after `after` (exclusive), oldest first: pass the last id
    /// of one page to get the next.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn page(
        &self,
        after: Option<&EntryId>,
        limit: usize,
    ) -> Result<Vec<DlqEntry>, BackendError> {
        let start = match after {
            Some(id) => format!("({id}"),
            None => "-".to_owned(),
        };
        Ok(self
            .range(&start, "+", limit)
            .await?
            .iter()
            .map(DlqEntry::from_raw)
            .collect())
    }

    /// One dead letter by its id in the dead-letter stream.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn get(&self, id: impl AsRef<str>) -> Result<Option<DlqEntry>, BackendError> {
        let id = id.as_ref();
        Ok(self.range(id, id, 1).await?.first().map(DlqEntry::from_raw))
    }

    async fn range(
        &self,
        start: &str,
        end: &str,
        count: usize,
    ) -> Result<Vec<RawEntry>, BackendError> {
        self.backend.inner.check_open()?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let inner = &self.backend.inner;
        let reply: Result<Value, FredError> = inner
            .pool
            .next()
            .xrange(inner.dlq.clone(), start, end, Some(count as u64))
            .await;
        parse_entries(reply.map_err(backend_error)?, "XRANGE")
    }

    /// Puts one dead letter back onto the main stream (as a new entry, first delivery again,
    /// same event id and metadata) and removes it from the dead-letter stream, in one
    /// MULTI/EXEC. Returns the new main-stream id, or `None` if there is no such dead letter.
    ///
    /// # Errors
    /// [`BackendError::Event`] if the entry is not a valid event (a malformed entry: inspect it
    /// and purge it instead); another [`BackendError`] if Redis could not be reached.
    pub async fn replay(&self, id: impl AsRef<str>) -> Result<Option<EntryId>, BackendError> {
        let Some(entry) = self.get(id).await? else {
            return Ok(None);
        };
        let event = Event::from_json(&entry.raw_event)?;
        let mut ids = self
            .replay_entries(&[(entry.id, event, entry.meta)])
            .await?;
        Ok(ids.pop().map(|(_, new)| new))
    }

    /// Replays every dead letter that holds a valid event (see [`replay`](Self::replay)),
    /// a page of up to 100 per MULTI/EXEC; malformed entries stay and are reported.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached; entries replayed before it stay
    /// replayed.
    pub async fn replay_all(&self) -> Result<ReplayReport, BackendError> {
        let mut report = ReplayReport::default();
        let mut start = "-".to_owned();
        loop {
            let page = self.range(&start, "+", PAGE).await?;
            let Some(last) = page.last() else { break };
            start = format!("({}", last.id);
            let full = page.len() == PAGE;
            let mut batch = Vec::with_capacity(page.len());
            for raw in &page {
                let entry = DlqEntry::from_raw(raw);
                match Event::from_json(&entry.raw_event) {
                    Ok(event) => batch.push((entry.id, event, entry.meta)),
                    Err(e) => report.skipped.push((entry.id, necro_core::error_chain(&e))),
                }
            }
            report.replayed.extend(self.replay_entries(&batch).await?);
            if !full {
                break;
            }
        }
        Ok(report)
    }

    async fn replay_entries(
        &self,
        batch: &[(EntryId, Event, Metadata)],
    ) -> Result<Vec<(EntryId, EntryId)>, BackendError> {
        self.backend.inner.check_open()?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.backend
            .inner
            .check_python(batch.iter().map(|(_, event, _)| event))?;
        let inner = &self.backend.inner;
        let tx = inner.pool.next().multi();
        for (_, event, meta) in batch {
            let _: Value = tx
                .xadd(
                    inner.stream.clone(),
                    false,
                    None::<()>,
                    "*",
                    event_fields(event, meta),
                )
                .await
                .map_err(backend_error)?;
        }
        let ids: Vec<&str> = batch.iter().map(|(id, _, _)| id.as_str()).collect();
        let _: Value = tx
            .xdel(inner.dlq.clone(), ids)
            .await
            .map_err(backend_error)?;
        let reply: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC replay"))?;
        let Value::Array(items) = reply else {
            return Err(unexpected_reply("EXEC"));
        };
        let new_ids: Vec<EntryId> = items
            .iter()
            .take(batch.len())
            .map(|v| {
                value_string(v)
                    .map(EntryId::from)
                    .ok_or_else(|| unexpected_reply("XADD"))
            })
            .collect::<Result<_, _>>()?;
        inner.counters.enqueued(batch.len() as u64);
        Ok(batch
            .iter()
            .map(|(id, _, _)| id.clone())
            .zip(new_ids)
            .collect())
    }

    /// Deletes one dead letter; `false` if there was none with that id.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn purge(&self, id: impl AsRef<str>) -> Result<bool, BackendError> {
        self.backend.inner.check_open()?;
        let inner = &self.backend.inner;
        let n: Value = inner
            .pool
            .next()
            .xdel(inner.dlq.clone(), id.as_ref())
            .await
            .map_err(backend_error)?;
        Ok(value_u64(&n).unwrap_or(0) > 0)
    }

    /// Deletes every dead letter (the whole dead-letter stream); returns how many there were.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn purge_all(&self) -> Result<u64, BackendError> {
        self.backend.inner.check_open()?;
        let inner = &self.backend.inner;
        let tx = inner.pool.next().multi();
        let _: Value = tx.xlen(inner.dlq.clone()).await.map_err(backend_error)?;
        let _: Value = tx.del(inner.dlq.clone()).await.map_err(backend_error)?;
        let reply: Value = tx.exec(true).await.map_err(backend_error)?;
        match reply {
            Value::Array(items) => Ok(items.first().and_then(value_u64).unwrap_or(0)),
            _ => Err(unexpected_reply("EXEC")),
        }
    }
}

/// Stores dead letters the spine makes (handler failures in STORE mode, enqueue failures) in
/// the dead-letter stream, with `original_id` empty (the spine acks the delivery itself).
impl DeadLetterStore for RedisBackend {
    async fn store(&self, letter: DeadLetter) -> Result<(), BackendError> {
        let failures = if letter.failures.is_empty() {
            None
        } else {
            serde_json::to_string(&letter.failures).ok()
        };
        let record = DlqRecord {
            original_id: None,
            event: letter.event.to_json(),
            reason: letter.reason,
            kind: letter.kind,
            attempts: letter.attempts,
            organ: letter.organ,
            failures,
            meta: letter.meta,
            fields: None,
            failed_at: format_timestamp(letter.failed_at),
        };
        self.inner
            .write_dead_letters(std::slice::from_ref(&record), &[])
            .await
    }
}
