//! necro-core's `DeadLetterQueue` capability for [`RedisBackend`], on the dead-letter stream:
//! ids are the stream's entry ids; listings page with `XRANGE`/`XREVRANGE` and an exclusive
//! cursor, filtered in chunks within a bound per call; replays go through the atomic replay
//! script (`replay.rs`); purges delete by id, by filter or the whole stream.

use necro_core::{
    BackendError, DeadLetterEntry, DeadLetterId, DeadLetterPage, DeadLetterQuery,
    DeadLetterSelection, InvalidDeadLetterId, ListOrder, PurgeReport, ReplayReport,
};

use crate::backend::RedisBackend;
use crate::dlq::{PAGE, lost, unreadable};
use crate::entry::{EntryId, entry_id_millis};
use crate::record::DlqEntry;

/// The most entries one filtered listing call reads: past it the page ends early, with a
/// `next` cursor, so a huge dead-letter stream never makes one call unbounded.
pub(crate) const SCAN_LIMIT: usize = 10_000;

/// The dead-letter stream as necro-core's capability: what the `necro` command line and the
/// live page use, whatever the backend. The inherent [`dlq()`](RedisBackend::dlq) API keeps
/// the Redis-specific view ([`DlqEntry`](crate::DlqEntry) with the original entry id, the
/// consumer and a malformed entry's fields).
///
/// Entries become [`DeadLetterEntry`]s as `From<DlqEntry>` documents (entries the Python
/// original wrote lack some fields). Ids that are not stream entry ids (`{ms}-{seq}`) are not
/// held: `None`, or missing; as a cursor they are an [`InvalidDeadLetterId`].
impl necro_core::DeadLetterQueue for RedisBackend {
    /// `XLEN` of the dead-letter stream.
    async fn dead_letter_count(&self) -> Result<u64, BackendError> {
        self.dlq().count().await
    }

    /// `XRANGE` (oldest first) or `XREVRANGE` (newest first) from the cursor, exclusive.
    /// Unfiltered, one call reads `limit + 1` entries (to know whether there is a next page).
    /// Filtered, it reads chunks of 100 until `limit` entries match or the stream ends.
    /// Either way one call reads at most 10,000 entries: past that the page ends early
    /// (shorter than `limit`, possibly empty when filtered) with a `next` cursor past what
    /// was read, so a caller wanting more follows `next`.
    async fn dead_letter_page(
        &self,
        query: &DeadLetterQuery,
    ) -> Result<DeadLetterPage, BackendError> {
        page(self, query).await
    }

    async fn dead_letter(
        &self,
        id: &DeadLetterId,
    ) -> Result<Option<DeadLetterEntry>, BackendError> {
        Ok(self.dlq().get(id).await?.map(DeadLetterEntry::from))
    }

    /// Each replayed entry goes back onto the main stream and out of the dead-letter stream in
    /// one atomic step (see [`dlq().replay`](crate::DlqStream::replay)), up to 100 per
    /// script call. By filter or all: oldest first, up to the newest entry held when the call
    /// starts. Entries whose event cannot be read are skipped, with why.
    ///
    /// # Errors
    /// A [`BackendError`] if Redis could not be reached, or (with `python_compatible`) a chunk
    /// holds an event a Python consumer would refuse; entries replayed before stay replayed.
    async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<ReplayReport, BackendError> {
        let mut report = ReplayReport::default();
        let pairs = match selection {
            DeadLetterSelection::Ids(ids) => {
                let mut done = Vec::new();
                for chunk in ids.chunks(PAGE) {
                    let mut batch = Vec::with_capacity(chunk.len());
                    for id in chunk {
                        let Some(mut entry) = self.dlq().get(id).await? else {
                            report.missing.push(id.clone());
                            continue;
                        };
                        match entry.event.take() {
                            Some(event) => batch.push((entry.id, event, entry.meta)),
                            None => {
                                let why = unreadable(&entry.raw_event);
                                report.skipped.push((id.clone(), why));
                            }
                        }
                    }
                    let replayed = self.inner.replay_entries(&batch).await?;
                    report
                        .missing
                        .extend(lost(&batch, &replayed).iter().map(core_id));
                    done.extend(replayed);
                }
                done
            }
            DeadLetterSelection::Matching(filter) => {
                into_core(&mut report, self.dlq().replay_matching(filter).await?)
            }
            // `All`, and any selection added later: everything.
            _ => into_core(&mut report, self.dlq().replay_all().await?),
        };
        report.replayed = pairs.iter().map(|(id, _)| core_id(id)).collect();
        Ok(report)
    }

    /// By ids: one MULTI/EXEC of `XDEL`s per 100. By filter: a walk up to the newest entry
    /// held when the call starts, deleting the matching entries chunk by chunk. All: `DEL` of
    /// the whole dead-letter stream.
    async fn purge_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<PurgeReport, BackendError> {
        let dlq = self.dlq();
        let mut report = PurgeReport::default();
        let purge = async |ids: Vec<EntryId>, report: &mut PurgeReport| {
            let deleted = dlq.delete(&ids).await?;
            for (id, gone) in ids.iter().zip(deleted) {
                if gone {
                    report.purged += 1;
                } else {
                    report.missing.push(core_id(id));
                }
            }
            Ok::<(), BackendError>(())
        };
        match selection {
            DeadLetterSelection::Ids(ids) => {
                for chunk in ids.chunks(PAGE) {
                    let mut held = Vec::with_capacity(chunk.len());
                    for id in chunk {
                        if entry_id_millis(id.as_str()).is_some() {
                            held.push(EntryId::new(id));
                        } else {
                            report.missing.push(id.clone());
                        }
                    }
                    purge(held, &mut report).await?;
                }
            }
            DeadLetterSelection::Matching(filter) => {
                let mut walk = dlq.walk().await?;
                while let Some(chunk) = dlq.walk_next(&mut walk).await? {
                    let matching = chunk
                        .iter()
                        .map(|raw| DeadLetterEntry::from(DlqEntry::from_raw(raw)))
                        .filter(|e| e.matches(filter))
                        .map(|e| EntryId::new(e.id))
                        .collect();
                    purge(matching, &mut report).await?;
                }
            }
            // `All`, and any selection added later: everything.
            _ => report.purged = dlq.purge_all().await?,
        }
        Ok(report)
    }
}

fn core_id(id: &EntryId) -> DeadLetterId {
    DeadLetterId::new(id.as_str())
}

/// Moves the skipped and missing entries of the inherent report into the core one; returns
/// the replayed pairs.
fn into_core(report: &mut ReplayReport, from: crate::ReplayAllReport) -> Vec<(EntryId, EntryId)> {
    report.skipped = from
        .skipped
        .into_iter()
        .map(|(id, why)| (core_id(&id), why))
        .collect();
    report.missing = from.missing.iter().map(core_id).collect();
    from.replayed
}

/// The body of `dead_letter_page`.
async fn page(
    backend: &RedisBackend,
    query: &DeadLetterQuery,
) -> Result<DeadLetterPage, BackendError> {
    backend.inner.check_open()?;
    let newest_first = query.order == ListOrder::NewestFirst;
    let mut bound = match &query.after {
        Some(cursor) if entry_id_millis(cursor.as_str()).is_some() => format!("({cursor}"),
        Some(cursor) => return Err(InvalidDeadLetterId(cursor.clone()).into()),
        None if newest_first => "+".to_owned(),
        None => "-".to_owned(),
    };
    let far = if newest_first { "-" } else { "+" };
    if query.limit == 0 {
        return Ok(DeadLetterPage::default());
    }
    let dlq = backend.dlq();
    let filtered = !query.filter.is_empty();
    let mut entries: Vec<DeadLetterEntry> = Vec::new();
    let mut scanned = 0;
    loop {
        let want = if filtered {
            PAGE
        } else {
            (query.limit - entries.len()).saturating_add(1)
        }
        .min(SCAN_LIMIT - scanned);
        let chunk = if newest_first {
            dlq.rev_range(&bound, far, want).await?
        } else {
            dlq.range(&bound, far, want).await?
        };
        scanned += chunk.len();
        let ended = chunk.len() < want;
        let last = chunk.last().map(|raw| raw.id.clone());
        for raw in &chunk {
            let entry = DeadLetterEntry::from(DlqEntry::from_raw(raw));
            if !entry.matches(&query.filter) {
                continue;
            }
            if entries.len() == query.limit {
                // A match beyond the page: the next page starts after the page's last entry.
                let next = entries.last().map(|e| e.id.clone());
                return Ok(DeadLetterPage::new(entries, next));
            }
            entries.push(entry);
        }
        let Some(last) = last.filter(|_| !ended) else {
            return Ok(DeadLetterPage::new(entries, None));
        };
        if entries.len() == query.limit || scanned >= SCAN_LIMIT {
            // What was read past the page's last entry does not match: skip it.
            return Ok(DeadLetterPage::new(entries, Some(core_id(&last))));
        }
        bound = format!("({last}");
    }
}
