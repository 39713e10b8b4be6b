//! Everything that can go wrong, as one error type: `main` prints it as a single
//! `error: …` line, causes included, and exits with 1.

use necro_backend_redis::ConnectError;
use necro_core::BackendError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Connecting (or the connection options) failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Redis could not be reached or refused a command.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Neither the stream nor its dead-letter stream exists (a mistyped `--stream`?).
    #[error("stream {stream} does not exist (nor its dead-letter stream {dlq})")]
    NoStream {
        /// The main stream's key.
        stream: String,
        /// The dead-letter stream's key.
        dlq: String,
    },
    /// The stream has no such consumer group.
    #[error("consumer group {group} does not exist on stream {stream}")]
    NoGroup {
        /// The stream's key.
        stream: String,
        /// The group.
        group: String,
    },
    /// Ids given on the command line that are not held.
    #[error("no dead letter {} in {dlq}", ids.join(", "))]
    UnknownIds {
        /// The dead-letter stream's key.
        dlq: String,
        /// The ids not held.
        ids: Vec<String>,
    },
    /// A replay or purge with neither ids, `--all` nor a filter.
    #[error("nothing selected: give dead-letter ids, --all, or a filter (--organ, --kind, --type)")]
    NothingSelected,
    /// A replay or purge without `--yes` while standard input is not a terminal.
    #[error(
        "refusing to {action} {count} dead letter(s) without confirmation: standard input is not a terminal; pass --yes"
    )]
    NotConfirmed {
        /// `replay` or `purge`.
        action: &'static str,
        /// How many letters were selected.
        count: usize,
    },
    /// A bulk action failed part way: what was done before stays done.
    #[error("{action} stopped after {done} of {total} dead letter(s)")]
    Partial {
        /// `replay` or `purge`.
        action: &'static str,
        /// How many were replayed or purged before the failure.
        done: usize,
        /// How many were selected.
        total: usize,
        /// Why it stopped.
        #[source]
        source: BackendError,
    },
    /// The operator answered no.
    #[error("aborted; nothing was changed")]
    Aborted,
    /// Reading the answer to the confirmation failed.
    #[error("could not read the confirmation from standard input")]
    Prompt(#[source] std::io::Error),
    /// Writing the output failed.
    #[error("could not write to standard output")]
    Output(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The output could not be encoded as JSON.
    #[error("could not encode the output as JSON")]
    Json(#[from] serde_json::Error),
}
