//! Hello World on NecroStack: a `HELLO` event, a `Greeter` organ that answers with `GREETED`,
//! and a `Printer` organ that prints the greeting.
//!
//! Run with `cargo run -p example-hello` (add `-- --name Ada`, or `-- --backend redis`;
//! `-- --json-logs --metrics-addr 127.0.0.1:9464` for JSON logs on stderr and metrics).
//! `example_support::run` adds those flags to `Args`, connects the chosen backend into a
//! `BoxBackend`, and stops and cleans up on SIGINT or SIGTERM.

use example_support::outln;
use necro_core::{Emit, Event, OrganError, Payload, TypedOrgan, organ_fn, serde_json::json};
use necro_spine::Spine;
use serde::{Deserialize, Serialize};

/// `HELLO`: someone to greet.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "HELLO")]
struct Hello {
    name: String,
}

/// 1. Define the handlers: the Greeter answers `HELLO` with `GREETED`…
struct Greeter;
impl TypedOrgan for Greeter {
    type Input = Hello;
    async fn handle(&self, hello: Hello, _: &Event) -> Result<Emit, OrganError> {
        let msg = format!("Hello, {}!", hello.name);
        Ok(Event::new("GREETED", json!({ "msg": msg }))?.into())
    }
}

/// Hello World on NecroStack: a HELLO event, a Greeter organ that answers with GREETED, and a
/// Printer organ that prints the greeting.
#[derive(clap::Parser)]
struct Args {
    /// Who to greet.
    #[arg(long, default_value = "World")]
    name: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    example_support::run(|args: Args, backend| async move {
        // …and the Printer prints it. 2. Wire them up.
        let printer = organ_fn("Printer", ["GREETED"], |greeted: Event| async move {
            outln!("{}", greeted.payload()["msg"].as_str().unwrap_or_default());
            Ok(Emit::none())
        });
        let organs = Spine::builder(backend).organ(Greeter).organ(printer);
        let spine = organs.build()?;
        // 3. Run it until the flow is drained.
        let hello = Event::from_payload(&Hello { name: args.name })?;
        Ok(spine.run_event(hello).await?)
    })
    .await
}
