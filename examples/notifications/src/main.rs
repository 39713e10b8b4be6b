//! A multi-channel notification pipeline:
//!
//! `NOTIFICATION_REQUESTED` → Validator → `NOTIFICATION_VALIDATED` (or `NOTIFICATION_FAILED`)
//! → Router (user directory) → `SEND_EMAIL` / `SEND_SMS` / `SEND_PUSH`, handled in parallel
//! by EmailSender (async, transient failures retried by the spine), SmsSender (sync, a
//! blocked number fails permanently and is dead-lettered) and PushSender (async) →
//! `CHANNEL_DELIVERED` → Auditor → `DELIVERY_COMPLETED` → Tracker.
//!
//! Run with `cargo run -p example-notifications` (add `-- --file <json|csv>`,
//! `--interactive`, `--stress 1000`, `--seed 7`, `--fast`, or `--backend redis`).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use example_notifications::organs::{
    AuditEntry, CHANNELS, Latency, NotificationRequested, Outcomes, PRIORITIES,
};
use example_notifications::{Handles, NotificationsConfig, build_spine};
use example_support::shell::{
    self, BadLine, Mode, Records, RunArgs, Shell, ShellArgs, StressProgress,
};
use example_support::{BoxError, print_spine_summary, read_dead_letters};
use necro_core::{Backend, BoxBackend, DeadLetterEntry, DeadLetterQueue, Event};
use necro_spine::Spine;
use serde::Deserialize;

/// The seed sample, built in so the demo needs no file.
const BUILT_IN: &str = include_str!("../data/sample_notifications.json");

/// A multi-channel notification pipeline on NecroStack: validate, route, deliver by email, SMS
/// and push in parallel (with retries and a dead-letter queue), audit.
#[derive(Parser)]
// The shared `--file`, `--interactive` and `--stress` (example_support::shell::ShellArgs),
// in this example's words.
#[command(
    mut_arg("file", |a| a.help(
        "Read requests from a JSON (`{\"notifications\": [...]}`) or CSV \
            (`user_id,channels,message,priority`, channels separated by `|`) file"
    )),
    mut_arg("interactive", |a| a.help(
        "Read requests from standard input, one per line; `send` sends them"
    )),
    mut_arg("stress", |a| a
        .help("Send N generated requests (1 to 50,000) and report throughput")
        .value_parser(clap::value_parser!(u64).range(1..=50_000))),
)]
struct Cli {
    #[command(flatten)]
    shell: ShellArgs,
    /// Seed for the simulated failures (and the stress mix), so a run can be reproduced.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated email latency in ms (SMS takes half, push a quarter).
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// No simulated latency (for tests and quick runs).
    #[arg(long)]
    fast: bool,
    /// Fraction of email attempts that fail transiently (0 to 1).
    #[arg(long, default_value_t = 0.3, value_parser = example_support::parse_rate)]
    email_failure_rate: f64,
    /// How many events the spine handles at once: the channels run in parallel.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    #[command(flatten)]
    run: RunArgs,
}

/// One request as given (file, prompt or generator), before it gets its id.
#[derive(Debug, Clone, Deserialize)]
struct RequestSpec {
    user_id: String,
    channels: Vec<String>,
    message: String,
    priority: String,
}

#[derive(Deserialize)]
struct JsonFile {
    notifications: Vec<RequestSpec>,
}

#[derive(Deserialize)]
struct CsvRow {
    user_id: String,
    channels: String,
    message: String,
    priority: String,
}

fn parse_json(text: &str) -> Result<Vec<RequestSpec>, BoxError> {
    Ok(serde_json::from_str::<JsonFile>(text)?.notifications)
}

fn parse_csv(text: &str) -> Result<Vec<RequestSpec>, BoxError> {
    let rows = shell::csv_rows::<CsvRow>(text)?.into_iter();
    Ok(rows
        .map(|row| RequestSpec {
            user_id: row.user_id,
            channels: row
                .channels
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect(),
            message: row.message,
            priority: row.priority,
        })
        .collect())
}

/// The built-in demo: the seed sample plus two requests that show the failure paths.
fn demo_requests() -> Result<Vec<RequestSpec>, BoxError> {
    let mut reqs = parse_json(BUILT_IN)?;
    reqs.push(RequestSpec {
        user_id: "user_002".into(),
        channels: vec!["fax".into()],
        message: "Your fax is ready".into(),
        priority: "normal".into(),
    });
    reqs.push(RequestSpec {
        user_id: "user_004".into(),
        channels: vec!["email".into(), "push".into()],
        message: "Welcome aboard!".into(),
        priority: "low".into(),
    });
    Ok(reqs)
}

/// Splits a prompt line into words; single or double quotes group words.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in line.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => cur.push(ch),
            None if ch == '\'' || ch == '"' => {
                quote = Some(ch);
                in_word = true;
            }
            None if ch.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(ch);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

const USAGE: &str = "usage: <user_id> <channels,comma,separated> '<message>' [low|normal|high|critical]   e.g. user_001 email,sms 'Your order shipped!' high\n       send | stats | help | quit";

/// Parses one request line of the prompt.
fn parse_request_line(line: &str) -> Result<RequestSpec, String> {
    let words = tokenize(line)?;
    let (user_id, channels, message, priority) = match words.as_slice() {
        [u, c, m] => (u, c, m, "normal"),
        [u, c, m, p] => (u, c, m, p.as_str()),
        _ => {
            return Err(format!(
                "expected 3 or 4 words, got {} (quote a message with spaces)",
                words.len()
            ));
        }
    };
    Ok(RequestSpec {
        user_id: user_id.clone(),
        channels: channels
            .split(',')
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty())
            .collect(),
        message: message.clone(),
        priority: priority.to_lowercase(),
    })
}

/// Generates `n` requests from the seed: mostly valid, a few for an unknown user or with
/// a bad priority.
fn stress_requests(n: u64, seed: u64) -> Vec<RequestSpec> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let users = ["user_001", "user_002", "user_003", "user_004"];
    (0..n)
        .map(|i| {
            let user = if rng.u8(..100) == 0 {
                "user_999"
            } else {
                users[rng.usize(..users.len())]
            };
            let mut channels: Vec<String> = CHANNELS
                .iter()
                .filter(|_| rng.bool())
                .map(|c| (*c).to_owned())
                .collect();
            if channels.is_empty() {
                channels.push(CHANNELS[rng.usize(..CHANNELS.len())].to_owned());
            }
            let priority = if rng.u8(..100) == 0 {
                "urgent"
            } else {
                PRIORITIES[rng.usize(..PRIORITIES.len())]
            };
            RequestSpec {
                user_id: user.to_owned(),
                channels,
                message: format!("stress message #{i}"),
                priority: priority.to_owned(),
            }
        })
        .collect()
}

struct Notifications {
    mode: Mode<RequestSpec>,
    seed: u64,
    latency: Latency,
    email_failure_rate: f64,
    concurrency: usize,
    /// Under `--json-logs` stderr carries JSON lines only: no progress lines.
    json_logs: bool,
}

/// What the run accounts for.
struct Run<B: Backend> {
    spine: Spine<B>,
    outcomes: Arc<Mutex<Outcomes>>,
    trail: Arc<Mutex<Vec<AuditEntry>>>,
    next_id: u64,
    requests: u64,
    requested_channels: u64,
    /// The prompt's queued requests, sent on `send`.
    pending: Vec<RequestSpec>,
}

impl<B: Backend + DeadLetterQueue> Run<B> {
    async fn dead_letters(&self) -> Result<Vec<DeadLetterEntry>, BoxError> {
        Ok(read_dead_letters(self.spine.backend(), 1_000_000).await?)
    }

    async fn print_outcomes(&self, dead: &[DeadLetterEntry]) {
        let o = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let channel_dead = dead
            .iter()
            .filter(|d| d.event_type().is_some_and(|t| t.starts_with("SEND_")))
            .count() as u64;
        let mut dead_by_channel: HashMap<&str, u64> = HashMap::new();
        for d in dead {
            if let Some(c) = d
                .event()
                .and_then(|e| e.get("channel"))
                .and_then(|v| v.as_str())
            {
                let c = CHANNELS.iter().find(|k| **k == c).copied().unwrap_or("?");
                *dead_by_channel.entry(c).or_default() += 1;
            }
        }
        let accounted = o.delivered_total() + o.failed_total() + channel_dead;
        example_support::outln!("--- summary ---");
        example_support::outln!(
            "requests: {}, requested channels: {}",
            self.requests,
            self.requested_channels
        );
        example_support::outln!(
            "delivered: {}, failed: {}, dead-lettered: {} (accounted for {} of {} channels)",
            o.delivered_total(),
            o.failed_total(),
            channel_dead,
            accounted,
            self.requested_channels
        );
        for c in CHANNELS {
            example_support::outln!(
                "  {c:<5} delivered {:>5}  failed {:>5}  dead-lettered {:>5}",
                o.delivered.get(c).copied().unwrap_or(0),
                o.failed.get(c).copied().unwrap_or(0),
                dead_by_channel.get(c).copied().unwrap_or(0),
            );
        }
        let mut trail = self
            .trail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        trail.sort_by(|a, b| (a.request_id, &a.channel).cmp(&(b.request_id, &b.channel)));
        example_support::outln!("audit trail: {} deliveries", trail.len());
        for a in trail.iter().take(20) {
            example_support::outln!(
                "  request {} {} → {} (attempts: {})",
                a.request_id,
                a.channel,
                a.to,
                a.attempts
            );
        }
        if trail.len() > 20 {
            example_support::outln!("  ... and {} more", trail.len() - 20);
        }
        let mut failures = o.failures;
        failures.sort();
        for (id, channels, reason) in failures.iter().take(20) {
            example_support::outln!("FAILED request {id} [{channels}]: {reason}");
        }
        if failures.len() > 20 {
            example_support::outln!("... and {} more failures", failures.len() - 20);
        }
    }
}

impl Notifications {
    /// Runs the example on the backend `--backend` chose.
    async fn run(self, backend: BoxBackend) -> Result<(), BoxError> {
        let config = NotificationsConfig {
            seed: self.seed,
            latency: self.latency,
            email_failure_rate: self.email_failure_rate,
            concurrency: self.concurrency,
            verbose: !self.mode.is_stress(),
        };
        let (spine, Handles { outcomes, trail }) = build_spine(backend, &config)?;
        let mut run = Run {
            spine,
            outcomes,
            trail,
            next_id: 0,
            requests: 0,
            requested_channels: 0,
            pending: Vec::new(),
        };
        shell::run(&mut run, self.mode, self.seed, self.json_logs).await?;
        let dead = run.dead_letters().await?;
        run.print_outcomes(&dead).await;
        print_spine_summary(&run.spine.stats(), &dead, 20);
        Ok(())
    }
}

impl<B: Backend + DeadLetterQueue> Shell for Run<B> {
    type Backend = B;
    type Record = RequestSpec;
    const RECORDS: &'static str = "requests";
    const USAGE: &'static str = USAGE;
    const ONE_AT_A_TIME: bool = false;

    fn spine(&self) -> &Spine<B> {
        &self.spine
    }

    async fn send(&mut self, spec: RequestSpec) -> Result<(), BoxError> {
        self.next_id += 1;
        self.requests += 1;
        self.requested_channels += spec.channels.len() as u64;
        let req = NotificationRequested {
            request_id: self.next_id,
            user_id: spec.user_id,
            channels: spec.channels,
            message: spec.message,
            priority: spec.priority,
        };
        self.spine.send(Event::from_payload(&req)?).await?;
        Ok(())
    }

    fn stress_records(&self, n: u64, seed: u64) -> Vec<RequestSpec> {
        stress_requests(n, seed)
    }

    /// Counted in channels: each is delivered, failed or dead-lettered.
    fn stress_progress(&self, specs: &[RequestSpec]) -> StressProgress {
        let spine = self.spine.clone();
        let outcomes = Arc::clone(&self.outcomes);
        StressProgress {
            total: specs.iter().map(|s| s.channels.len() as u64).sum(),
            unit: "channels",
            done: Arc::new(move || {
                let o = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
                o.delivered_total() + o.failed_total() + spine.stats().dead_lettered
            }),
        }
    }

    fn greeting(&self) -> String {
        format!("notification prompt — {USAGE}")
    }

    async fn line(&mut self, line: &str) -> Result<(), BoxError> {
        match line.to_lowercase().as_str() {
            "send" => {
                if self.pending.is_empty() {
                    example_support::outln!("nothing to send: queue a request first");
                    return Ok(());
                }
                let pending = std::mem::take(&mut self.pending);
                let n = pending.len();
                for spec in pending {
                    self.send(spec).await?;
                }
                self.spine.run_until_drained().await?;
                example_support::outln!("sent {n} request(s)");
            }
            "stats" => {
                let o = self
                    .outcomes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let s = self.spine.stats();
                example_support::outln!(
                    "so far: {} requests, delivered {}, failed {}, dead-lettered {}, {} queued unsent; spine processed {}",
                    self.requests,
                    o.delivered_total(),
                    o.failed_total(),
                    s.dead_lettered,
                    self.pending.len(),
                    s.processed
                );
            }
            _ => {
                let spec = parse_request_line(line).map_err(BadLine)?;
                example_support::outln!(
                    "queued: {} via {} ({}) — type send to deliver",
                    spec.user_id,
                    spec.channels.join(","),
                    spec.priority
                );
                self.pending.push(spec);
            }
        }
        Ok(())
    }

    fn prompt_closed(&mut self) {
        if !self.pending.is_empty() {
            example_support::outln!("discarding {} unsent request(s)", self.pending.len());
        }
    }
}

/// Where the requests come from without `--stress` or `--interactive`.
const RECORDS: Records<RequestSpec> = Records {
    json: parse_json,
    csv: parse_csv,
    demo: demo_requests,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    shell::main(
        &cli.shell,
        &cli.run,
        "notifications",
        &RECORDS,
        |mode, observe, backend| {
            Notifications {
                mode,
                seed: cli.seed,
                latency: Latency::from_ms(if cli.fast { 0 } else { cli.latency_ms }),
                email_failure_rate: cli.email_failure_rate,
                concurrency: usize::try_from(cli.concurrency).unwrap_or(8),
                json_logs: observe.json_logs(),
            }
            .run(backend)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_quotes() {
        assert_eq!(
            tokenize("user_001 email,sms 'Your order shipped!' high").unwrap(),
            ["user_001", "email,sms", "Your order shipped!", "high"]
        );
        assert!(tokenize("user_001 email 'oops").is_err());
    }

    #[test]
    fn parses_both_file_formats_alike() {
        let json = parse_json(include_str!("../data/sample_notifications.json")).unwrap();
        let csv = parse_csv(include_str!("../data/sample_notifications.csv")).unwrap();
        assert_eq!(json.len(), 5);
        assert_eq!(format!("{json:?}"), format!("{csv:?}"));
    }
}
