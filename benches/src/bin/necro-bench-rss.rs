//! (Internal to the report) Queues events in memory and prints the process's peak RSS in
//! bytes. A binary of its own so that it runs on the system allocator, the one a user gets by
//! default, while the report's throughput scenarios run on mimalloc (see `necro-bench`).
#![forbid(unsafe_code)]

use clap::Parser;

#[derive(Parser)]
#[command(about = "Peak RSS of queued events (used by `necro-bench report`)")]
struct Cli {
    /// How many events.
    #[arg(long)]
    events: u64,
    /// Hold the events' JSON as plain strings instead (the baseline).
    #[arg(long)]
    raw: bool,
}

fn main() {
    let cli = Cli::parse();
    let peak = if cli.raw {
        necro_bench::rss::queue_strings(cli.events)
    } else {
        necro_bench::rss::queue_events(cli.events)
    };
    match peak {
        Some(bytes) => println!("{bytes}"),
        None => {
            eprintln!("VmHWM is not available on this system");
            std::process::exit(1);
        }
    }
}
