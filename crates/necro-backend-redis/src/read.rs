//! Reading new entries: `XREADGROUP … BLOCK` on the reading connection (or without blocking on
//! a pooled one), sorting what it returns into deliveries and dead letters.

use std::time::Duration;

use fred::error::Error as FredError;
use fred::interfaces::{ClientLike, StreamsInterface};
use fred::types::Value;
use fred::types::config::Options;
use necro_core::{BackendError, Delivery};

use crate::connect::Inner;
use crate::entry::{EntryId, parse_xreadgroup};
use crate::error::{backend_error, is_nogroup};
use crate::record::classify;

/// Extra time a command is given beyond its own blocking time before fred gives up on it.
const MIN_COMMAND_SLACK: Duration = Duration::from_millis(500);

impl Inner {
    /// `XREADGROUP ... COUNT max [BLOCK wait] STREAMS key >`: on the reading connection when
    /// it blocks, otherwise on a pooled one, so that a spine's runners asking without waiting
    /// never queue behind another runner's `BLOCK`.
    pub(crate) async fn read_new(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<EntryId>>, BackendError> {
        let inner = self;
        let block = wait.min(inner.config.block_timeout);
        let block_ms = if block.is_zero() {
            None
        } else {
            Some(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1))
        };
        let options = Options {
            timeout: Some(block + inner.config.command_timeout.max(MIN_COMMAND_SLACK)),
            ..Options::default()
        };
        let mut retried = false;
        let reply = loop {
            let client = if block_ms.is_some() {
                &inner.reader
            } else {
                inner.pool.next()
            };
            let r: Result<Value, FredError> = client
                .with_options(&options)
                .xreadgroup(
                    inner.group.as_str(),
                    inner.consumer.as_str(),
                    Some(max as u64),
                    block_ms,
                    false,
                    inner.stream.clone(),
                    ">",
                )
                .await;
            match r {
                Ok(v) => break v,
                Err(e) if is_nogroup(&e) && !retried => {
                    retried = true;
                    self.ensure_group().await?;
                }
                Err(e) => return Err(backend_error(e)),
            }
        };
        let entries = parse_xreadgroup(reply)?;
        let mut deliveries = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut acks = Vec::new();
        let mut ignored_headers = 0;
        for entry in entries {
            let max_retries = inner.config.max_retries;
            if let Some(d) = classify(
                entry,
                1,
                max_retries,
                &mut records,
                &mut acks,
                &mut ignored_headers,
            ) {
                deliveries.push(d);
            }
        }
        inner.counters.headers_ignored(ignored_headers);
        self.write_dead_letters(&records, &acks).await?;
        inner.counters.pulled(deliveries.len() as u64);
        Ok(deliveries)
    }
}
