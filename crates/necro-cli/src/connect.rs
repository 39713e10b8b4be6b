//! Connecting the way an operator tool must: to the stream the options name, writing nothing
//! on the way (no consumer group, stream or consumer is created), and refusing a stream that
//! does not exist.

use std::time::Duration;

use necro_backend_redis::{RedisBackend, RetentionPolicy, StreamInfo};

use crate::cli::{Cli, Command, DlqCommand};
use crate::error::CliError;

/// Connects to the stream the options name (`create_group(false)`: nothing is created) and
/// checks that it, or its dead-letter stream, exists; returns the backend and what
/// [`RedisBackend::inspect`] saw.
pub(crate) async fn open(cli: &Cli) -> Result<(RedisBackend, StreamInfo), CliError> {
    let backend = RedisBackend::builder(cli.redis_url.as_str())
        .stream_key(cli.stream.as_str())
        .consumer_group(cli.group.as_str())
        .create_group(false)
        .retention(retention(cli))
        .pool_size(1)
        .connect_timeout(Duration::from_secs(5))
        .command_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    match known(&backend).await {
        Ok(info) => Ok((backend, info)),
        Err(e) => {
            let _ = backend.close().await;
            Err(e)
        }
    }
}

/// The retention policy the command reasons about: `necro dlq bound`'s bound, else the
/// default (the CLI never trims: with `create_group(false)` no retention task runs).
fn retention(cli: &Cli) -> RetentionPolicy {
    match &cli.command {
        Command::Dlq(DlqCommand::Bound(args)) => RetentionPolicy::new()
            .dlq_max_entries(args.max_entries)
            .dlq_max_age(args.max_age),
        _ => RetentionPolicy::new(),
    }
}

/// The stream's state, or [`CliError::NoStream`] when neither it nor its dead-letter stream
/// exists.
async fn known(backend: &RedisBackend) -> Result<StreamInfo, CliError> {
    let info = backend.inspect().await?;
    if info.exists || info.dlq_exists {
        Ok(info)
    } else {
        Err(CliError::NoStream {
            stream: info.stream,
            dlq: info.dlq_stream,
        })
    }
}
