//! The original's séance demo chain: `SUMMON_RITUAL` → Medium → `SPIRIT_APPEARED` → Oracle →
//! `ANSWER_GENERATED` → Augur → `OMEN_REVEALED` → Scribe (printed). The user's question
//! travels down the whole chain (the Python demo dropped it).
//!
//! Run with `cargo run -p example-seance` (add `-- --question "Will it ship?"`, `--seed 7`,
//! or `--backend redis`).
#![forbid(unsafe_code)]

use std::sync::Mutex;

use clap::Parser;
use example_support::{BackendArgs, ObserveArgs, print_spine_summary, read_dead_letters};
use necro_core::{BoxBackend, Emit, Event, OrganError, Payload, TypedOrgan};
use necro_spine::{HandlerFailureMode, Spine};
use serde::{Deserialize, Serialize};

/// `SUMMON_RITUAL`: the question the sitters ask.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "SUMMON_RITUAL")]
struct SummonRitual {
    question: String,
}

/// `SPIRIT_APPEARED`: who answered the call, and the question it was asked.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "SPIRIT_APPEARED")]
struct SpiritAppeared {
    question: String,
    spirit: String,
}

/// `ANSWER_GENERATED`: the spirit's answer to the question.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "ANSWER_GENERATED")]
struct AnswerGenerated {
    question: String,
    spirit: String,
    answer: String,
}

/// `OMEN_REVEALED`: the whole reading.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "OMEN_REVEALED")]
struct OmenRevealed {
    question: String,
    spirit: String,
    answer: String,
    omen: String,
}

const SPIRITS: &[&str] = &[
    "the Grey Lady",
    "Old Tom the Lamplighter",
    "a nameless child",
    "the Drowned Sailor",
];
const ANSWERS: &[&str] = &[
    "It is certain, though not soon.",
    "The mists say no.",
    "Ask again when the candle burns low.",
    "Yes — but at a price.",
    "What was lost will return.",
];
const OMENS: &[&str] = &[
    "a raven at the window",
    "the candle flame turns blue",
    "a cold draught from the cellar",
    "three knocks on the table",
];

/// Calls a spirit. An empty question is a permanent failure: no spirit answers silence.
struct Medium {
    rng: Mutex<fastrand::Rng>,
}
impl TypedOrgan for Medium {
    type Input = SummonRitual;
    async fn handle(&self, ritual: SummonRitual, _event: &Event) -> Result<Emit, OrganError> {
        let question = ritual.question.trim().to_owned();
        if question.is_empty() {
            return Err(OrganError::permanent_msg(
                "the ritual needs a question: no spirit answers silence",
            ));
        }
        let spirit = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            SPIRITS[rng.usize(..SPIRITS.len())].to_owned()
        };
        example_support::outln!("🕯  The circle asks: {question:?}");
        example_support::outln!("👻 {spirit} appears.");
        Ok(Event::from_payload(&SpiritAppeared { question, spirit })?.into())
    }
}

/// Answers the question (the answer depends on the question and the seed).
struct Oracle {
    seed: u64,
}
impl TypedOrgan for Oracle {
    type Input = SpiritAppeared;
    async fn handle(&self, s: SpiritAppeared, _event: &Event) -> Result<Emit, OrganError> {
        let mut h = self.seed;
        for b in s.question.bytes() {
            h = h.wrapping_mul(31).wrapping_add(u64::from(b));
        }
        let idx = usize::try_from(h % ANSWERS.len() as u64).unwrap_or(0);
        let answer = ANSWERS[idx].to_owned();
        example_support::outln!("💬 {} answers: {answer}", s.spirit);
        Ok(Event::from_payload(&AnswerGenerated {
            question: s.question,
            spirit: s.spirit,
            answer,
        })?
        .into())
    }
}

/// Reads an omen into the answer.
struct Augur {
    rng: Mutex<fastrand::Rng>,
}
impl TypedOrgan for Augur {
    type Input = AnswerGenerated;
    async fn handle(&self, a: AnswerGenerated, _event: &Event) -> Result<Emit, OrganError> {
        let omen = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            OMENS[rng.usize(..OMENS.len())].to_owned()
        };
        Ok(Event::from_payload(&OmenRevealed {
            question: a.question,
            spirit: a.spirit,
            answer: a.answer,
            omen,
        })?
        .into())
    }
}

/// Prints the reading.
struct Scribe;
impl TypedOrgan for Scribe {
    type Input = OmenRevealed;
    async fn handle(&self, o: OmenRevealed, _event: &Event) -> Result<Emit, OrganError> {
        example_support::outln!("🔮 The omen: {}.", o.omen);
        example_support::outln!(
            "📜 Reading — question: {:?}; spirit: {}; answer: {:?}; omen: {}",
            o.question,
            o.spirit,
            o.answer,
            o.omen
        );
        Ok(Emit::none())
    }
}

/// The séance demo chain on NecroStack.
#[derive(Parser)]
struct Cli {
    /// The question to ask the spirits.
    #[arg(long, default_value = "Will my code compile on the first try?")]
    question: String,
    /// Seed for the spirits' choices, so a reading can be reproduced.
    #[arg(long, default_value_t = 13)]
    seed: u64,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

struct Seance {
    question: String,
    seed: u64,
}

impl Seance {
    /// Runs the example on the backend `--backend` chose.
    async fn run(
        self,
        backend: BoxBackend,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let spine = Spine::builder(backend)
            .organ(Medium {
                rng: Mutex::new(fastrand::Rng::with_seed(self.seed)),
            })
            .organ(Oracle { seed: self.seed })
            .organ(Augur {
                rng: Mutex::new(fastrand::Rng::with_seed(self.seed.wrapping_add(1))),
            })
            .organ(Scribe)
            .handler_failure_mode(HandlerFailureMode::Store)
            .build()?;
        let stats = spine
            .run_event(Event::from_payload(&SummonRitual {
                question: self.question,
            })?)
            .await?;
        let dead = read_dead_letters(spine.backend(), 100).await?;
        example_support::outln!("--- summary ---");
        example_support::outln!(
            "readings completed: {}, rituals failed: {}",
            u64::from(dead.is_empty()),
            dead.len()
        );
        print_spine_summary(&stats, &dead, 100);
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
    let seance = Seance {
        question: cli.question,
        seed: cli.seed,
    };
    cli.backend
        .run("seance", &observe, |backend| seance.run(backend))
        .await?;
    Ok(())
}
