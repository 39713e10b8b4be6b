//! Writes to the streams: enqueue (`XADD`, or one MULTI/EXEC for a batch), ack (`XACK`), the
//! atomic commit (the emitted events' `XADD`s and the sources' `XACK` in one MULTI/EXEC) and
//! the MULTI/EXEC that writes dead letters and acks their originals.

use fred::interfaces::{StreamsInterface, TransactionInterface};
use fred::types::Value;
use fred::types::streams::XCap;
use necro_core::{BackendError, DeadLetterKind, Envelope};
use tracing::{debug, warn};

use crate::connect::Inner;
use crate::entry::{EntryId, event_fields, value_u64};
use crate::error::{backend_error, sent_write_error};
use crate::record::{DlqRecord, kind_str};

impl Inner {
    /// `Backend::enqueue`: one `XADD`, or a MULTI/EXEC of `XADD`s for a batch.
    pub(crate) async fn enqueue(&self, batch: Vec<Envelope>) -> Result<(), BackendError> {
        self.check_open()?;
        self.check_python(batch.iter().map(|e| &e.event))?;
        let inner = self;
        match batch.len() {
            0 => return Ok(()),
            1 => {
                let e = &batch[0];
                let _: Value = inner
                    .pool
                    .next()
                    .xadd(
                        inner.stream.clone(),
                        false,
                        self.max_len_cap(),
                        "*",
                        event_fields(&e.event, &e.meta),
                    )
                    .await
                    .map_err(|e| sent_write_error(e, "XADD"))?;
            }
            _ => {
                let tx = inner.pool.next().multi();
                self.queue_xadds(&tx, &batch).await?;
                let _: Value = tx
                    .exec(true)
                    .await
                    .map_err(|e| sent_write_error(e, "MULTI/EXEC enqueue"))?;
            }
        }
        inner.counters.enqueued(batch.len() as u64);
        Ok(())
    }

    /// `Backend::ack`: one `XACK` for all the tokens.
    pub(crate) async fn ack(&self, tokens: Vec<EntryId>) -> Result<(), BackendError> {
        self.check_open()?;
        if tokens.is_empty() {
            return Ok(());
        }
        let n = self.xack(&tokens).await?;
        self.note_acked(tokens.len(), n);
        Ok(())
    }

    /// `Backend::commit`: the `XADD`s and the `XACK` in one MULTI/EXEC.
    pub(crate) async fn commit(
        &self,
        emitted: Vec<Envelope>,
        acks: Vec<EntryId>,
    ) -> Result<(), BackendError> {
        self.check_open()?;
        if emitted.is_empty() {
            return self.ack(acks).await;
        }
        if acks.is_empty() {
            return self.enqueue(emitted).await;
        }
        self.check_python(emitted.iter().map(|e| &e.event))?;
        let inner = self;
        let tx = inner.pool.next().multi();
        self.queue_xadds(&tx, &emitted).await?;
        let ids: Vec<&str> = acks.iter().map(EntryId::as_str).collect();
        let _: Value = tx
            .xack(inner.stream.clone(), inner.group.as_str(), ids)
            .await
            .map_err(backend_error)?;
        let reply: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC commit"))?;
        let acked = match &reply {
            Value::Array(items) => items.last().and_then(value_u64).unwrap_or(0),
            _ => 0,
        };
        inner.counters.enqueued(emitted.len() as u64);
        self.note_acked(acks.len(), acked);
        Ok(())
    }

    /// Queues one `XADD` per envelope into a MULTI/EXEC transaction (sent at `exec`).
    pub(crate) async fn queue_xadds(
        &self,
        tx: &fred::clients::Transaction,
        batch: &[Envelope],
    ) -> Result<(), BackendError> {
        for e in batch {
            let _: Value = tx
                .xadd(
                    self.stream.clone(),
                    false,
                    self.max_len_cap(),
                    "*",
                    event_fields(&e.event, &e.meta),
                )
                .await
                .map_err(backend_error)?;
        }
        Ok(())
    }

    pub(crate) fn max_len_cap(&self) -> XCap {
        self.cap.clone()
    }

    /// Writes dead letters and acks their originals (plus `extra_acks`) in one MULTI/EXEC.
    pub(crate) async fn write_dead_letters(
        &self,
        records: &[DlqRecord],
        extra_acks: &[EntryId],
    ) -> Result<(), BackendError> {
        self.check_open()?;
        if records.is_empty() && extra_acks.is_empty() {
            return Ok(());
        }
        let inner = self;
        let acks: Vec<&str> = records
            .iter()
            .filter_map(|r| r.original_id.as_ref().map(EntryId::as_str))
            .chain(extra_acks.iter().map(EntryId::as_str))
            .collect();
        let tx = inner.pool.next().multi();
        for r in records {
            let _: Value = tx
                .xadd(
                    inner.dlq.clone(),
                    false,
                    None::<()>,
                    "*",
                    r.fields(&inner.consumer),
                )
                .await
                .map_err(backend_error)?;
        }
        if !acks.is_empty() {
            let _: Value = tx
                .xack(inner.stream.clone(), inner.group.as_str(), acks)
                .await
                .map_err(backend_error)?;
        }
        let _: Value = tx
            .exec(true)
            .await
            .map_err(|e| sent_write_error(e, "MULTI/EXEC of dead letters"))?;
        let malformed = records
            .iter()
            .filter(|r| r.kind == DeadLetterKind::Malformed)
            .count();
        inner.counters.dead_lettered(records.len() as u64);
        inner.counters.malformed(malformed as u64);
        for r in records {
            warn!(
                stream = %inner.config.stream_key(),
                original_id = r.original_id.as_ref().map(EntryId::as_str).unwrap_or(""),
                kind = %kind_str(r.kind),
                attempts = r.attempts,
                reason = %r.reason,
                "dead-lettered"
            );
        }
        Ok(())
    }

    pub(crate) async fn xack(&self, ids: &[EntryId]) -> Result<u64, BackendError> {
        let inner = self;
        let ids: Vec<&str> = ids.iter().map(EntryId::as_str).collect();
        let n: Value = inner
            .pool
            .next()
            .xack(inner.stream.clone(), inner.group.as_str(), ids)
            .await
            .map_err(backend_error)?;
        Ok(value_u64(&n).unwrap_or(0))
    }

    pub(crate) fn note_acked(&self, requested: usize, acked: u64) {
        self.counters.acked(acked);
        if acked < requested as u64 {
            debug!(
                stream = %self.config.stream_key(),
                requested,
                acked,
                "some entries were already acknowledged"
            );
        }
    }
}
