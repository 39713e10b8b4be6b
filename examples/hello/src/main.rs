//! Hello World on NecroStack: a `HELLO` event, a `Greeter` organ that answers with `GREETED`,
//! and a `Printer` organ that prints the greeting.
//!
//! Run with `cargo run -p example-hello` (add `-- --name Ada`, or `-- --backend redis`;
//! `-- --json-logs --metrics-addr 127.0.0.1:9464` for JSON logs on stderr and metrics).
#![forbid(unsafe_code)]

use clap::Parser;
use example_support::{App, BackendArgs, ObserveArgs, ObserveGuard, run_app};
use necro_core::{Backend, DeadLetterStore, Emit, Event, Organ, OrganError, Payload, TypedOrgan};
use necro_spine::{Spine, Stats};
use serde::{Deserialize, Serialize};

/// `HELLO`: someone to greet.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "HELLO")]
struct Hello {
    name: String,
}

/// `GREETED`: the greeting.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "GREETED")]
struct Greeted {
    msg: String,
}

/// 1. Define handlers.
struct Greeter;
impl TypedOrgan for Greeter {
    type Input = Hello;
    async fn handle(&self, hello: Hello, _event: &Event) -> Result<Emit, OrganError> {
        let greeted = Greeted {
            msg: format!("Hello, {}!", hello.name),
        };
        Ok(Event::from_payload(&greeted)?.into())
    }
}

struct Printer;
impl Organ for Printer {
    fn listens_to(&self) -> &[&str] {
        &["GREETED"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        example_support::outln!("{}", event.decode::<Greeted>()?.msg);
        Ok(Emit::none())
    }
}

/// Hello World on NecroStack: a HELLO event, a Greeter organ that answers with GREETED, and a
/// Printer organ that prints the greeting.
#[derive(Parser)]
struct Cli {
    /// Who to greet.
    #[arg(long, default_value = "World")]
    name: String,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

struct Hello5<'a> {
    name: String,
    observe: &'a ObserveGuard,
}

impl App for Hello5<'_> {
    type Output = ();
    async fn run<B: Backend + DeadLetterStore>(
        self,
        backend: B,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // 2. Wire it up.
        let spine = Spine::builder(backend)
            .organ(Greeter)
            .organ(Printer)
            .build()?;
        // 3. Run it: until the flow is drained.
        let start = Event::from_payload(&Hello { name: self.name })?;
        let stats: Stats = spine.run_event(start).await?;
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
    let app = Hello5 {
        name: cli.name,
        observe: &observe,
    };
    run_app(&cli.backend, &observe, "hello", app).await
}
