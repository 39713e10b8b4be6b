//! The command-line shell the record-driven examples (notifications, trading) share: which
//! mode a run is in (the built-in demo, `--file`, `--stress N`, `--interactive`), reading a
//! `--file` as JSON or CSV by its extension, the stress run with its progress and throughput
//! line, and the prompt loop on stdin. Each example keeps its own domain behind [`Shell`]: how
//! a record is parsed, generated, sent and reported.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use necro_core::{Backend, BoxBackend};
use necro_spine::Spine;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{BackendArgs, BoxError, ObserveArgs, ObserveGuard, Progress, outln};

/// `--file`, `--interactive` and `--stress N`, flattened first into a shell example's command
/// line. An example words the help for its own records, and bounds `--stress`, with
/// `#[command(mut_arg("stress", |a| a.help(..).value_parser(..)))]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShellArgs {
    /// Read records from a JSON or CSV file (CSV by the `.csv` extension).
    #[arg(long, conflicts_with_all = ["interactive", "stress"])]
    pub file: Option<PathBuf>,
    /// Read records or commands from standard input, one per line.
    #[arg(long, conflicts_with = "stress")]
    pub interactive: bool,
    /// Send N generated records at once and report throughput.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub stress: Option<u64>,
}

impl ShellArgs {
    /// The mode these flags ask for: `--interactive`, else `--stress N`, else `--file` (read
    /// now, with `records`), else the built-in demo's records.
    ///
    /// # Errors
    /// The file's, as [`read_file`] gives them, or the demo's.
    pub fn mode<R>(&self, records: &Records<R>) -> Result<Mode<R>, BoxError> {
        Ok(if self.interactive {
            Mode::Interactive
        } else if let Some(n) = self.stress {
            Mode::Stress(n)
        } else if let Some(path) = &self.file {
            Mode::Records(read_file(path, records)?)
        } else {
            Mode::Records((records.demo)()?)
        })
    }
}

/// What a run does, chosen from the command line by [`ShellArgs::mode`].
#[derive(Debug)]
pub enum Mode<R> {
    /// Send these records (the built-in demo, or a `--file`'s), then drain.
    Records(Vec<R>),
    /// `--stress N`: N generated records at once, with progress and a throughput line.
    Stress(u64),
    /// `--interactive`: a prompt on stdin.
    Interactive,
}

impl<R> Mode<R> {
    /// Whether this is a `--stress` run (whose organs print nothing per event).
    #[must_use]
    pub fn is_stress(&self) -> bool {
        matches!(self, Self::Stress(_))
    }
}

/// Where an example's records come from when it is not stressed or prompted: a `--file` in
/// either format, or its built-in demo.
#[derive(Debug)]
pub struct Records<R> {
    /// Parses a `.json` file, or any file whose extension is not `csv`.
    pub json: fn(&str) -> Result<Vec<R>, BoxError>,
    /// Parses a `.csv` file (any case).
    pub csv: fn(&str) -> Result<Vec<R>, BoxError>,
    /// The built-in demo, run without `--file`.
    pub demo: fn() -> Result<Vec<R>, BoxError>,
}

/// `--backend`, `--redis-url`, `--stream` and the observability flags, flattened last into a
/// shell example's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Which backend carries the events.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Logs, metrics and the live page.
    #[command(flatten)]
    pub observe: ObserveArgs,
}

/// The `main` of a shell example, once its command line is parsed: installs the observability,
/// reads the mode from `shell` (a file now, with `records`), runs the example's body `app` on
/// the chosen backend (see [`BackendArgs::run`]) and turns the result into the exit code (see
/// [`crate::exit_code`]).
pub async fn main<R, Fut>(
    shell: &ShellArgs,
    run: &RunArgs,
    example: &str,
    records: &Records<R>,
    app: impl FnOnce(Mode<R>, &ObserveGuard, BoxBackend) -> Fut,
) -> std::process::ExitCode
where
    Fut: Future<Output = Result<(), BoxError>>,
{
    let result = async {
        let observe = run.observe.install()?;
        let mode = shell.mode(records)?;
        run.backend
            .run(example, &observe, |backend| app(mode, &observe, backend))
            .await
    };
    crate::exit_code(result.await)
}

/// Reads the records of the file at `path`: CSV when its extension is `csv` (any case), JSON
/// otherwise.
///
/// # Errors
/// `cannot read <path>: <cause>`, or `<path>: <the parser's error>`.
pub fn read_file<R>(path: &Path, records: &Records<R>) -> Result<Vec<R>, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let parse = if is_csv { records.csv } else { records.json };
    parse(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The rows of a CSV text with a header line, each field trimmed, as `T`s (for a
/// [`Records::csv`] parser).
///
/// # Errors
/// The first row that cannot be read or is not a `T`, as the `csv` crate words it.
pub fn csv_rows<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, BoxError> {
    let rows = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How a stress run counts its progress.
pub struct StressProgress {
    /// How many units the whole run answers for.
    pub total: u64,
    /// What a unit is called, plural (`"channels"`). When it is not what a record is called
    /// ([`Shell::RECORDS`]), the throughput line names the total as well.
    pub unit: &'static str,
    /// How many units are answered for so far; polled from another task while the run goes.
    pub done: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for StressProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StressProgress")
            .field("total", &self.total)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// A prompt line that cannot be understood: the prompt says why and goes on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadLine(pub String);

/// One example's side of the shell: its records and its prompt. [`run`] drives it.
pub trait Shell: Send + Sync {
    /// The backend its spine runs on.
    type Backend: Backend;
    /// What a file, the demo or the stress generator gives, one event (or command) each.
    type Record: Send;
    /// What a record is called, plural, in the stress line (`"requests"`, `"orders"`).
    const RECORDS: &'static str;
    /// The prompt's usage text, printed on `help` and after a bad line.
    const USAGE: &'static str;
    /// Whether [`Mode::Records`] drains after each record, so each is settled before the next
    /// is sent (arrival order is time priority), or sends them all and drains once.
    const ONE_AT_A_TIME: bool;

    /// The spine the records go to.
    fn spine(&self) -> &Spine<Self::Backend>;
    /// Sends one record to the spine (without draining it).
    fn send(&mut self, record: Self::Record) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// The records of `--stress n`, generated from `seed`.
    fn stress_records(&self, n: u64, seed: u64) -> Vec<Self::Record>;
    /// How the stress run of `records` counts its progress.
    fn stress_progress(&self, records: &[Self::Record]) -> StressProgress;
    /// What the prompt prints first.
    fn greeting(&self) -> String;
    /// Handles one prompt line (trimmed) other than an empty line, `help`, `quit` or `exit`.
    ///
    /// # Errors
    /// A [`BadLine`], printed as `error: <message>` with the usage, after which the prompt
    /// goes on; any other error ends the run (the spine's or the backend's).
    fn line(&mut self, line: &str) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Called once when stdin ends or on `quit`.
    fn prompt_closed(&mut self) {}
}

/// Runs `mode` on `session`: sends the records and drains, or the stress run (generated from
/// `seed`; its progress lines left out when `quiet`, e.g. under `--json-logs`), or the prompt.
///
/// # Errors
/// The session's, the spine's, or stdin's.
pub async fn run<S: Shell>(
    session: &mut S,
    mode: Mode<S::Record>,
    seed: u64,
    quiet: bool,
) -> Result<(), BoxError> {
    match mode {
        Mode::Records(records) => {
            for record in records {
                session.send(record).await?;
                if S::ONE_AT_A_TIME {
                    session.spine().run_until_drained().await?;
                }
            }
            if !S::ONE_AT_A_TIME {
                session.spine().run_until_drained().await?;
            }
            Ok(())
        }
        Mode::Stress(n) => stress(session, n, seed, quiet).await,
        Mode::Interactive => prompt(session).await,
    }
}

/// Sends `n` generated records at once, drains, and prints the throughput.
async fn stress<S: Shell>(session: &mut S, n: u64, seed: u64, quiet: bool) -> Result<(), BoxError> {
    let records = session.stress_records(n, seed);
    let StressProgress { total, unit, done } = session.stress_progress(&records);
    let started = Instant::now();
    let progress = {
        let done = Arc::clone(&done);
        Progress::start(total, unit, quiet, move || done())
    };
    for record in records {
        session.send(record).await?;
    }
    let stats = session.spine().run_until_drained().await?;
    progress.finish(done());
    let secs = started.elapsed().as_secs_f64().max(f64::EPSILON);
    #[allow(clippy::cast_precision_loss)]
    let (records, events) = (n as f64 / secs, stats.processed as f64 / secs);
    let what = S::RECORDS;
    let units = if unit == what {
        String::new()
    } else {
        format!("{total} {unit}, ")
    };
    outln!(
        "stress: {n} {what} ({units}{} events) in {secs:.2} s: {records:.0} {what}/s, {events:.0} events/s",
        stats.processed
    );
    Ok(())
}

/// The prompt: one line at a time from stdin until it ends or `quit`/`exit`.
async fn prompt<S: Shell>(session: &mut S) -> Result<(), BoxError> {
    outln!("{}", session.greeting());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        match line.to_lowercase().as_str() {
            "" => {}
            "quit" | "exit" => break,
            "help" => outln!("{}", S::USAGE),
            _ => match session.line(line).await {
                Ok(()) => {}
                Err(e) => match e.downcast::<BadLine>() {
                    Ok(bad) => outln!("error: {bad}\n{}", S::USAGE),
                    Err(e) => return Err(e),
                },
            },
        }
    }
    session.prompt_closed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        shell: ShellArgs,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Row {
        name: String,
        n: u32,
    }

    fn json(text: &str) -> Result<Vec<String>, BoxError> {
        Ok(vec![format!("json:{}", text.trim())])
    }

    fn csv(text: &str) -> Result<Vec<String>, BoxError> {
        Ok(csv_rows::<Row>(text)?
            .into_iter()
            .map(|r| format!("csv:{}={}", r.name, r.n))
            .collect())
    }

    const RECORDS: Records<String> = Records {
        json,
        csv,
        demo: || Ok(vec!["demo".to_owned()]),
    };

    fn mode(args: &[&str]) -> Mode<String> {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).unwrap();
        cli.shell.mode(&RECORDS).unwrap()
    }

    fn file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("example-support-shell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_mode_is_prompt_then_stress_then_file_then_demo() {
        assert!(matches!(mode(&["--interactive"]), Mode::Interactive));
        assert!(matches!(mode(&["--stress", "3"]), Mode::Stress(3)));
        assert!(matches!(mode(&[]), Mode::Records(r) if r == ["demo"]));
        let path = file("a.json", "{}");
        let got = mode(&["--file", path.to_str().unwrap()]);
        assert!(matches!(got, Mode::Records(r) if r == ["json:{}"]));
        assert!(Cli::try_parse_from(["t", "--interactive", "--stress", "3"]).is_err());
        assert!(Cli::try_parse_from(["t", "--stress", "0"]).is_err());
    }

    #[test]
    fn a_file_is_csv_by_its_extension_in_any_case_and_json_otherwise() {
        let text = "name , n\n a , 1\nb,2\n";
        for name in ["rows.csv", "ROWS.CSV"] {
            let got = read_file(&file(name, text), &RECORDS).unwrap();
            assert_eq!(got, ["csv:a=1", "csv:b=2"], "{name}");
        }
        let got = read_file(&file("rows.txt", " x "), &RECORDS).unwrap();
        assert_eq!(got, ["json:x"]);
    }

    #[test]
    fn a_bad_file_names_its_path_and_the_cause() {
        let missing = std::env::temp_dir().join("example-support-shell-no-such-file.csv");
        let err = read_file(&missing, &RECORDS).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot read {}: ", missing.display())),
            "{err}"
        );
        let bad = file("bad.csv", "name,n\na,many\n");
        let err = read_file(&bad, &RECORDS).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: CSV deserialize error", bad.display())),
            "{err}"
        );
        assert!(err.contains("field 1"), "{err}");
    }
}
