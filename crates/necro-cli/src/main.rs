//! # necro
//!
//! NecroStack's operator command line, on the Redis backend: `necro stats` shows a stream,
//! its consumer groups and consumers; `necro dlq list|show|replay|purge` finds, reads,
//! replays and purges dead letters, `necro dlq bound` shows what the dead-letter retention
//! bound would drop next; `necro consumers prune` removes the consumers that
//! crashed workers left behind. `necro --help` and every subcommand's `--help` have examples;
//! `docs/operations.md` walks through "events are failing".
//!
//! Every failure is one `error: …` line on standard error (causes included, passwords
//! masked) and exit code 1. Connecting writes nothing: no consumer group, stream or consumer
//! is created, and a stream that does not exist is an error.
#![forbid(unsafe_code)]

mod act;
mod cli;
mod connect;
mod consumers;
mod error;
mod list;
mod stats;
mod table;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use necro_core::error_chain;

use crate::cli::{Cli, Command, ConsumersCommand, DlqCommand};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime);
    let result = runtime.and_then(|rt| rt.block_on(run(cli)));
    match result.and_then(|out| write_stdout(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs one command; returns what to print on standard output.
async fn run(cli: Cli) -> Result<String, CliError> {
    let (backend, info) = connect::open(&cli).await?;
    let result = match &cli.command {
        Command::Stats => stats::stats(&info, cli.json),
        Command::Dlq(DlqCommand::List(args)) => list::list(&backend, args, cli.json).await,
        Command::Dlq(DlqCommand::Show(args)) => list::show(&backend, args, cli.json).await,
        Command::Dlq(DlqCommand::Replay(args)) => {
            act::act(&backend, act::Action::Replay, args, cli.json).await
        }
        Command::Dlq(DlqCommand::Purge(args)) => {
            act::act(&backend, act::Action::Purge, args, cli.json).await
        }
        Command::Dlq(DlqCommand::Bound(args)) => stats::bound(&backend, args, cli.json).await,
        Command::Consumers(ConsumersCommand::Prune(args)) => {
            consumers::prune(&backend, &info, args, cli.json).await
        }
    };
    // The CLI never read, so it holds nothing and left no consumer; a failed close changes
    // nothing the operator asked for.
    let _ = backend.close().await;
    result
}

/// Writes the output; a closed pipe (`necro dlq list | head`) is not a failure.
fn write_stdout(out: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

/// `--help` and `--version` print as usual; any other parse error is one `error:` line
/// pointing at the right `--help`, and exit code 1.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    let command = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "necro".to_owned());
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!("error: `{command}` needs a subcommand")
    } else {
        rendered
            .lines()
            .next()
            .unwrap_or("error: invalid arguments")
            .trim_end()
            .to_owned()
    };
    let _ = writeln!(std::io::stderr(), "{message} (see `{command} --help`)");
    ExitCode::FAILURE
}
