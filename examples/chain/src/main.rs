//! A three-step event chain: `START` → Step1 (process) → `STEP2` → Step2 (transform) → `STEP3`
//! → Step3 (complete). Every step is its own organ; none knows the others.
//!
//! Run with `cargo run -p example-chain` (add `-- --value 21`, or `-- --backend redis`;
//! `-- --json-logs --metrics-addr 127.0.0.1:9464` for JSON logs on stderr and metrics).
#![forbid(unsafe_code)]

use clap::Parser;
use example_support::{BackendArgs, ObserveArgs, ObserveGuard};
use necro_core::{BoxBackend, Emit, Event, OrganError, Payload, TypedOrgan};
use necro_spine::{Spine, Stats};
use serde::{Deserialize, Serialize};

/// The value that flows down the chain.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "START")]
struct Start {
    value: i64,
}

#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "STEP2")]
struct Step2 {
    processed: i64,
}

#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "STEP3")]
struct Step3 {
    transformed: i64,
}

/// Step 1: process (double the value).
struct Process;
impl TypedOrgan for Process {
    type Input = Start;
    async fn handle(&self, start: Start, _event: &Event) -> Result<Emit, OrganError> {
        example_support::outln!("Step1: processing {}", start.value);
        let processed = start
            .value
            .checked_mul(2)
            .ok_or_else(|| OrganError::permanent_msg("value overflows"))?;
        Ok(Event::from_payload(&Step2 { processed })?.into())
    }
}

/// Step 2: transform (add one).
struct Transform;
impl TypedOrgan for Transform {
    type Input = Step2;
    async fn handle(&self, step: Step2, _event: &Event) -> Result<Emit, OrganError> {
        example_support::outln!("Step2: transforming {}", step.processed);
        let transformed = step
            .processed
            .checked_add(1)
            .ok_or_else(|| OrganError::permanent_msg("value overflows"))?;
        Ok(Event::from_payload(&Step3 { transformed })?.into())
    }
}

/// Step 3: complete.
struct Complete;
impl TypedOrgan for Complete {
    type Input = Step3;
    async fn handle(&self, step: Step3, _event: &Event) -> Result<Emit, OrganError> {
        example_support::outln!("Step3: complete, result = {}", step.transformed);
        Ok(Emit::none())
    }
}

/// A three-step event chain on NecroStack: START → STEP2 → STEP3, one organ per step.
#[derive(Parser)]
struct Cli {
    /// The value to send down the chain.
    #[arg(long, default_value_t = 5)]
    value: i64,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

struct Chain<'a> {
    value: i64,
    observe: &'a ObserveGuard,
}

impl Chain<'_> {
    /// Runs the example on the backend `--backend` chose.
    async fn run(
        self,
        backend: BoxBackend,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let spine = Spine::builder(backend)
            .organ(Process)
            .organ(Transform)
            .organ(Complete)
            .build()?;
        let stats: Stats = spine
            .run_event(Event::from_payload(&Start { value: self.value })?)
            .await?;
        self.observe.summary(&stats);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    example_support::exit_code(try_main().await)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cli = Cli::parse();
    let observe = cli.observe.install()?;
    let app = Chain {
        value: cli.value,
        observe: &observe,
    };
    cli.backend
        .run("chain", &observe, |backend| app.run(backend))
        .await
}
