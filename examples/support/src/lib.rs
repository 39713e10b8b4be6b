//! Shared plumbing for the NecroStack examples: the `--backend memory|redis` choice, so every
//! example's organs run unchanged on either backend.
//!
//! Not a library for applications — an application picks its backend in one line. This crate
//! only saves each example from repeating its command-line parsing, and (in [`shell`]) the
//! demo / `--file` / `--stress` / `--interactive` shell of the record-driven examples.
//!
//! ```
//! use clap::Parser;
//! use example_support::{BackendArgs, BackendKind};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     backend: BackendArgs,
//! }
//! let cli = Cli::parse_from(["demo"]);
//! assert_eq!(cli.backend.backend, BackendKind::Memory);
//! ```
#![forbid(unsafe_code)]

mod observe;
mod progress;
pub mod shell;

pub use observe::{ADMIN_TOKEN_ENV, ObserveArgs, ObserveGuard, PLAIN_DEFAULT_FILTER};
pub use progress::Progress;

use std::future::Future;
use std::process::ExitCode;

use necro_backend_memory::MemoryBackend;
use necro_backend_redis::RedisBackend;
use necro_core::{
    Backend, BackendError, BoxBackend, DeadLetterEntry, DeadLetterQuery, DeadLetterQueue,
};

/// `println!` for the examples' output. An example piped into a program that stops reading
/// early (`cargo run -p example-trading | head`) exits quietly with status 0 instead of
/// panicking on the broken pipe, as `println!` does.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout for [`outln!`]: on a broken pipe the process exits with status 0
/// (whoever read the output has all they wanted); on any other write error it exits with
/// status 1 after saying why on stderr.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// Which backend carries the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// In-process queue: zero setup.
    Memory,
    /// Redis Streams: durable, multi-worker.
    Redis,
}

/// `--backend` and `--redis-url`, flattened into each example's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Which backend carries the events.
    #[arg(long, value_enum, default_value_t = BackendKind::Memory)]
    pub backend: BackendKind,
    /// Redis URL, for `--backend redis`.
    #[arg(
        long,
        env = "NECRO_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Redis stream key, for `--backend redis`, kept after the run (default: a fresh stream
    /// per run, so runs never see each other's events, deleted when the example exits).
    #[arg(long)]
    pub stream: Option<String>,
}

/// Up to `limit` of `queue`'s dead letters, oldest first, read page by page (one
/// [`dead_letter_page`](DeadLetterQueue::dead_letter_page) call may return fewer entries
/// than asked for, as Redis does past 10,000), so an example can print them at the end of
/// a run.
///
/// # Errors
/// The backend's, when a page cannot be read.
pub async fn read_dead_letters<Q: DeadLetterQueue>(
    queue: &Q,
    limit: usize,
) -> Result<Vec<DeadLetterEntry>, BackendError> {
    let mut entries = Vec::new();
    let mut after = None;
    while entries.len() < limit {
        let query = DeadLetterQuery::new(limit - entries.len()).after(after);
        let page = queue.dead_letter_page(&query).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(entries)
}

/// Why a run ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunAppError {
    /// SIGINT (Ctrl-C) or SIGTERM arrived before the run finished.
    #[error("interrupted (SIGINT or SIGTERM) before the run finished")]
    Interrupted,
}

/// Runs `run` until it ends or the process is asked to stop (SIGINT or SIGTERM), whichever
/// comes first; a stopped run is dropped, which aborts the spine's runners.
async fn until_shutdown<T>(run: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError> {
    tokio::select! {
        // The signal first: its handlers are installed before the run does anything, so a
        // signal that arrives once the run has started never kills the process outright.
        biased;
        () = necro_spine::shutdown_signal() => Err(RunAppError::Interrupted.into()),
        result = run => result,
    }
}

/// The backend an example runs on, as `--backend` chose it: one [`BoxBackend`] whatever it
/// is, so an example's body is plain code, not generic. [`ExampleBackend::run`] runs the body
/// and cleans up after it.
#[derive(Debug)]
pub struct ExampleBackend {
    backend: BoxBackend,
    /// On Redis without `--stream`: the URL and the run's own stream, removed at exit.
    throwaway: Option<(String, String)>,
}

impl BackendArgs {
    /// Connects the chosen backend. On Redis without `--stream`, the run gets a throwaway
    /// stream of its own (`necrostack:example:<example>:<uuid>`, logged at INFO), so runs
    /// never see each other's events; [`ExampleBackend::run`] deletes it.
    ///
    /// # Errors
    /// The Redis backend's connection error.
    pub async fn connect(&self, example: &str) -> Result<ExampleBackend, BoxError> {
        match self.backend {
            BackendKind::Memory => Ok(ExampleBackend {
                backend: BoxBackend::new(MemoryBackend::new()),
                throwaway: None,
            }),
            BackendKind::Redis => {
                let stream = self.stream.clone().unwrap_or_else(|| {
                    format!(
                        "necrostack:example:{example}:{}",
                        uuid::Uuid::new_v4().simple()
                    )
                });
                let backend = RedisBackend::builder(self.redis_url.clone())
                    .stream_key(stream.clone())
                    .connect()
                    .await?;
                let throwaway = self.stream.is_none().then(|| {
                    tracing::info!(
                        target: "example",
                        stream = %stream,
                        "this run's throwaway Redis stream (removed at exit)"
                    );
                    (self.redis_url.clone(), stream)
                });
                Ok(ExampleBackend {
                    backend: BoxBackend::new(backend),
                    throwaway,
                })
            }
        }
    }
}

impl BackendArgs {
    /// Connects the chosen backend and runs `body` on it as [`ExampleBackend::run`] does
    /// (until it ends or SIGINT / SIGTERM; then the live page, when asked for; then the
    /// clean-up).
    ///
    /// # Errors
    /// As [`BackendArgs::connect`] and [`ExampleBackend::run`].
    pub async fn run<T, Fut>(
        &self,
        example: &str,
        observe: &ObserveGuard,
        body: impl FnOnce(BoxBackend) -> Fut,
    ) -> Result<T, BoxError>
    where
        Fut: Future<Output = Result<T, BoxError>>,
    {
        let backend = self.connect(example).await?;
        let body = body(backend.backend());
        backend.run(observe, body).await
    }
}

impl ExampleBackend {
    /// The backend, to build the spine on (a cheap clone).
    #[must_use]
    pub fn backend(&self) -> BoxBackend {
        self.backend.clone()
    }

    /// Runs `body` (stopping early on SIGINT or SIGTERM) and, after a complete run, serves
    /// the metrics and live page until SIGINT or SIGTERM when `--metrics-addr` was given (see
    /// [`ObserveGuard::serve_until_shutdown`]). Then closes the backend and deletes a
    /// throwaway stream and its dead-letter stream, on every way out — normal end, error,
    /// signal. A throwaway stream stays while the page is served, so what the page counts
    /// can be inspected.
    ///
    /// # Errors
    /// The body's own, [`RunAppError::Interrupted`], or a failure to close the backend or
    /// remove the throwaway stream.
    pub async fn run<T>(
        self,
        observe: &ObserveGuard,
        body: impl Future<Output = Result<T, BoxError>>,
    ) -> Result<T, BoxError> {
        observe.attach_dead_letters(&self.backend);
        let result = until_shutdown(Box::pin(body)).await;
        if result.is_ok() {
            observe.serve_until_shutdown().await;
        }
        // Closing first lets every command the run already sent finish, and stops its
        // clones from writing again; only then is the stream removed.
        let closed = self.backend.close().await;
        let removed = match self.throwaway {
            Some((url, stream)) => {
                let connect = RedisBackend::builder(url).stream_key(stream).connect();
                remove_stream(connect.await).await
            }
            None => Ok(()),
        };
        let output = result?;
        closed?;
        removed?;
        Ok(output)
    }
}

/// An example's whole `main`: parses its command line — its own arguments `A` (whose doc
/// comment is the `--help` text, whose crate name is the command's), plus `--backend`,
/// `--redis-url`, `--stream` and the observability flags — installs logging and metrics,
/// connects the backend, runs `body` on it as [`ExampleBackend::run`] does, prints the run's
/// [`Stats`](necro_spine::Stats) summary on stderr, and turns the outcome into the exit code
/// ([`exit_code`]).
pub async fn run<A, F, Fut>(body: F) -> ExitCode
where
    A: clap::Parser,
    F: FnOnce(A, BoxBackend) -> Fut,
    Fut: Future<Output = Result<necro_spine::Stats, BoxError>>,
{
    use clap::{Args as _, FromArgMatches as _};
    let own = A::command();
    // Augmenting sets the flattened structs' doc comments as the about text: put A's back.
    let command = ObserveArgs::augment_args(BackendArgs::augment_args(own.clone()))
        .about(None::<&str>)
        .long_about(None::<&str>);
    let command = match own.get_about() {
        Some(about) => command.about(about.clone()),
        None => command,
    };
    let command = match own.get_long_about() {
        Some(about) => command.long_about(about.clone()),
        None => command,
    };
    let example = command.get_name().trim_start_matches("example-").to_owned();
    let parsed = command.get_matches();
    let parsed = (|| {
        Ok::<_, clap::Error>((
            A::from_arg_matches(&parsed)?,
            BackendArgs::from_arg_matches(&parsed)?,
            ObserveArgs::from_arg_matches(&parsed)?,
        ))
    })();
    let (args, backend, observe) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => err.exit(),
    };
    let result = async {
        let observe = observe.install()?;
        let stats = backend
            .run(&example, &observe, |backend| body(args, backend))
            .await?;
        observe.summary(&stats);
        Ok(())
    };
    exit_code(result.await)
}

/// Deletes a throwaway stream and its dead-letter stream through a fresh connection.
async fn remove_stream(
    connected: Result<RedisBackend, necro_backend_redis::ConnectError>,
) -> Result<(), BoxError> {
    let backend = connected?;
    let deleted = backend.delete_streams().await;
    // Leaving a group whose stream was just deleted fails (NOGROUP); the connections are
    // closed all the same, and nothing of the run is left to leave.
    let _ = backend.close().await;
    Ok(deleted?)
}

/// Helpers for the examples' end-to-end tests.
pub mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a panic fails the test.
    use std::process::{Command, Output};

    pub use crate::observe::testing::{ServingExample, json_lines};

    /// The Redis URL for tests (`NECRO_REDIS_URL` or the local default), or `None` after
    /// printing a SKIPPED line when nothing answers there.
    ///
    /// # Panics
    /// When no Redis answers and `CI=true`: under CI a Redis test never skips silently.
    #[must_use]
    pub fn redis_url_or_skip(test: &str) -> Option<String> {
        let url = std::env::var("NECRO_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        if std::net::TcpStream::connect(redis_addr(&url)).is_ok() {
            return Some(url);
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: no Redis at {url}, and CI=true forbids skipping"
        );
        eprintln!("SKIPPED {test}: no Redis at {url}");
        None
    }

    /// `host:port` of a `redis://` URL (no password, no database).
    fn redis_addr(url: &str) -> String {
        url.trim_start_matches("redis://")
            .split('/')
            .next()
            .and_then(|s| s.rsplit('@').next())
            .unwrap_or("127.0.0.1:6379")
            .to_owned()
    }

    /// One Redis reply, as far as the examples' tests need it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Reply {
        /// `+OK` and the like.
        Status(String),
        /// `-ERR …`.
        Error(String),
        /// `:42`.
        Int(i64),
        /// A bulk string (`None`: nil).
        Bulk(Option<String>),
        /// An array.
        Array(Vec<Reply>),
    }

    fn read_reply(r: &mut impl std::io::BufRead) -> std::io::Result<Reply> {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let bad = || std::io::Error::other(format!("bad Redis reply line {line:?}"));
        let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        let num = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(num()?),
            "$" => match usize::try_from(num()?) {
                Ok(len) => {
                    let mut buf = vec![0; len + 2];
                    r.read_exact(&mut buf)?;
                    buf.truncate(len);
                    Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
                }
                Err(_) => Reply::Bulk(None),
            },
            "*" => {
                let n = usize::try_from(num()?).unwrap_or(0);
                Reply::Array((0..n).map(|_| read_reply(r)).collect::<Result<_, _>>()?)
            }
            _ => return Err(bad()),
        })
    }

    /// Sends one command to the Redis at `url` on a fresh connection and returns its reply.
    ///
    /// # Panics
    /// When Redis cannot be reached or answers garbage.
    #[must_use]
    pub fn redis_command(url: &str, args: &[&str]) -> Reply {
        use std::io::Write;
        let addr = redis_addr(url);
        let mut stream = std::net::TcpStream::connect(&addr)
            .unwrap_or_else(|e| panic!("no Redis at {addr}: {e}"));
        let mut cmd = format!("*{}\r\n", args.len());
        for a in args {
            cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(cmd.as_bytes()).expect("send to Redis");
        read_reply(&mut std::io::BufReader::new(stream)).expect("read Redis reply")
    }

    /// The keys matching `pattern` in the Redis at `url` (`KEYS`: for tests only).
    ///
    /// # Panics
    /// As [`redis_command`], or on a reply that is not a list of keys.
    #[must_use]
    pub fn redis_keys(url: &str, pattern: &str) -> Vec<String> {
        match redis_command(url, &["KEYS", pattern]) {
            Reply::Array(keys) => {
                let mut keys: Vec<String> = keys
                    .into_iter()
                    .map(|k| match k {
                        Reply::Bulk(Some(k)) => k,
                        other => panic!("not a key: {other:?}"),
                    })
                    // The retention task's lease lives three trim intervals and expires by
                    // itself (`delete_streams` removes it too): not one of the run's keys.
                    .filter(|k| !k.ends_with(":trim-lease"))
                    .collect();
                keys.sort();
                keys
            }
            other => panic!("KEYS answered {other:?}"),
        }
    }

    /// Starts `bin` with `args` on the Redis at `url` (a throwaway stream), waits until events
    /// are in its stream, sends it `signal` (`"INT"` or `"TERM"`) mid-run, and asserts it
    /// exits on its own (an exit code, not killed by the signal) and leaves no key of its run
    /// behind.
    ///
    /// # Panics
    /// When any of that does not hold.
    pub fn assert_signal_mid_run_leaves_no_key(bin: &str, args: &[&str], url: &str, signal: &str) {
        let mut all = vec!["--backend", "redis", "--redis-url", url];
        all.extend_from_slice(args);
        let run = ServingExample::start_until(bin, &all, |l| l["stream"].is_string());
        let stream = run.stream_key().expect("the run logs its stream");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while redis_command(url, &["XLEN", &stream]) == Reply::Int(0) {
            assert!(
                std::time::Instant::now() < deadline,
                "no event reached {stream}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (status, lines) = match signal {
            "INT" => run.interrupt(),
            "TERM" => run.terminate(),
            other => panic!("unknown signal {other}"),
        };
        assert!(
            status.code().is_some(),
            "{bin} was killed by SIG{signal} instead of stopping: {status:?} {lines:#?}"
        );
        assert_eq!(
            redis_keys(url, &format!("{stream}*")),
            Vec::<String>::new(),
            "keys of the run left behind: {lines:#?}"
        );
    }

    /// The first ```` ```text ```` block after the first line of the Markdown file at `path`
    /// that contains `marker`, without its `$ command` lines.
    ///
    /// # Panics
    /// When the file cannot be read or holds no such block.
    #[must_use]
    pub fn readme_sample(path: &str, marker: &str) -> Vec<String> {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let at = text
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker:?} in {path}"));
        let block = text[at..]
            .split_once("```text\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .unwrap_or_else(|| panic!("no text block after {marker:?} in {path}"))
            .0;
        block
            .lines()
            .filter(|l| !l.starts_with("$ "))
            .map(str::to_owned)
            .collect()
    }

    /// Asserts that the README sample after `marker` in `path` matches `output`: its lines
    /// appear in `output` in the same order, a `...` line standing for any number of lines
    /// and a `...` inside a line for any text.
    ///
    /// # Panics
    /// When a sample line is not found in order.
    pub fn assert_readme_sample_matches(path: &str, marker: &str, output: &str) {
        let sample = readme_sample(path, marker);
        let mut lines = output.lines();
        for want in sample.iter().filter(|l| l.trim() != "...") {
            let parts: Vec<&str> = want.split("...").collect();
            let matches = |line: &str| {
                let mut rest = line;
                for (i, part) in parts.iter().enumerate() {
                    let found = if i == 0 {
                        rest.strip_prefix(part)
                    } else if i == parts.len() - 1 {
                        rest.ends_with(part).then_some("")
                    } else {
                        rest.find(part).map(|at| &rest[at + part.len()..])
                    };
                    match found {
                        Some(r) => rest = r,
                        None => return false,
                    }
                }
                parts.len() > 1 || rest.is_empty()
            };
            assert!(
                lines.any(matches),
                "{path}: the sample line {want:?} is not in the real output (in order):\n{output}"
            );
        }
    }

    /// Runs an example binary with `args`, writes `input` to its standard input, and returns
    /// its output, asserting it succeeded.
    ///
    /// # Panics
    /// When the binary cannot start, its input cannot be written, or it exits unsuccessfully.
    #[must_use]
    pub fn run_with_stdin(bin: &str, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} did not start: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input)
                .unwrap_or_else(|e| panic!("could not write to {bin}: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{bin} did not finish: {e}"));
        assert!(
            out.status.success(),
            "{bin} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs an example binary with `args` whose standard output is closed before it writes
    /// anything (as `| head -0` would), and asserts it exits with status 0 without panicking.
    ///
    /// # Panics
    /// When the binary cannot start, fails, or panics.
    pub fn assert_quiet_on_broken_pipe(bin: &str, args: &[&str]) {
        use std::process::Stdio;
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} did not start: {e}"));
        drop(child.stdout.take());
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{bin} did not finish: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "{bin} {args:?} panicked: {stderr}"
        );
        assert!(out.status.success(), "{bin} {args:?} failed: {stderr}");
    }

    /// Runs an example binary with `args`, asserting that it fails the way a program should:
    /// a non-zero exit code, stderr starting with `error: `, no line starting with the
    /// Debug-style `Error: ` of a `main` returning `Err`, no panic. Returns its stderr.
    ///
    /// # Panics
    /// When the binary cannot start, or fails any of those checks.
    #[must_use]
    pub fn run_failing(bin: &str, args: &[&str]) -> String {
        let out = Command::new(bin)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{bin} did not start: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && out.status.code().is_some(),
            "{bin} {args:?} should fail with an exit code: {:?}, {stderr}",
            out.status
        );
        assert!(
            stderr.starts_with("error: "),
            "{bin} {args:?}: stderr should start with `error: `: {stderr}"
        );
        // `Error: …` at the start of a line is what a `main` returning `Err` prints (Debug).
        assert!(
            !stderr.lines().any(|l| l.starts_with("Error: ")),
            "{bin} {args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{bin} {args:?}: {stderr}");
        stderr
    }

    /// Asserts `text` holds no Debug rendering of an error (`{ `, `Os {`, `kind:`).
    ///
    /// # Panics
    /// When it does.
    pub fn assert_no_debug_text(text: &str) {
        for debug in ["{ ", "Os {", "kind:"] {
            assert!(!text.contains(debug), "Debug text {debug:?} in: {text}");
        }
    }

    /// The three setup mistakes a new user makes, each of which must end the example with
    /// `error: <message>` in Display form and a non-zero exit code: an unsupported Redis URL
    /// scheme, a Redis URL where nothing listens, and a `--metrics-addr` already taken.
    /// `args` go first (e.g. `--fast`).
    ///
    /// # Panics
    /// When one of them does not fail that way.
    pub fn assert_bad_setup_fails_cleanly(bin: &str, args: &[&str]) {
        let with = |extra: &[&str]| -> Vec<String> {
            args.iter().chain(extra).map(|s| (*s).to_owned()).collect()
        };
        let run = |extra: &[&str]| {
            let all = with(extra);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            run_failing(bin, &all)
        };
        let scheme = run(&["--backend", "redis", "--redis-url", "foo://x"]);
        assert!(scheme.contains("foo"), "{scheme}");
        assert_no_debug_text(&scheme);
        // The Redis client's own connection error text is not this crate's to render.
        let _refused = run(&["--backend", "redis", "--redis-url", "redis://127.0.0.1:1"]);
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let addr = taken.local_addr().expect("local addr").to_string();
        let in_use = run(&["--metrics-addr", &addr]);
        assert!(in_use.contains(&addr), "{in_use}");
        // The cause chain, in Display form: the operating system's own words come last.
        assert!(in_use.contains("(os error"), "no cause in: {in_use}");
        assert_no_debug_text(&in_use);
    }

    /// Runs an example binary with `args` and returns its output, asserting it succeeded.
    ///
    /// # Panics
    /// When the binary cannot start or exits unsuccessfully.
    #[must_use]
    pub fn run_ok(bin: &str, args: &[&str]) -> Output {
        run_ok_with_env(bin, args, &[])
    }

    /// The environment that turns on the spine's per-event `event handled` lines (DEBUG) on
    /// top of the default `info`, for tests that read them.
    pub const PER_EVENT_LOGS: &[(&str, &str)] = &[("RUST_LOG", "info,necro_spine=debug")];

    /// As [`run_ok`], with these environment variables set (e.g. `RUST_LOG`).
    ///
    /// # Panics
    /// When the binary cannot start or exits unsuccessfully.
    #[must_use]
    pub fn run_ok_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("{bin} did not start: {e}"));
        assert!(
            out.status.success(),
            "{bin} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// Prints the end-of-run part every example shares: the spine's stats and the dead-letter
/// queue's contents with their reasons (the first `max_listed` of them).
pub fn print_spine_summary(
    stats: &necro_spine::Stats,
    dead_letters: &[DeadLetterEntry],
    max_listed: usize,
) {
    outln!("--- spine stats ---");
    outln!("{stats}");
    outln!("--- dead-letter queue: {} ---", dead_letters.len());
    for d in dead_letters.iter().take(max_listed) {
        let event_type = d.event_type().unwrap_or("<unreadable>");
        let payload = d.event().map_or("", |e| e.payload_json());
        outln!("DLQ {event_type} {payload}: {}", d.reason());
    }
    if dead_letters.len() > max_listed {
        outln!("... and {} more", dead_letters.len() - max_listed);
    }
}

/// Parses a rate between 0 and 1 (a `--…-failure-rate` flag's value parser).
///
/// # Errors
/// A message for text that is not a number or lies outside 0..=1.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{r} is not between 0 and 1"))
    }
}

/// Turns an example's result into its exit code: success, or `error: <message>: <cause>: …`
/// (the whole cause chain, in Display form) on stderr and exit code 1.
pub fn exit_code(result: Result<(), BoxError>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", necro_core::error_chain(&*err));
            if err.is::<RunAppError>() {
                // Interrupted: a prompt's blocking read of stdin may still be waiting, and the
                // runtime would wait for it on shutdown. Exit now (stdout is flushed).
                std::process::exit(1);
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error type of the examples' `main`s and apps.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
