//! Errors: rejected options, connecting, and the mapping of fred's errors onto necro-core's
//! `BackendError`.

use std::time::Duration;

use fred::error::{Error as FredError, ErrorKind};
use necro_core::{BackendError, BoxError};

/// A configuration option that was rejected at build time.
///
/// Its `Display` never contains a password: URLs are masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Redis URL could not be parsed.
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// The URL parser's error, when it was the parser that refused.
        #[source]
        source: Option<url::ParseError>,
    },
    /// The URL's scheme is neither `redis` nor `rediss`.
    #[error("unsupported Redis URL scheme {scheme:?} (expected redis:// or rediss://)")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// A `rediss://` URL was given but the crate was built without its `tls` feature.
    #[error("{url} needs TLS; enable the `tls` feature of necro-backend-redis")]
    TlsNotEnabled {
        /// The URL with its password masked.
        url: String,
    },
    /// A name option (stream key, group, consumer, DLQ stream) was empty or blank.
    #[error("option `{option}` must not be empty")]
    Empty {
        /// The option's name.
        option: &'static str,
    },
    /// A numeric option was out of its range.
    #[error("option `{option}` is {value}, expected {expected}")]
    OutOfRange {
        /// The option's name.
        option: &'static str,
        /// The value given.
        value: String,
        /// The accepted range.
        expected: &'static str,
    },
    /// The dead-letter stream is the main stream.
    #[error("the dead-letter stream must differ from the main stream ({stream:?})")]
    DlqIsMainStream {
        /// The shared key.
        stream: String,
    },
    /// A required environment variable is not set (see
    /// [`RedisConfig::builder_from_env`](crate::RedisConfig::builder_from_env)).
    #[error("environment variable {var} is not set")]
    MissingEnv {
        /// The variable's name, e.g. `NECRO_REDIS_URL`.
        var: &'static str,
    },
    /// An environment variable is set to a value that cannot be read (see
    /// [`RedisConfig::builder_from_env`](crate::RedisConfig::builder_from_env)). Values that
    /// read but are out of range are reported by `build()` as [`OutOfRange`](Self::OutOfRange)
    /// under the option's name.
    #[error("environment variable {var} is {value:?}, expected {expected}")]
    InvalidEnv {
        /// The variable's name, e.g. `NECRO_MAX_RETRIES`.
        var: &'static str,
        /// The value found (lossily decoded when it is not UTF-8).
        value: String,
        /// What the variable takes.
        expected: &'static str,
        /// The number parser's error, when it was the parser that refused.
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// A TLS option cannot be used: a CA or client certificate file that cannot be read or holds
    /// nothing usable, or TLS options on a URL that is not `rediss://`.
    #[error("TLS options: {reason}")]
    Tls {
        /// What is wrong, with the file's path.
        reason: String,
    },
}

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
    /// The TLS handshake failed: the server's certificate was refused (unknown CA, wrong
    /// name, expired), or the server refused this client's.
    #[error("TLS with {url} failed: {source}")]
    Tls {
        /// The URL with its password masked.
        url: String,
        /// Why.
        #[source]
        source: TlsRefusal,
    },
    /// The ACL user of the URL lacks a permission NecroStack needs (Redis answered `NOPERM`
    /// while connecting or creating the group); `docs/redis.md` gives the rule it needs.
    #[error("Redis at {url} refused a command: {source}")]
    NoPermission {
        /// The URL with its password masked.
        url: String,
        /// Which command was refused.
        #[source]
        source: NoPermission,
    },
    /// Redis's `maxmemory-policy` may evict the stream keys, and the retention policy says
    /// to refuse ([`EvictionCheck::Refuse`](crate::EvictionCheck::Refuse)).
    #[error(
        "Redis at {url} has maxmemory-policy {policy}, which may evict the stream keys and lose events silently; use noeviction (or a volatile-* policy)"
    )]
    EvictionPolicy {
        /// The URL with its password masked.
        url: String,
        /// The policy Redis reported.
        policy: String,
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

/// Why a TLS handshake with Redis failed, as far as it can be told: the source of a
/// [`ConnectError::Tls`](crate::ConnectError::Tls).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsRefusal {
    /// The server's certificate is not signed by a trusted CA.
    #[error("the server's certificate is not signed by a trusted CA (unknown issuer)")]
    UnknownIssuer,
    /// The server's certificate is not valid for the host name in the URL.
    #[error("the server's certificate is not valid for the host name in the URL")]
    NameMismatch,
    /// The server's certificate has expired or is not valid yet.
    #[error("the server's certificate has expired or is not valid yet")]
    NotValidNow,
    /// The server asked for a client certificate and got none it accepts.
    #[error(
        "the server refused the client's certificate, or wants one (see TlsOptions::client_certificate)"
    )]
    ClientCertificate,
    /// The server does not speak TLS on that port (or not a version this client does).
    #[error("the server did not answer as a TLS server: {0}")]
    NotTls(String),
    /// Another TLS failure, in the TLS library's words.
    #[error("TLS handshake failed: {0}")]
    Other(String),
}

impl TlsRefusal {
    /// Reads a failure out of the text of a connection error (rustls's `Debug` names, as fred
    /// keeps them); `None` when the text is not about TLS.
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        let has = |s: &str| text.contains(s);
        Some(if has("UnknownIssuer") {
            Self::UnknownIssuer
        } else if has("NotValidForName") {
            Self::NameMismatch
        } else if has("Expired") || has("NotValidYet") {
            Self::NotValidNow
        } else if has("CertificateRequired")
            || has("BadCertificate")
            || has("UnknownCA")
            || has("DecryptError")
        {
            Self::ClientCertificate
        } else if has("InvalidContentType") || has("CorruptMessage") || has("InvalidMessage") {
            Self::NotTls(text.to_owned())
        } else if has("InvalidCertificate") || has("AlertReceived") || has("HandshakeFailure") {
            Self::Other(text.to_owned())
        } else {
            return None;
        })
    }
}

/// Redis refused a command because the connection's ACL user lacks the permission (`NOPERM`).
///
/// Found as the source of a [`BackendError::Command`] (not transient: the same call fails
/// the same way until the ACL changes) or in [`ConnectError::NoPermission`]. `docs/redis.md`
/// lists the rule NecroStack needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct NoPermission {
    command: Option<String>,
    message: String,
}

impl NoPermission {
    /// Reads a `NOPERM …` reply; `None` for any other text.
    pub(crate) fn from_reply(details: &str) -> Option<Self> {
        let at = details.find("NOPERM")?;
        let message = details[at..].trim().to_owned();
        // Redis 6/7: "… no permissions to run the 'xack' command"; 7.2 may quote with '' too.
        let command = message
            .split_once("run the '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(cmd, _)| cmd.to_ascii_uppercase());
        Some(Self { command, message })
    }

    /// The refused command (`XACK`, `XINFO|GROUPS`, …) when Redis named it; `None` when it
    /// refused a key or channel of the command instead.
    #[must_use]
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// Redis's reply, `NOPERM …`.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    fn describe(&self) -> String {
        match &self.command {
            Some(cmd) => format!(
                "the ACL user may not run {cmd} (NOPERM; see the ACL rule in docs/redis.md): {}",
                self.message
            ),
            None => format!(
                "the ACL user may not use a key or channel of this command (NOPERM; see the ACL rule in docs/redis.md): {}",
                self.message
            ),
        }
    }
}

/// Maps a fred error to the backend error the spine understands: connection trouble,
/// timeouts and "server not ready" replies are [`BackendError::Connection`] (transient, see
/// [`BackendError::is_transient`]); other server replies are [`BackendError::Command`].
/// Either way the cause is a [`RedisError`], which reads as prose.
pub(crate) fn backend_error(err: FredError) -> BackendError {
    if let Some(refused) = NoPermission::from_reply(err.details()) {
        return BackendError::Command(Box::new(refused));
    }
    let connection = matches!(
        err.kind(),
        ErrorKind::IO
            | ErrorKind::Canceled
            | ErrorKind::Routing
            | ErrorKind::Backpressure
            | ErrorKind::Timeout
    ) || is_connection_reply(&err);
    let source = Box::new(RedisError::from(err));
    if connection {
        BackendError::Connection(source)
    } else {
        BackendError::Command(source)
    }
}

/// Maps the error of a write that was sent to Redis (an `XADD` or a `MULTI`/`EXEC`): when
/// it is connection trouble or a timeout, Redis may still have run it, or run it when it
/// answers again, so the error says the outcome is unknown ([`WriteOutcomeUnknown`]). It stays
/// a [`BackendError::Connection`] (transient, unreachable).
pub(crate) fn sent_write_error(err: FredError, what: &'static str) -> BackendError {
    match backend_error(err) {
        BackendError::Connection(source) => {
            BackendError::Connection(Box::new(WriteOutcomeUnknown { what, source }))
        }
        other => other,
    }
}

/// A write (an `XADD`, or the `MULTI`/`EXEC` of an enqueue, a commit, a replay or a dead
/// letter) failed with a timeout or a broken connection after it was sent: whether Redis
/// applied it is unknown. It may have, or may still when it answers again (a paused or
/// overloaded server runs what it had received), so its events may be written although the
/// call failed. At-least-once delivery covers it: the caller treats the write as failed, and
/// the events it then writes again, or that are handled again, may appear twice.
///
/// Found as the source of a [`BackendError::Connection`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the outcome is unknown: the {what} was sent and Redis may still apply it, writing its events although this call failed (at-least-once: they may appear twice): {source}"
)]
pub struct WriteOutcomeUnknown {
    what: &'static str,
    #[source]
    source: BoxError,
}

impl WriteOutcomeUnknown {
    /// What was sent: `XADD`, `MULTI/EXEC commit`, ….
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }
}

/// A fred error as prose. fred keeps an I/O error only as its `Debug` text (`Os { code: 111,
/// kind: ConnectionRefused, .. }`); this turns it back into the [`std::io::Error`] it was,
/// shown as `Connection refused (os error 111)` and kept as the source.
#[derive(Debug)]
pub(crate) struct RedisError {
    kind: ErrorKind,
    details: String,
    io: Option<std::io::Error>,
}

impl From<FredError> for RedisError {
    fn from(err: FredError) -> Self {
        let io = if *err.kind() == ErrorKind::IO {
            parse_io_debug(err.details())
        } else {
            None
        };
        Self {
            kind: err.kind().clone(),
            details: err.details().to_owned(),
            io,
        }
    }
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(io) = &self.io {
            return std::fmt::Display::fmt(io, f);
        }
        let what = match self.kind {
            ErrorKind::IO => "I/O error",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::Timeout => "no reply from Redis within the command timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Routing | ErrorKind::Cluster => "no server to send to",
            ErrorKind::Backpressure => "too many commands in flight",
            ErrorKind::Url => "invalid URL",
            ErrorKind::Config => "invalid client configuration",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Parse => "unexpected reply",
            ErrorKind::NotFound => "not found",
            // Server replies (`ERR …`, `NOGROUP …`) and the rest speak for themselves.
            _ => return f.write_str(&self.details),
        };
        // fred's own words for a timeout add nothing.
        if self.details.is_empty()
            || (self.kind == ErrorKind::Timeout && self.details == "Request timed out.")
        {
            f.write_str(what)
        } else {
            write!(f, "{what}: {}", self.details.trim_end_matches('.'))
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_ref().map(|e| e as _)
    }
}

/// Rebuilds an I/O error from its `Debug` text: `Os { code: 111, kind: …, message: "…" }`,
/// `Kind(TimedOut)`, `Custom { kind: Other, error: "…" }` or `Error { kind: …, message: "…" }`.
fn parse_io_debug(text: &str) -> Option<std::io::Error> {
    use std::io::Error;
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("Os {") {
        let code = rest
            .split("code:")
            .nth(1)?
            .trim_start()
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .next()?
            .parse::<i32>()
            .ok()?;
        return Some(Error::from_raw_os_error(code));
    }
    if let Some(kind) = text.strip_prefix("Kind(").and_then(|r| r.strip_suffix(')')) {
        return Some(Error::from(io_kind(kind)?));
    }
    for (prefix, field) in [("Custom {", "error:"), ("Error {", "message:")] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let kind = rest
                .split("kind:")
                .nth(1)?
                .trim_start()
                .split([',', ' ', '}'])
                .next()
                .and_then(io_kind)
                .unwrap_or(std::io::ErrorKind::Other);
            let message = rest
                .split(field)
                .nth(1)?
                .trim()
                .trim_end_matches('}')
                .trim();
            let message = serde_json::from_str::<String>(message)
                .unwrap_or_else(|_| message.trim_matches('"').to_owned());
            return Some(Error::new(kind, message));
        }
    }
    None
}

/// The I/O error kinds a connection reports, by their `Debug` names.
fn io_kind(name: &str) -> Option<std::io::ErrorKind> {
    use std::io::ErrorKind as K;
    Some(match name.trim() {
        "ConnectionRefused" => K::ConnectionRefused,
        "ConnectionReset" => K::ConnectionReset,
        "ConnectionAborted" => K::ConnectionAborted,
        "NotConnected" => K::NotConnected,
        "AddrInUse" => K::AddrInUse,
        "AddrNotAvailable" => K::AddrNotAvailable,
        "HostUnreachable" => K::HostUnreachable,
        "NetworkUnreachable" => K::NetworkUnreachable,
        "NetworkDown" => K::NetworkDown,
        "BrokenPipe" => K::BrokenPipe,
        "TimedOut" => K::TimedOut,
        "UnexpectedEof" => K::UnexpectedEof,
        "PermissionDenied" => K::PermissionDenied,
        "InvalidData" => K::InvalidData,
        "InvalidInput" => K::InvalidInput,
        "Interrupted" => K::Interrupted,
        "WouldBlock" => K::WouldBlock,
        "Other" => K::Other,
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noperm_names_the_command() {
        let e = backend_error(FredError::new(
            ErrorKind::Unknown,
            "NOPERM this user has no permissions to run the 'xack' command",
        ));
        assert!(!e.is_transient());
        let BackendError::Command(source) = &e else {
            panic!("{e:?}")
        };
        let refused = source.downcast_ref::<NoPermission>().unwrap();
        assert_eq!(refused.command(), Some("XACK"));
        assert!(e.to_string().contains("XACK"), "{e}");
        let keys = NoPermission::from_reply(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        )
        .unwrap();
        assert_eq!(keys.command(), None);
        assert!(NoPermission::from_reply("ERR no such key").is_none());
    }

    fn prose(kind: ErrorKind, details: &str) -> String {
        necro_core::error_chain(&RedisError::from(FredError::new(kind, details.to_owned())))
    }

    #[test]
    fn io_errors_read_as_prose() {
        let refused = prose(
            ErrorKind::IO,
            r#"Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }"#,
        );
        assert_eq!(refused, std::io::Error::from_raw_os_error(111).to_string());
        assert_eq!(prose(ErrorKind::IO, "Kind(TimedOut)"), "timed out");
        assert_eq!(
            prose(
                ErrorKind::IO,
                r#"Custom { kind: Other, error: "tls said \"no\"" }"#
            ),
            r#"tls said "no""#
        );
        assert_eq!(
            prose(
                ErrorKind::IO,
                r#"Error { kind: UnexpectedEof, message: "failed to fill whole buffer" }"#
            ),
            "failed to fill whole buffer"
        );
        assert_eq!(
            prose(ErrorKind::IO, "Connection closed."),
            "I/O error: Connection closed"
        );
        assert_eq!(
            prose(ErrorKind::Timeout, "Request timed out."),
            "no reply from Redis within the command timeout"
        );
        assert_eq!(
            prose(ErrorKind::Unknown, "ERR no such key"),
            "ERR no such key"
        );
        assert!(
            !refused.contains("Os {") && !refused.contains("kind:"),
            "{refused}"
        );
    }
}
