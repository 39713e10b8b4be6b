//! `necro dlq replay` and `necro dlq purge`: the selection (ids, `--all` or filters) is read
//! first, so what is confirmed is exactly what is acted on; then it is replayed or purged
//! 100 at a time behind a progress bar, and the command ends with a count. Replay is atomic
//! per entry in the backend, so two operators replaying at once never duplicate an entry:
//! the second finds it gone and counts it as missing.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use necro_backend_redis::RedisBackend;
use necro_core::{
    DeadLetterEntry, DeadLetterId, DeadLetterQuery, DeadLetterQueue, DeadLetterSelection, ListOrder,
};
use serde_json::json;

use crate::cli::ActArgs;
use crate::error::CliError;

/// Letters per replay or purge call (one progress step each).
const CHUNK: usize = 100;

/// Which action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Back onto the main stream.
    Replay,
    /// Deleted for good.
    Purge,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Purge => "purge",
        }
    }
}

/// One selected letter: its id, and why it cannot be replayed (an unreadable event).
struct Target {
    id: DeadLetterId,
    event_type: Option<String>,
    unreadable: Option<String>,
}

impl From<DeadLetterEntry> for Target {
    fn from(entry: DeadLetterEntry) -> Self {
        Self {
            event_type: entry.event_type().map(str::to_owned),
            unreadable: entry.letter.as_ref().err().map(|u| u.reason.clone()),
            id: entry.id,
        }
    }
}

/// What was done, summed over the chunks.
#[derive(Default)]
struct Tally {
    done: Vec<DeadLetterId>,
    skipped: Vec<(DeadLetterId, String)>,
    missing: Vec<DeadLetterId>,
}

/// What `necro dlq replay` / `necro dlq purge` does and prints.
pub(crate) async fn act(
    backend: &RedisBackend,
    action: Action,
    args: &ActArgs,
    json: bool,
) -> Result<String, CliError> {
    let targets = select(backend, args).await?;
    let stream = backend.config().stream_key();
    let dlq = backend.config().dlq_stream();
    let verb = action.verb();
    if targets.is_empty() {
        if json {
            return Ok(format!(
                "{}\n",
                json!({"action": verb, "dry_run": args.dry_run, "selected": 0})
            ));
        }
        return Ok(format!(
            "no dead letters in {dlq} match; nothing to {verb}\n"
        ));
    }
    if args.dry_run {
        return dry_run(action, &targets, stream, dlq, json);
    }
    if !args.yes {
        confirm(action, targets.len(), stream, dlq)?;
    }
    let tally = run(backend, action, &targets).await?;
    if json {
        let value = json!({
            "action": verb,
            "dry_run": false,
            "selected": targets.len(),
            "done": tally.done.iter().map(DeadLetterId::as_str).collect::<Vec<_>>(),
            "skipped": tally.skipped.iter().map(|(id, why)| json!({"id": id.as_str(), "reason": why})).collect::<Vec<_>>(),
            "missing": tally.missing.iter().map(DeadLetterId::as_str).collect::<Vec<_>>(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    let mut out = String::new();
    for (id, why) in &tally.skipped {
        let _ = writeln!(out, "skipped {id}: its event cannot be read ({why})");
    }
    let done = match action {
        Action::Replay => format!("replayed {} dead letter(s) onto {stream}", tally.done.len()),
        Action::Purge => format!("purged {} dead letter(s) from {dlq}", tally.done.len()),
    };
    let _ = writeln!(
        out,
        "{done}; {} skipped (unreadable); {} missing (replayed or purged meanwhile)",
        tally.skipped.len(),
        tally.missing.len()
    );
    Ok(out)
}

/// The selected letters, read before anything is changed. Ids given that are not held are
/// an error.
async fn select(backend: &RedisBackend, args: &ActArgs) -> Result<Vec<Target>, CliError> {
    if !args.ids.is_empty() {
        let mut targets = Vec::with_capacity(args.ids.len());
        let mut unknown = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in &args.ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            match backend.dead_letter(&DeadLetterId::new(id.as_str())).await? {
                Some(entry) => targets.push(Target::from(entry)),
                None => unknown.push(id.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(CliError::UnknownIds {
                dlq: backend.config().dlq_stream().to_owned(),
                ids: unknown,
            });
        }
        return Ok(targets);
    }
    let filter = args.filter.filter();
    if !args.all && filter.is_empty() {
        return Err(CliError::NothingSelected);
    }
    let mut targets = Vec::new();
    let mut cursor = None;
    loop {
        let query = DeadLetterQuery::new(CHUNK)
            .order(ListOrder::OldestFirst)
            .filter(filter.clone())
            .after(cursor.take());
        let page = backend.dead_letter_page(&query).await?;
        targets.extend(page.entries.into_iter().map(Target::from));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(targets),
        }
    }
}

fn dry_run(
    action: Action,
    targets: &[Target],
    stream: &str,
    dlq: &str,
    json: bool,
) -> Result<String, CliError> {
    let skip = |t: &&Target| action == Action::Replay && t.unreadable.is_some();
    if json {
        let value = json!({
            "action": action.verb(),
            "dry_run": true,
            "selected": targets.len(),
            "would": targets.iter().filter(|t| !skip(t)).map(|t| t.id.as_str()).collect::<Vec<_>>(),
            "would_skip": targets.iter().filter(skip).map(|t| t.id.as_str()).collect::<Vec<_>>(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    let mut out = String::new();
    for t in targets {
        let what = t.event_type.as_deref().unwrap_or("(unreadable)");
        let note = if skip(&t) {
            " (would be skipped: its event cannot be read)"
        } else {
            ""
        };
        let _ = writeln!(out, "{}  {what}{note}", t.id);
    }
    let skipped = targets.iter().filter(skip).count();
    let n = targets.len() - skipped;
    let line = match action {
        Action::Replay => format!(
            "dry run: would replay {n} dead letter(s) from {dlq} onto {stream}, skip {skipped} unreadable; nothing was changed"
        ),
        Action::Purge => {
            format!("dry run: would purge {n} dead letter(s) from {dlq}; nothing was changed")
        }
    };
    let _ = writeln!(out, "{line}");
    Ok(out)
}

/// Asks on the terminal; refuses when standard input is not one.
fn confirm(action: Action, count: usize, stream: &str, dlq: &str) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::NotConfirmed {
            action: action.verb(),
            count,
        });
    }
    let question = match action {
        Action::Replay => format!("Replay {count} dead letter(s) from {dlq} onto {stream}?"),
        Action::Purge => format!("Delete {count} dead letter(s) from {dlq} for good?"),
    };
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(CliError::Prompt)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Aborted)
    }
}

/// Acts on the targets in chunks, with a progress bar on a terminal.
async fn run(
    backend: &RedisBackend,
    action: Action,
    targets: &[Target],
) -> Result<Tally, CliError> {
    let total = targets.len();
    let bar = progress(total as u64, action);
    let mut tally = Tally::default();
    for chunk in targets.chunks(CHUNK) {
        let selection = DeadLetterSelection::Ids(chunk.iter().map(|t| t.id.clone()).collect());
        let step = match action {
            Action::Replay => backend.replay_dead_letters(&selection).await.map(|r| {
                tally.done.extend(r.replayed);
                tally.skipped.extend(r.skipped);
                tally.missing.extend(r.missing);
            }),
            Action::Purge => backend.purge_dead_letters(&selection).await.map(|r| {
                let missing: std::collections::HashSet<_> = r.missing.iter().cloned().collect();
                tally.done.extend(
                    chunk
                        .iter()
                        .map(|t| t.id.clone())
                        .filter(|id| !missing.contains(id)),
                );
                tally.missing.extend(r.missing);
            }),
        };
        if let Err(source) = step {
            bar.abandon();
            return Err(CliError::Partial {
                action: action.verb(),
                done: tally.done.len(),
                total,
                source,
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(tally)
}

/// A progress bar on standard error when it is a terminal, hidden otherwise.
fn progress(len: u64, action: Action) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(match action {
        Action::Replay => "replaying",
        Action::Purge => "purging",
    });
    bar
}
