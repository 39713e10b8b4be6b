//! The command line's shape: every command, option and `--help` text (clap derive), and the
//! small value parsers it needs (durations, dead-letter kinds).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use necro_core::{DeadLetterFilter, DeadLetterKind};

/// NecroStack's operator command line: look at a stream, and find, read, replay or purge its
/// dead letters.
#[derive(Debug, Parser)]
#[command(name = "necro", version, propagate_version = true)]
#[command(after_help = "Examples:
  necro stats
  necro --stream orders:events dlq list --organ Mailer --since 1h
  NECRO_REDIS_URL=redis://:secret@cache:6379/0 necro --json stats")]
pub(crate) struct Cli {
    /// The Redis server (the password never shows in messages).
    #[arg(
        long,
        global = true,
        env = "NECRO_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub(crate) redis_url: String,
    /// The main stream's key; its dead letters are in `<stream>:dlq`.
    #[arg(
        long,
        global = true,
        env = "NECRO_STREAM",
        default_value = "necrostack:events"
    )]
    pub(crate) stream: String,
    /// The consumer group.
    #[arg(long, global = true, env = "NECRO_GROUP", default_value = "necrostack")]
    pub(crate) group: String,
    /// Machine-readable output: one JSON document on standard output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Stream length, consumer groups, each consumer's pending entries and idle time, lag,
    /// the oldest pending entry's age, and the dead-letter count.
    #[command(after_help = "Examples:
  necro stats
  necro --stream orders:events --json stats")]
    Stats,
    /// Dead letters: list, show, replay, purge.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  necro dlq list --since 1h
  necro dlq show 1705314645123-0 --payload
  necro dlq replay --organ Mailer --dry-run")]
    Dlq(DlqCommand),
    /// The consumer group's consumers.
    #[command(subcommand)]
    #[command(after_help = "Example:
  necro consumers prune --idle 2h")]
    Consumers(ConsumersCommand),
}

/// `necro dlq …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// A table of dead letters: id, failed at, event type, organ, kind, attempts, reason.
    #[command(after_help = "Examples:
  necro dlq list
  necro dlq list --limit 20 --newest-first
  necro dlq list --organ Mailer --kind handler_failed --since 30m
  necro dlq list --type ORDER_PLACED --json")]
    List(ListArgs),
    /// One dead letter with its event (the payload only with --payload).
    #[command(after_help = "Examples:
  necro dlq show 1705314645123-0
  necro dlq show 1705314645123-0 --payload --json")]
    Show(ShowArgs),
    /// Puts dead letters back onto the main stream as fresh deliveries (each exactly once,
    /// even when two operators replay at once) and removes them from the dead letters.
    #[command(after_help = "Examples:
  necro dlq replay 1705314645123-0
  necro dlq replay --organ Mailer --dry-run
  necro dlq replay --all --yes")]
    Replay(ActArgs),
    /// Deletes dead letters for good.
    #[command(after_help = "Examples:
  necro dlq purge 1705314645123-0 1705314645123-1
  necro dlq purge --kind malformed --dry-run
  necro dlq purge --all --yes")]
    Purge(ActArgs),
    /// What the dead-letter retention bound would drop next (oldest first); drops nothing.
    /// Give the bound your workers run with (default: the library's, 100,000 letters, no age).
    #[command(after_help = "Examples:
  necro dlq bound
  necro dlq bound --max-entries 5000 --max-age 30days --limit 20")]
    Bound(BoundArgs),
}

/// `necro dlq bound`.
#[derive(Debug, Args)]
pub(crate) struct BoundArgs {
    /// The count bound (`RetentionPolicy::dlq_max_entries`).
    #[arg(long, default_value_t = necro_backend_redis::DEFAULT_DLQ_MAX_ENTRIES)]
    pub(crate) max_entries: u64,
    /// The age bound (`RetentionPolicy::dlq_max_age`; `30m`, `2h`, `30days`), if any.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) max_age: Option<Duration>,
    /// Show at most this many of the letters that would go.
    #[arg(long, default_value_t = 10)]
    pub(crate) limit: usize,
}

/// `necro consumers …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsumersCommand {
    /// Removes consumers that hold nothing pending and have been idle at least --idle (left
    /// behind by workers that crashed or never closed); refuses those that still hold entries.
    #[command(after_help = "Examples:
  necro consumers prune
  necro consumers prune --idle 30m --json")]
    Prune(PruneArgs),
}

/// Which dead letters a listing or an action is about.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only letters whose first failing organ is this one.
    #[arg(long)]
    pub(crate) organ: Option<String>,
    /// Only letters of this kind.
    #[arg(long, value_enum)]
    pub(crate) kind: Option<Kind>,
    /// Only letters whose event has this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) event_type: Option<String>,
}

impl FilterArgs {
    /// The filter for necro-core's dead-letter queue.
    pub(crate) fn filter(&self) -> DeadLetterFilter {
        let mut filter = DeadLetterFilter::new();
        if let Some(organ) = &self.organ {
            filter = filter.organ(organ.clone());
        }
        if let Some(kind) = self.kind {
            filter = filter.kind(kind.into());
        }
        if let Some(t) = &self.event_type {
            filter = filter.event_type(t.clone());
        }
        filter
    }
}

/// `necro dlq list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// At most this many letters.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Which letters.
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Only letters that failed within this long (`90s`, `30m`, `2h`, `1day`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) since: Option<Duration>,
    /// Newest letters first (default: oldest first).
    #[arg(long)]
    pub(crate) newest_first: bool,
}

/// `necro dlq show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The dead letter's id (the first column of `necro dlq list`).
    pub(crate) id: String,
    /// Show the event's payload in full (it may hold personal data).
    #[arg(long)]
    pub(crate) payload: bool,
}

/// `necro dlq replay` and `necro dlq purge`.
#[derive(Debug, Args)]
pub(crate) struct ActArgs {
    /// The dead letters' ids.
    #[arg(conflicts_with_all = ["all", "organ", "kind", "event_type"])]
    pub(crate) ids: Vec<String>,
    /// Every dead letter.
    #[arg(long, conflicts_with_all = ["organ", "kind", "event_type"])]
    pub(crate) all: bool,
    /// Or every dead letter matching these.
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Say what would happen and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `necro consumers prune`.
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Only consumers idle at least this long (`30m`, `2h`, `1day`).
    #[arg(long, value_parser = parse_duration, default_value = "1h", value_name = "DURATION")]
    pub(crate) idle: Duration,
}

/// A dead letter's kind, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// One or more organs failed.
    HandlerFailed,
    /// Delivered the maximum number of times.
    MaxDeliveries,
    /// An emitted event could not be enqueued.
    EnqueueFailed,
    /// The stored entry is not a readable event.
    Malformed,
}

impl From<Kind> for DeadLetterKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::HandlerFailed => Self::HandlerFailed,
            Kind::MaxDeliveries => Self::MaxDeliveries,
            Kind::EnqueueFailed => Self::EnqueueFailed,
            Kind::Malformed => Self::Malformed,
        }
    }
}

/// `90s`, `30m`, `2h 30m`, `1day` (humantime's forms).
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (expected e.g. 90s, 30m, 2h, 1day)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_every_command_has_an_example() {
        Cli::command().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            assert!(
                cmd.get_after_help()
                    .is_some_and(|h| h.to_string().contains("necro ")),
                "{path} has no example in its --help"
            );
            for sub in cmd.get_subcommands() {
                walk(sub, &path);
            }
        }
        walk(&Cli::command(), "");
    }

    #[test]
    fn durations_read_the_usual_forms() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h 30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("1day"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("soon").is_err());
    }
}
