//! Configuration: the Python original's option names and defaults, validated at build time.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
pub use crate::redis_url::mask_url;
use crate::redis_url::validate_url;
use crate::retention::RetentionPolicy;

/// The default stream key, shared with the Python NecroStack.
pub const DEFAULT_STREAM_KEY: &str = "necrostack:events";
/// The default consumer group, shared with the Python NecroStack.
pub const DEFAULT_CONSUMER_GROUP: &str = "necrostack";
/// The default number of pooled connections for non-blocking commands.
pub const DEFAULT_POOL_SIZE: usize = 10;
/// The default number of deliveries before an entry is dead-lettered.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The default idle time after which another consumer may claim a pending entry.
pub const DEFAULT_CLAIM_MIN_IDLE_MS: u64 = 30_000;
/// The default largest number of entries one pull reads.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// The default longest time one pull blocks in `XREADGROUP`.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The default timeout of every non-blocking command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// The default timeout of the initial connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Validated settings of a [`RedisBackend`](crate::RedisBackend).
///
/// Built with [`RedisConfig::builder`] (or [`RedisBackend::builder`](crate::RedisBackend::builder)),
/// or from `NECRO_*` environment variables with [`RedisConfig::builder_from_env`].
/// Option names and defaults follow the Python NecroStack's `RedisBackend`:
///
/// | option | default |
/// |---|---|
/// | `redis_url` | (required) `redis://` or `rediss://`, with optional `user:password@` and `/db` |
/// | `stream_key` | `necrostack:events` |
/// | `consumer_group` | `necrostack` |
/// | `consumer_name` | unique per process: `{host}-{pid}-{random}` |
/// | `pool_size` | 10 |
/// | `max_retries` | 3 deliveries before dead-lettering |
/// | `claim_min_idle_ms` | 30,000 |
/// | `dlq_stream` | `{stream_key}:dlq` |
/// | `batch_size` | 100 (caps one pull) |
/// | `block_timeout` | 5 s (caps one pull's blocking read) |
/// | `max_len` | none (approximate `MAXLEN ~` trim on every `XADD` when set) |
/// | `command_timeout` | 5 s |
/// | `connect_timeout` | 10 s |
/// | `python_compatible` | false (see [`RedisConfigBuilder::python_compatible`]) |
/// | `create_group` | true (see [`RedisConfigBuilder::create_group`]) |
/// | `retention` | on: see [`RetentionPolicy`] |
///
/// `Debug` masks the password.
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) redis_url: String,
    pub(crate) masked_url: String,
    pub(crate) stream_key: String,
    pub(crate) consumer_group: String,
    pub(crate) consumer_name: String,
    pub(crate) pool_size: usize,
    pub(crate) max_retries: u32,
    pub(crate) claim_min_idle: Duration,
    pub(crate) claim_interval: Duration,
    pub(crate) dlq_stream: String,
    pub(crate) batch_size: usize,
    pub(crate) block_timeout: Duration,
    pub(crate) max_len: Option<u64>,
    pub(crate) command_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) python_compatible: bool,
    pub(crate) create_group: bool,
    pub(crate) tls: Option<crate::tls::TlsOptions>,
    pub(crate) retention: RetentionPolicy,
}

impl RedisConfig {
    /// Starts a builder for the given URL, with every other option at its default.
    pub fn builder(redis_url: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder::new(redis_url)
    }

    /// The URL with the password replaced by `****` (scheme, user, host, port and db kept).
    #[must_use]
    pub fn masked_url(&self) -> &str {
        &self.masked_url
    }

    /// The main stream's key.
    #[must_use]
    pub fn stream_key(&self) -> &str {
        &self.stream_key
    }

    /// The consumer group.
    #[must_use]
    pub fn consumer_group(&self) -> &str {
        &self.consumer_group
    }

    /// This process's consumer name within the group.
    #[must_use]
    pub fn consumer_name(&self) -> &str {
        &self.consumer_name
    }

    /// Pooled connections for non-blocking commands (the blocking read has one more of its own).
    #[must_use]
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// Deliveries before an entry is dead-lettered.
    #[must_use]
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Idle time after which a pending entry may be claimed by another consumer.
    #[must_use]
    pub fn claim_min_idle(&self) -> Duration {
        self.claim_min_idle
    }

    /// How often a pull looks for claimable entries (see [`RedisConfigBuilder::claim_interval`]).
    #[must_use]
    pub fn claim_interval(&self) -> Duration {
        self.claim_interval
    }

    /// The dead-letter stream's key.
    #[must_use]
    pub fn dlq_stream(&self) -> &str {
        &self.dlq_stream
    }

    /// The largest number of entries one pull reads.
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The longest time one pull blocks.
    #[must_use]
    pub fn block_timeout(&self) -> Duration {
        self.block_timeout
    }

    /// The approximate maximum stream length, if trimming is on.
    #[must_use]
    pub fn max_len(&self) -> Option<u64> {
        self.max_len
    }

    /// The timeout of every non-blocking command.
    #[must_use]
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// The timeout of the initial connection.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether events a Python consumer would refuse are refused at write time (see
    /// [`RedisConfigBuilder::python_compatible`]).
    #[must_use]
    pub fn python_compatible(&self) -> bool {
        self.python_compatible
    }

    /// Whether connecting creates a missing group ([`RedisConfigBuilder::create_group`]).
    #[must_use]
    pub fn create_group(&self) -> bool {
        self.create_group
    }

    /// The retention policy ([`RedisConfigBuilder::retention`]).
    pub fn retention(&self) -> &RetentionPolicy {
        &self.retention
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("redis_url", &self.masked_url)
            .field("stream_key", &self.stream_key)
            .field("consumer_group", &self.consumer_group)
            .field("consumer_name", &self.consumer_name)
            .field("pool_size", &self.pool_size)
            .field("max_retries", &self.max_retries)
            .field("claim_min_idle", &self.claim_min_idle)
            .field("claim_interval", &self.claim_interval)
            .field("dlq_stream", &self.dlq_stream)
            .field("batch_size", &self.batch_size)
            .field("block_timeout", &self.block_timeout)
            .field("max_len", &self.max_len)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("python_compatible", &self.python_compatible)
            .field("create_group", &self.create_group)
            .field("tls", &self.tls)
            .field("retention", &self.retention)
            .finish()
    }
}

/// Builds a [`RedisConfig`]; every setter takes and returns `self`, and [`build`](Self::build)
/// validates everything at once.
///
/// ```
/// use std::time::Duration;
/// use necro_backend_redis::RedisConfig;
///
/// let config = RedisConfig::builder("redis://:s3cret@localhost:6379/0")
///     .stream_key("orders")
///     .consumer_group("workers")
///     .max_retries(5)
///     .claim_min_idle(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(config.dlq_stream(), "orders:dlq");
/// assert_eq!(config.masked_url(), "redis://:****@localhost:6379/0");
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// assert!(RedisConfig::builder("http://localhost").build().is_err());
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisConfigBuilder {
    redis_url: String,
    stream_key: String,
    consumer_group: String,
    consumer_name: Option<String>,
    pool_size: usize,
    max_retries: u32,
    claim_min_idle: Duration,
    claim_interval: Option<Duration>,
    dlq_stream: Option<String>,
    batch_size: usize,
    block_timeout: Duration,
    max_len: Option<u64>,
    command_timeout: Duration,
    connect_timeout: Duration,
    python_compatible: bool,
    create_group: bool,
    tls: Option<crate::tls::TlsOptions>,
    retention: RetentionPolicy,
}

impl fmt::Debug for RedisConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfigBuilder")
            .field("redis_url", &mask_url(&self.redis_url))
            .field("stream_key", &self.stream_key)
            .field("consumer_group", &self.consumer_group)
            .field("consumer_name", &self.consumer_name)
            .finish_non_exhaustive()
    }
}

impl RedisConfigBuilder {
    /// A builder for `redis_url` with every other option at its default.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            stream_key: DEFAULT_STREAM_KEY.to_owned(),
            consumer_group: DEFAULT_CONSUMER_GROUP.to_owned(),
            consumer_name: None,
            pool_size: DEFAULT_POOL_SIZE,
            max_retries: DEFAULT_MAX_RETRIES,
            claim_min_idle: Duration::from_millis(DEFAULT_CLAIM_MIN_IDLE_MS),
            claim_interval: None,
            dlq_stream: None,
            batch_size: DEFAULT_BATCH_SIZE,
            block_timeout: DEFAULT_BLOCK_TIMEOUT,
            max_len: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            python_compatible: false,
            create_group: true,
            tls: None,
            retention: RetentionPolicy::new(),
        }
    }

    /// The main stream's key (default `necrostack:events`).
    pub fn stream_key(mut self, key: impl Into<String>) -> Self {
        self.stream_key = key.into();
        self
    }

    /// The consumer group (default `necrostack`).
    pub fn consumer_group(mut self, group: impl Into<String>) -> Self {
        self.consumer_group = group.into();
        self
    }

    /// This worker's consumer name (default unique per process: `{host}-{pid}-{random}`).
    ///
    /// Give every live worker its own name: two processes sharing a name would hide each
    /// other's orphaned pending entries.
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer_name = Some(name.into());
        self
    }

    /// Pooled connections for non-blocking commands (default 10, 1..=1024).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Deliveries before an entry is dead-lettered (default 3, at least 1).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Idle time after which a pending entry may be claimed by another consumer (default 30 s).
    pub fn claim_min_idle(mut self, idle: Duration) -> Self {
        self.claim_min_idle = idle;
        self
    }

    /// Like [`claim_min_idle`](Self::claim_min_idle), in milliseconds (the Python option).
    pub fn claim_min_idle_ms(self, ms: u64) -> Self {
        self.claim_min_idle(Duration::from_millis(ms))
    }

    /// How often a pull runs `XAUTOCLAIM` (default a quarter of `claim_min_idle`, between 10 ms
    /// and 5 s). The first pull always does, and so does the pull after a local nack.
    pub fn claim_interval(mut self, interval: Duration) -> Self {
        self.claim_interval = Some(interval);
        self
    }

    /// The dead-letter stream's key (default `{stream_key}:dlq`).
    pub fn dlq_stream(mut self, key: impl Into<String>) -> Self {
        self.dlq_stream = Some(key.into());
        self
    }

    /// The largest number of entries one pull reads (default 100, 1..=100,000).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// The longest time one pull blocks in `XREADGROUP` (default 5 s). Zero never blocks.
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = timeout;
        self
    }

    /// Trims the main stream to about `n` entries on every `XADD` (`MAXLEN ~ n`).
    ///
    /// Off by default: it may drop entries that are still pending. Prefer the
    /// [`retention`](Self::retention) policy, which never does.
    pub fn max_len(mut self, n: u64) -> Self {
        self.max_len = Some(n);
        self
    }

    /// The timeout of every non-blocking command (default 5 s). A command that cannot be sent
    /// while Redis is unreachable fails after it, so the caller sees the outage.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The timeout of the initial connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Refuses to write events a Python NecroStack consumer would dead-letter (default
    /// `false`): turn it on for a stream that Python consumers read.
    ///
    /// Rust counts the payload limit, [`MAX_PAYLOAD_BYTES`](necro_core::MAX_PAYLOAD_BYTES),
    /// in bytes of compact UTF-8 JSON; Python counts the characters of `json.dumps(payload)`,
    /// where a non-ASCII character costs 6 (`\uXXXX`) or 12 and separators carry spaces, so
    /// 333,330 CJK characters are 999,998 bytes to Rust and 1,999,989 to Python. With this on,
    /// every write of events (enqueue, commit, dead-letter replay) measures each payload the
    /// Python way too ([`python_payload_size`](crate::python_payload_size)) and refuses the
    /// whole call, writing nothing, with a
    /// [`PythonCompatError::PayloadTooLarge`](crate::PythonCompatError::PayloadTooLarge)
    /// (inside [`BackendError::Other`](necro_core::BackendError::Other)) when one is over the
    /// limit by that measure. Payloads under a sixth of the limit are never walked.
    pub fn python_compatible(mut self, on: bool) -> Self {
        self.python_compatible = on;
        self
    }

    /// Whether [`connect`](Self::connect) and [`Health`](necro_core::Health) create a missing
    /// group and stream (`XGROUP CREATE … MKSTREAM`; default `true`). Off for tools that only
    /// inspect or repair (the `necro` CLI): connecting then writes nothing. Pulls still recreate
    /// a group on `NOGROUP`. A backend that never pulls adds no consumer to the group.
    pub fn create_group(mut self, on: bool) -> Self {
        self.create_group = on;
        self
    }

    /// TLS settings of a `rediss://` URL: a CA file, a client certificate ([`TlsOptions`](crate::TlsOptions)).
    pub fn tls(mut self, options: crate::tls::TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// How much acknowledged history and how many dead letters to keep (default
    /// [`RetentionPolicy::new`]: on, bounded, never past an entry a group still needs).
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.retention = policy;
        self
    }

    /// Validates every option.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad option; URLs in it are masked.
    pub fn build(self) -> Result<RedisConfig, ConfigError> {
        let masked_url = mask_url(&self.redis_url);
        validate_url(&self.redis_url, &masked_url)?;
        crate::tls::check(&self.redis_url, self.tls.as_ref())?;
        let stream_key = non_empty("stream_key", self.stream_key)?;
        let consumer_group = non_empty("consumer_group", self.consumer_group)?;
        let consumer_name = match self.consumer_name {
            Some(name) => non_empty("consumer_name", name)?,
            None => default_consumer_name(),
        };
        let dlq_stream = match self.dlq_stream {
            Some(key) => non_empty("dlq_stream", key)?,
            None => format!("{stream_key}:dlq"),
        };
        if dlq_stream == stream_key {
            return Err(ConfigError::DlqIsMainStream { stream: stream_key });
        }
        in_range("pool_size", self.pool_size, 1, 1024, "1..=1024")?;
        in_range("batch_size", self.batch_size, 1, 100_000, "1..=100000")?;
        if self.max_retries == 0 {
            return Err(out_of_range("max_retries", "0".to_owned(), "at least 1"));
        }
        if self.claim_min_idle < Duration::from_millis(1) {
            return Err(out_of_range(
                "claim_min_idle",
                format!("{:?}", self.claim_min_idle),
                "at least 1 ms",
            ));
        }
        let claim_interval = match self.claim_interval {
            Some(i) => i,
            None => {
                (self.claim_min_idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(5))
            }
        };
        if let Some(n) = self.max_len
            && n == 0
        {
            return Err(out_of_range("max_len", "0".to_owned(), "at least 1"));
        }
        for (option, d) in [
            ("command_timeout", self.command_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if d < Duration::from_millis(1) {
                return Err(out_of_range(option, format!("{d:?}"), "at least 1 ms"));
            }
        }
        self.retention.validate()?;
        Ok(RedisConfig {
            redis_url: self.redis_url,
            masked_url,
            stream_key,
            consumer_group,
            consumer_name,
            pool_size: self.pool_size,
            max_retries: self.max_retries,
            claim_min_idle: self.claim_min_idle,
            claim_interval,
            dlq_stream,
            batch_size: self.batch_size,
            block_timeout: self.block_timeout,
            max_len: self.max_len,
            command_timeout: self.command_timeout,
            connect_timeout: self.connect_timeout,
            python_compatible: self.python_compatible,
            create_group: self.create_group,
            tls: self.tls,
            retention: self.retention,
        })
    }
}

fn non_empty(option: &'static str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::Empty { option })
    } else {
        Ok(value)
    }
}

fn out_of_range(option: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        option,
        value,
        expected,
    }
}

fn in_range(
    option: &'static str,
    value: usize,
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(out_of_range(option, value.to_string(), expected))
    }
}

fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| read_trimmed("/proc/sys/kernel/hostname"))
        .or_else(|| read_trimmed("/etc/hostname"))
        .unwrap_or_else(|| "host".to_owned());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(8)
        .collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_match_the_python_original() {
        let c = RedisConfig::builder("redis://127.0.0.1:6379")
            .build()
            .unwrap();
        assert_eq!(c.stream_key(), "necrostack:events");
        assert_eq!(c.consumer_group(), "necrostack");
        assert_eq!(c.dlq_stream(), "necrostack:events:dlq");
        assert_eq!(c.pool_size(), 10);
        assert_eq!(c.max_retries(), 3);
        assert_eq!(c.claim_min_idle(), Duration::from_millis(30_000));
        assert_eq!(
            c.claim_interval(),
            Duration::from_millis(7_500).min(Duration::from_secs(5))
        );
        assert_eq!(c.max_len(), None);
        assert!(!c.python_compatible());
    }

    #[test]
    fn default_consumer_names_are_unique_and_carry_the_pid() {
        let a = RedisConfig::builder("redis://h").build().unwrap();
        let b = RedisConfig::builder("redis://h").build().unwrap();
        assert_ne!(a.consumer_name(), b.consumer_name());
        assert!(
            a.consumer_name()
                .contains(&format!("-{}-", std::process::id()))
        );
    }

    #[test]
    fn dlq_follows_a_custom_stream_key() {
        let c = RedisConfig::builder("redis://h")
            .stream_key("s")
            .build()
            .unwrap();
        assert_eq!(c.dlq_stream(), "s:dlq");
    }

    #[test]
    fn bad_options_are_typed_errors() {
        let b = || RedisConfig::builder("redis://h");
        assert!(matches!(
            RedisConfig::builder("http://h").build(),
            Err(ConfigError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            RedisConfig::builder("not a url").build(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            RedisConfig::builder("redis://h:99999").build(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            RedisConfig::builder("redis://h/notadb").build(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            b().stream_key(" ").build(),
            Err(ConfigError::Empty {
                option: "stream_key"
            })
        ));
        assert!(matches!(
            b().consumer_group("").build(),
            Err(ConfigError::Empty { .. })
        ));
        assert!(matches!(
            b().pool_size(0).build(),
            Err(ConfigError::OutOfRange {
                option: "pool_size",
                ..
            })
        ));
        assert!(matches!(
            b().max_retries(0).build(),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            b().batch_size(0).build(),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            b().max_len(0).build(),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            b().claim_min_idle_ms(0).build(),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            b().dlq_stream("necrostack:events").build(),
            Err(ConfigError::DlqIsMainStream { .. })
        ));
    }

    #[test]
    fn rediss_is_accepted_or_a_typed_error() {
        let r = RedisConfig::builder("rediss://:pw@h:6380").build();
        if cfg!(feature = "tls") {
            assert!(r.is_ok());
        } else {
            let e = r.unwrap_err();
            assert!(matches!(e, ConfigError::TlsNotEnabled { .. }));
            assert!(!e.to_string().contains("pw@"));
        }
    }

    #[test]
    fn password_never_shows() {
        let url = "redis://user:hunter2@localhost:6379/3";
        let c = RedisConfig::builder(url).build().unwrap();
        assert_eq!(c.masked_url(), "redis://user:****@localhost:6379/3");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", RedisConfig::builder(url)).contains("hunter2"));
        let e = RedisConfig::builder("redis://user:hunter2@localhost:6379/x")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn mask_hides_any_password(user in "[a-z]{0,8}", pw in "[A-Za-z0-9!#$%&*+,;=@/]{4,16}", port in 1u16..) {
            let url = format!("redis://{user}:{pw}@cache.local:{port}/1");
            let masked = mask_url(&url);
            prop_assert!(!masked.contains(&pw), "{masked}");
            prop_assert!(masked.starts_with("redis://"));
            let suffix = format!("@cache.local:{port}/1");
            prop_assert!(masked.ends_with(&suffix), "{masked}");
        }
    }
}
