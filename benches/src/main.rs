//! The NecroStack performance report.
//!
//! Run with `cargo run --release -p necro-bench -- report` (add `--json` for one JSON object,
//! `--quick` for a seconds-long smoke run whose figures mean nothing). Redis figures need a
//! server at `NECRO_BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`); without one they are
//! skipped with a line saying so.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use necro_bench::report::{self, Sizes};

/// mimalloc, for the raw baselines and NecroStack alike. Under glibc's allocator, events
/// allocated on one worker thread and freed on another serialize on the allocator's arena
/// locks (a quarter of the samples in a perf profile of the chain spread over two threads),
/// which caps every multi-threaded figure. See docs/benchmarks.md.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(about = "NecroStack benchmarks: the slide-13 table, measured against raw baselines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every scenario with its raw baseline and prints the table.
    Report {
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Tiny event counts: a smoke run of a few seconds.
        #[arg(long)]
        quick: bool,
    },
    /// (For profilers) Runs one in-memory chain scenario alone: `raw`, or the spine at
    /// `--concurrency N` (`--boxed`: through a `BoxBackend`).
    #[command(hide = true)]
    Profile {
        /// Root events (each makes three processed events).
        #[arg(long, default_value_t = 20_000)]
        roots: u64,
        /// Spine concurrency; 0 runs the raw channel chain.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Run the trading example (settlement off) with `--roots` orders instead.
        #[arg(long)]
        trading: bool,
        /// Run the spine's chain on the in-memory backend erased into a `BoxBackend`.
        #[arg(long)]
        boxed: bool,
    },
    /// (For profilers) The Redis streaming scenarios alone: the hop at each `--concurrency`
    /// and the producer, each with its raw baseline and its Redis commands per event.
    #[command(hide = true)]
    Hop {
        /// Events per run.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Deliveries per pull (and `XADD`s per `enqueue`).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Spine concurrencies to run the hop at.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        concurrency: Vec<usize>,
        /// Only this part: `hop`, `produce` or both (`all`).
        #[arg(long, default_value = "all")]
        only: String,
    },
}

fn main() {
    match Cli::parse().command {
        Command::Report { json, quick } => {
            let sizes = if quick { Sizes::quick() } else { Sizes::full() };
            let report = report::run(&sizes, &rss_in_child);
            if json {
                println!("{report}");
            } else {
                print!("{}", report::table(&report));
            }
        }
        Command::Profile {
            roots,
            concurrency,
            trading,
            boxed,
        } => {
            use necro_bench::{memory, report::describe, stats};
            let rt = stats::runtime();
            let run = stats::run_on(&rt, async move {
                if trading {
                    let orders = necro_bench::trading::orders(roots);
                    return necro_bench::trading::necro_orders(orders, None, concurrency).await;
                }
                let roots = memory::roots(roots);
                if concurrency == 0 {
                    memory::raw_chain(roots).await
                } else if boxed {
                    memory::necro_chain_boxed(roots, concurrency).await
                } else {
                    memory::necro_chain(roots, concurrency).await
                }
            });
            println!("{}", describe(&run));
        }
        Command::Hop {
            events,
            batch,
            concurrency,
            only,
        } => hop(events, batch, &concurrency, &only),
    }
}

fn hop(events: u64, batch: usize, concurrency: &[usize], only: &str) {
    use necro_bench::{hop, redis, stats};
    let rt = stats::runtime();
    // The scenarios run as 'static tasks; one URL for the life of the process.
    let url: &'static str = Box::leak(redis::url().into_boxed_str());
    let show = |name: &str, (run, cmds): (stats::Run, hop::Commands)| {
        println!(
            "{name:<28} {:>10.0} events/s  {:>5.2} cmds/event  {}",
            run.per_sec(),
            cmds.total_per_event(run.events),
            cmds.per_event(run.events)
        );
    };
    if only == "all" || only == "hop" {
        show(
            "raw hop",
            stats::run_on(&rt, hop::raw_hop(url, events, batch)),
        );
        for &c in concurrency {
            show(
                &format!("necro hop c={c}"),
                stats::run_on(&rt, hop::necro_hop(url, events, batch, c)),
            );
        }
    }
    if only == "all" || only == "produce" {
        show(
            "raw xadd 64 in flight",
            stats::run_on(&rt, hop::raw_produce(url, events)),
        );
        show(
            "necro send 64 in flight",
            stats::run_on(&rt, hop::necro_send(url, events)),
        );
        show(
            &format!("raw xadd pipelines of {batch}"),
            stats::run_on(&rt, hop::raw_produce_batches(url, events, batch)),
        );
        show(
            &format!("necro enqueue of {batch}"),
            stats::run_on(&rt, hop::necro_enqueue(url, events, batch)),
        );
    }
}

/// Runs `necro-bench-rss` (the sibling binary, on the system allocator) in a child process so
/// the figure is that process's own peak. Under `cargo run`, which builds only this binary,
/// the sibling is built first with the same cargo and profile.
fn rss_in_child(events: u64, raw: bool) -> Result<u64, String> {
    use std::process::Command;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let sibling = exe.with_file_name(format!("necro-bench-rss{}", std::env::consts::EXE_SUFFIX));
    if !sibling.exists() {
        let cargo = std::env::var_os("CARGO").ok_or_else(|| {
            format!(
                "{} is missing; build it with `cargo build --release -p necro-bench`",
                sibling.display()
            )
        })?;
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "necro-bench",
            "--bin",
            "necro-bench-rss",
        ]);
        if exe.parent().is_some_and(|d| d.ends_with("release")) {
            build.arg("--release");
        }
        let status = build
            .status()
            .map_err(|e| format!("cannot run cargo to build necro-bench-rss: {e}"))?;
        if !status.success() {
            return Err(format!("building necro-bench-rss failed ({status})"));
        }
    }
    let mut cmd = Command::new(&sibling);
    cmd.args(["--events", &events.to_string()]);
    if raw {
        cmd.arg("--raw");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sibling.display()))?;
    if !out.status.success() {
        return Err(format!(
            "necro-bench-rss failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|e| {
        format!(
            "necro-bench-rss printed {:?}, not a byte count: {e}",
            text.trim()
        )
    })
}
