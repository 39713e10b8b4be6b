//! The retention policy ([`RetentionPolicy`]): how much acknowledged history the main stream
//! keeps, how many dead letters the dead-letter stream keeps, and what to do when Redis may
//! evict the stream keys ([`EvictionCheck`]). The background task that applies it is in
//! `trim.rs`; the safe floor it never trims past is in `floor.rs`.

use std::time::Duration;

use crate::error::ConfigError;

/// The default number of entries the main stream is trimmed to (never past the safe floor).
pub const DEFAULT_RETENTION_MAX_ENTRIES: u64 = 100_000;
/// The default longest time an acknowledged entry is kept in the main stream.
pub const DEFAULT_RETENTION_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// The default interval between two trims (by one worker of the fleet at a time).
pub const DEFAULT_TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// The default largest number of dead letters kept in the dead-letter stream.
pub const DEFAULT_DLQ_MAX_ENTRIES: u64 = 100_000;

/// What [`connect`](crate::RedisBackend::connect) does when Redis's `maxmemory-policy` may
/// evict the stream keys (`allkeys-lru`, `allkeys-lfu`, `allkeys-random`): eviction deletes a
/// whole stream, pending entries included, without a word.
///
/// `volatile-*` policies evict only keys with a time to live, which the streams never have;
/// `noeviction` (Redis's default) refuses writes instead, which the backend reports as errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionCheck {
    /// Do not look.
    Off,
    /// Log a warning (the default).
    #[default]
    Warn,
    /// Refuse to connect ([`ConnectError::EvictionPolicy`](crate::ConnectError::EvictionPolicy)).
    Refuse,
}

/// How long the Redis backend keeps acknowledged entries and dead letters: storage stays
/// bounded by itself, and no entry that a consumer group still needs is ever removed.
///
/// **Main stream.** Every `interval`, one worker of the fleet (whichever holds a short lease,
/// the key `{stream}:trim-lease`) trims the stream with `XTRIM key MINID floor`, where the
/// floor is the smaller of
///
/// - the *safe floor*: for every consumer group (but the [ignored](Self::ignore_group) ones),
///   its oldest pending entry (`XPENDING`), or, with nothing pending, its last-delivered id
///   (`XINFO GROUPS`); entries not yet delivered to a group, and entries pending in a group,
///   are therefore never removed, and a group that stops consuming holds the floor back (it is
///   reported, never trimmed past);
/// - the *retention bound*: entries older than [`max_age`](Self::max_age) and entries beyond
///   the newest [`max_entries`](Self::max_entries) may go, so that much acknowledged history
///   stays for audit and replay.
///
/// The count is kept to within one interval's worth of entries (the trimmer remembers where
/// the stream's end was at each interval, from `XINFO STREAM`'s `entries-added`, Redis 7.0 and
/// later; on 6.2 only the age applies). A worker that takes the lease over starts that memory
/// afresh, so for up to `max_entries` more entries only the age applies.
/// The trim costs the hot path nothing: it runs on a background task, on the pool.
///
/// **Dead-letter stream.** At most [`dlq_max_entries`](Self::dlq_max_entries) (exact
/// `XTRIM … MAXLEN`) and, when set, none older than [`dlq_max_age`](Self::dlq_max_age)
/// (`XTRIM … MINID`), applied by the same task. Every drop is counted
/// (`necro_redis_dlq_dropped_total`) and logged at WARN; `necro dlq bound` shows what the bound
/// would drop next.
///
/// | setting | default |
/// |---|---|
/// | [`max_entries`](Self::max_entries) | 100,000 |
/// | [`max_age`](Self::max_age) | 24 h |
/// | [`interval`](Self::interval) | 1 s (the lease lasts three intervals) |
/// | [`ignore_group`](Self::ignore_group) | none |
/// | [`dlq_max_entries`](Self::dlq_max_entries) | 100,000 |
/// | [`dlq_max_age`](Self::dlq_max_age) | none |
/// | [`eviction_check`](Self::eviction_check) | [`EvictionCheck::Warn`] |
///
/// ```
/// use std::time::Duration;
/// use necro_backend_redis::{EvictionCheck, RedisConfig, RetentionPolicy};
///
/// let config = RedisConfig::builder("redis://127.0.0.1:6379")
///     .retention(
///         RetentionPolicy::new()
///             .max_entries(1_000_000)
///             .max_age(Duration::from_secs(7 * 24 * 3600))
///             .ignore_group("analytics-replay")
///             .dlq_max_age(Duration::from_secs(30 * 24 * 3600))
///             .eviction_check(EvictionCheck::Refuse),
///     )
///     .build()
///     .unwrap();
/// assert_eq!(config.retention().max_entries, Some(1_000_000));
///
/// // Trimming off altogether (the streams grow until you trim them yourself).
/// let keep = RetentionPolicy::keep_everything();
/// assert!(!keep.trims());
/// ```
///
/// The fields can be read (and set) directly; the methods of the same names set them in a
/// chain. [`RedisConfigBuilder::build`](crate::RedisConfigBuilder::build) validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Whether the background task runs at all (`false` for
    /// [`keep_everything`](Self::keep_everything)).
    pub enabled: bool,
    /// About how many entries the main stream keeps (more when a group still needs them).
    pub max_entries: Option<u64>,
    /// How long acknowledged entries stay in the main stream.
    pub max_age: Option<Duration>,
    /// How often the fleet trims.
    pub interval: Duration,
    /// Groups that do not hold the floor back.
    pub ignore_groups: Vec<String>,
    /// How many dead letters the dead-letter stream keeps.
    pub dlq_max_entries: Option<u64>,
    /// How long dead letters stay.
    pub dlq_max_age: Option<Duration>,
    /// What connecting does about an evicting `maxmemory-policy`.
    pub eviction_check: EvictionCheck,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetentionPolicy {
    /// The default policy (see the table above).
    pub fn new() -> Self {
        Self {
            enabled: true,
            max_entries: Some(DEFAULT_RETENTION_MAX_ENTRIES),
            max_age: Some(DEFAULT_RETENTION_MAX_AGE),
            interval: DEFAULT_TRIM_INTERVAL,
            ignore_groups: Vec::new(),
            dlq_max_entries: Some(DEFAULT_DLQ_MAX_ENTRIES),
            dlq_max_age: None,
            eviction_check: EvictionCheck::Warn,
        }
    }

    /// Never trims either stream (no background task runs); the eviction check still applies.
    pub fn keep_everything() -> Self {
        Self {
            enabled: false,
            max_entries: None,
            max_age: None,
            dlq_max_entries: None,
            dlq_max_age: None,
            ..Self::new()
        }
    }

    /// Keeps about this many entries in the main stream (`None`: no count bound). More stay
    /// when a group still needs them. `0` keeps no acknowledged history at all.
    pub fn max_entries(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_entries = n.into();
        self
    }

    /// Trims acknowledged entries older than this (by their id's timestamp and the server's
    /// clock; `None`: no age bound).
    pub fn max_age(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.max_age = age.into();
        self
    }

    /// How often the fleet trims (default 1 s, at least 10 ms): each worker tries for the
    /// lease this often, and the holder trims. The stream may grow by one interval's worth of
    /// entries past the bound between two trims.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// A consumer group that does not hold the floor back: its pending and undelivered
    /// entries may be trimmed (say, a replay or debugging group that reads occasionally).
    /// May be called several times.
    pub fn ignore_group(mut self, group: impl Into<String>) -> Self {
        self.ignore_groups.push(group.into());
        self
    }

    /// Keeps at most this many dead letters, dropping the oldest (`None`: no count bound).
    pub fn dlq_max_entries(mut self, n: impl Into<Option<u64>>) -> Self {
        self.dlq_max_entries = n.into();
        self
    }

    /// Drops dead letters older than this (`None`, the default: no age bound).
    pub fn dlq_max_age(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.dlq_max_age = age.into();
        self
    }

    /// What connecting does when Redis may evict the stream keys (default
    /// [`EvictionCheck::Warn`]).
    pub fn eviction_check(mut self, check: EvictionCheck) -> Self {
        self.eviction_check = check;
        self
    }

    /// Whether a background task trims at all (`false` only for
    /// [`keep_everything`](Self::keep_everything) or when no bound is set).
    #[must_use]
    pub fn trims(&self) -> bool {
        self.enabled
            && (self.max_entries.is_some()
                || self.max_age.is_some()
                || self.dlq_max_entries.is_some()
                || self.dlq_max_age.is_some())
    }

    /// How long the trim lease lasts: three intervals, so a live holder keeps it.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.interval.saturating_mul(3)
    }

    /// Whether the main stream is trimmed (a bound is set and trimming is on).
    pub(crate) fn trims_stream(&self) -> bool {
        self.enabled && (self.max_entries.is_some() || self.max_age.is_some())
    }

    /// Whether the dead-letter stream is bounded.
    pub(crate) fn bounds_dlq(&self) -> bool {
        self.enabled && (self.dlq_max_entries.is_some() || self.dlq_max_age.is_some())
    }

    /// Checks the interval and the group names.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.interval < Duration::from_millis(10) {
            return Err(ConfigError::OutOfRange {
                option: "retention.interval",
                value: format!("{:?}", self.interval),
                expected: "at least 10 ms",
            });
        }
        if self.ignore_groups.iter().any(|g| g.trim().is_empty()) {
            return Err(ConfigError::Empty {
                option: "retention.ignore_group",
            });
        }
        Ok(())
    }
}

/// Whether a `maxmemory-policy` may evict keys without a time to live (the streams).
pub(crate) fn evicts_streams(policy: &str) -> bool {
    policy.trim().to_ascii_lowercase().starts_with("allkeys-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_on_and_bounded() {
        let p = RetentionPolicy::default();
        assert!(p.trims() && p.trims_stream() && p.bounds_dlq());
        assert_eq!(p.max_entries, Some(DEFAULT_RETENTION_MAX_ENTRIES));
        assert_eq!(p.max_age, Some(DEFAULT_RETENTION_MAX_AGE));
        assert_eq!(p.dlq_max_entries, Some(DEFAULT_DLQ_MAX_ENTRIES));
        assert_eq!(p.dlq_max_age, None);
        assert_eq!(p.eviction_check, EvictionCheck::Warn);
        assert_eq!(p.lease(), Duration::from_secs(3));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn keep_everything_trims_nothing() {
        let p = RetentionPolicy::keep_everything();
        assert!(!p.trims() && !p.trims_stream() && !p.bounds_dlq());
        let p = RetentionPolicy::new()
            .max_entries(None)
            .max_age(None)
            .dlq_max_entries(None);
        assert!(!p.trims());
        assert!(RetentionPolicy::new().dlq_max_entries(None).trims_stream());
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let p = RetentionPolicy::new().interval(Duration::from_millis(1));
        assert!(matches!(p.validate(), Err(ConfigError::OutOfRange { .. })));
        let p = RetentionPolicy::new().ignore_group(" ");
        assert!(matches!(p.validate(), Err(ConfigError::Empty { .. })));
    }

    #[test]
    fn only_allkeys_policies_evict_streams() {
        for p in [
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "ALLKEYS-LRU",
        ] {
            assert!(evicts_streams(p), "{p}");
        }
        for p in [
            "noeviction",
            "volatile-lru",
            "volatile-ttl",
            "volatile-random",
            "",
        ] {
            assert!(!evicts_streams(p), "{p}");
        }
    }
}
