//! The dead-letter stream: [`DlqStream`] (counting, listing, replaying and purging), the
//! walks and deletes the core capability (`queue.rs`) is built on, and the `DeadLetterStore`
//! impl that stores the spine's dead letters. The records themselves are in `record.rs`; the
//! atomic replay script in `replay.rs`.

use fred::error::Error as FredError;
use fred::interfaces::{KeysInterface, StreamsInterface, TransactionInterface};
use fred::types::Value;
use necro_core::{
    BackendError, DeadLetter, DeadLetterEntry, DeadLetterFilter, DeadLetterStore, Event,
    error_chain, format_timestamp,
};

use crate::backend::RedisBackend;
use crate::entry::{EntryId, RawEntry, entry_id_millis, parse_entries, value_u64};
use crate::error::{backend_error, sent_write_error, unexpected_reply};
use crate::record::{DlqEntry, DlqRecord};
use crate::replay::Replayable;

/// Entries read per round trip by a walk ([`DlqStream::replay_all`], a purge by filter).
pub(crate) const PAGE: usize = 100;

/// What [`DlqStream::replay_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayAllReport {
    /// `(dead-letter id, new main-stream id)` of every replayed entry.
    pub replayed: Vec<(EntryId, EntryId)>,
    /// `(dead-letter id, why)` of every entry left in place: not a valid event.
    pub skipped: Vec<(EntryId, String)>,
    /// Entries found but gone when their turn came: another replay (or a purge) took them
    /// first.
    pub missing: Vec<EntryId>,
}

/// A walk over the dead-letter stream: where the next chunk starts, and the newest entry held
/// when the walk started (`None` once the walk is over).
#[derive(Debug)]
pub(crate) struct Walk {
    start: String,
    end: Option<EntryId>,
}

/// Why a dead letter's `event` field cannot be replayed.
pub(crate) fn unreadable(raw_event: &str) -> String {
    Event::from_json(raw_event)
        .err()
        .map_or_else(|| "not a valid event".to_owned(), |e| error_chain(&e))
}

/// The ids of `batch` the replay script did not replay (`replayed` is in `batch`'s order; an
/// id given twice is replayed once at most).
pub(crate) fn lost(batch: &[Replayable], replayed: &[(EntryId, EntryId)]) -> Vec<EntryId> {
    let mut done = replayed.iter().map(|(id, _)| id).peekable();
    batch
        .iter()
        .filter(|(id, _, _)| {
            let replayed = done.peek().is_some_and(|d| *d == id);
            if replayed {
                done.next();
            }
            !replayed
        })
        .map(|(id, _, _)| id.clone())
        .collect()
}

/// The dead-letter stream of a [`RedisBackend`], seen the Redis way: list ([`DlqEntry`] keeps
/// the original entry id, the consumer and a malformed entry's fields), replay and purge. The
/// backend also implements necro-core's [`DeadLetterQueue`](necro_core::DeadLetterQueue)
/// capability (filters, both orders, selections) on the same stream.
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
pub struct DlqStream<'a> {
    pub(crate) backend: &'a RedisBackend,
}

impl RedisBackend {
    /// The dead-letter stream.
    #[must_use]
    pub fn dlq(&self) -> DlqStream<'_> {
        DlqStream { backend: self }
    }
}

impl DlqStream<'_> {
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

    /// One dead letter by its id in the dead-letter stream (`None` also for text that is not
    /// a stream entry id).
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached.
    pub async fn get(&self, id: impl AsRef<str>) -> Result<Option<DlqEntry>, BackendError> {
        let id = id.as_ref();
        if entry_id_millis(id).is_none() {
            self.backend.inner.check_open()?;
            return Ok(None);
        }
        Ok(self.range(id, id, 1).await?.first().map(DlqEntry::from_raw))
    }

    /// Up to `count` entries from `start` to `end` (`XRANGE` bounds), oldest first.
    pub(crate) async fn range(
        &self,
        start: &str,
        end: &str,
        count: usize,
    ) -> Result<Vec<RawEntry>, BackendError> {
        self.read(false, start, end, count).await
    }

    /// Up to `count` entries from `end` down to `start` (`XREVRANGE` bounds), newest first.
    pub(crate) async fn rev_range(
        &self,
        end: &str,
        start: &str,
        count: usize,
    ) -> Result<Vec<RawEntry>, BackendError> {
        self.read(true, end, start, count).await
    }

    async fn read(
        &self,
        rev: bool,
        from: &str,
        to: &str,
        count: usize,
    ) -> Result<Vec<RawEntry>, BackendError> {
        self.backend.inner.check_open()?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let inner = &self.backend.inner;
        let client = inner.pool.next();
        let count = Some(count as u64);
        let reply: Result<Value, FredError> = if rev {
            client.xrevrange(inner.dlq.clone(), from, to, count).await
        } else {
            client.xrange(inner.dlq.clone(), from, to, count).await
        };
        parse_entries(
            reply.map_err(backend_error)?,
            if rev { "XREVRANGE" } else { "XRANGE" },
        )
    }

    /// Puts one dead letter back onto the main stream (as a new entry, first delivery again,
    /// same event id and metadata) and removes it from the dead-letter stream, atomically (a
    /// Lua script): of several replays of one entry racing each other, one puts it back and
    /// the others find it gone. Returns the new main-stream id, or `None` if there is no such
    /// dead letter (any more).
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
            .backend
            .inner
            .replay_entries(&[(entry.id, event, entry.meta)])
            .await?;
        Ok(ids.pop().map(|(_, new)| new))
    }

    /// Replays every dead letter that holds a valid event (see [`replay`](Self::replay)),
    /// oldest first, up to 100 per script call; malformed entries stay and are reported.
    /// Letters dead-lettered after the call started are left for the next one.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached; entries replayed before it stay
    /// replayed.
    pub async fn replay_all(&self) -> Result<ReplayAllReport, BackendError> {
        self.replay_matching(&DeadLetterFilter::new()).await
    }

    /// Replays every entry matching `filter` that holds a valid event, oldest first, up to the
    /// newest entry held when it starts: one script call per chunk of 100.
    pub(crate) async fn replay_matching(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<ReplayAllReport, BackendError> {
        let mut report = ReplayAllReport::default();
        let mut walk = self.walk().await?;
        while let Some(chunk) = self.walk_next(&mut walk).await? {
            let mut batch = Vec::with_capacity(chunk.len());
            for raw in &chunk {
                let entry = DlqEntry::from_raw(raw);
                if !filter.is_empty() && !DeadLetterEntry::from(entry.clone()).matches(filter) {
                    continue;
                }
                match entry.event {
                    Some(event) => batch.push((entry.id, event, entry.meta)),
                    None => {
                        let why = unreadable(&entry.raw_event);
                        report.skipped.push((entry.id, why));
                    }
                }
            }
            let replayed = self.backend.inner.replay_entries(&batch).await?;
            report.missing.extend(lost(&batch, &replayed));
            report.replayed.extend(replayed);
        }
        Ok(report)
    }

    /// Starts a walk over the entries held now, oldest first (up to the newest one now).
    pub(crate) async fn walk(&self) -> Result<Walk, BackendError> {
        let newest = self.rev_range("+", "-", 1).await?;
        Ok(Walk {
            start: "-".to_owned(),
            end: newest.first().map(|raw| raw.id.clone()),
        })
    }

    /// The walk's next chunk of up to 100 entries, or `None` at its end.
    pub(crate) async fn walk_next(
        &self,
        walk: &mut Walk,
    ) -> Result<Option<Vec<RawEntry>>, BackendError> {
        let Some(end) = walk.end.clone() else {
            return Ok(None);
        };
        let chunk = self.range(&walk.start, end.as_str(), PAGE).await?;
        match chunk.last() {
            Some(last) if chunk.len() == PAGE && last.id != end => {
                walk.start = format!("({}", last.id);
            }
            _ => walk.end = None,
        }
        Ok(Some(chunk).filter(|c| !c.is_empty()))
    }

    /// Deletes the entries of `ids` (one MULTI/EXEC of one `XDEL` each); returns, in order,
    /// whether each was there.
    pub(crate) async fn delete(&self, ids: &[EntryId]) -> Result<Vec<bool>, BackendError> {
        self.backend.inner.check_open()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.backend.inner;
        let tx = inner.pool.next().multi();
        for id in ids {
            let _: Value = tx
                .xdel(inner.dlq.clone(), id.as_str())
                .await
                .map_err(backend_error)?;
        }
        let reply: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC purge"))?;
        match reply {
            Value::Array(items) if items.len() == ids.len() => Ok(items
                .iter()
                .map(|v| value_u64(v).unwrap_or(0) > 0)
                .collect()),
            _ => Err(unexpected_reply("EXEC")),
        }
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
