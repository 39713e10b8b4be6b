//! Errors: connecting, and the mapping of fred's errors onto necro-core's `BackendError`.

use std::time::Duration;

use fred::error::{Error as FredError, ErrorKind};
use necro_core::{BackendError, BoxError};

use crate::config::ConfigError;

/// Why [`RedisBackend::connect`](crate::RedisBackend::connect) failed.
///
/// Its `Display` and `Debug` never contain a password: URLs are masked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// An option was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Redis could not be reached, refused the credentials or the handshake failed.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// The URL with its password masked.
        url: String,
        /// fred's complaint.
        #[source]
        source: BoxError,
    },
    /// Redis did not answer within the connect timeout.
    #[error("could not connect to {url} within {timeout:?}")]
    Timeout {
        /// The URL with its password masked.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The consumer group could not be created.
    #[error("could not create consumer group {group:?} on stream {stream:?}: {source}")]
    Group {
        /// The stream key.
        stream: String,
        /// The group.
        group: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

/// Maps a fred error to the backend error the spine understands: connection trouble,
/// timeouts and "server not ready" replies are [`BackendError::Connection`] (transient, see
/// [`BackendError::is_transient`]); other server replies are [`BackendError::Command`].
pub(crate) fn backend_error(err: FredError) -> BackendError {
    match err.kind() {
        ErrorKind::IO
        | ErrorKind::Canceled
        | ErrorKind::Routing
        | ErrorKind::Backpressure
        | ErrorKind::Timeout => BackendError::Connection(Box::new(err)),
        _ if is_connection_reply(&err) => BackendError::Connection(Box::new(err)),
        _ => BackendError::Command(Box::new(err)),
    }
}

/// Replies that mean "the server is not ready", which a retry after a while may fix.
fn is_connection_reply(err: &FredError) -> bool {
    let d = err.details();
    d.starts_with("LOADING")
        || d.starts_with("BUSY ")
        || d.starts_with("MASTERDOWN")
        || d.contains("connection")
}

/// Whether the server said the group (or the stream) does not exist.
pub(crate) fn is_nogroup(err: &FredError) -> bool {
    err.details().contains("NOGROUP")
}

/// Whether the server said the group exists already.
pub(crate) fn is_busygroup(err: &FredError) -> bool {
    err.details().contains("BUSYGROUP")
}

/// A protocol surprise: a reply of a shape the backend did not expect.
pub(crate) fn unexpected_reply(what: &str) -> BackendError {
    BackendError::Command(format!("unexpected reply to {what}").into())
}
