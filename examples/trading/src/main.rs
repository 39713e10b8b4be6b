//! A trading order book: validation, a price-time-priority matching engine per
//! symbol, settlement with the clearing house, a risk manager and an audit trail (the
//! pipeline itself lives in the `example_trading` library).
//!
//! Run with `cargo run -p example-trading` (add `-- --file <json|csv>`, `--interactive`,
//! `--stress 5000`, `--seed 7`, `--fast`, or `--backend redis`).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use clap::Parser;
use example_support::shell::{
    self, BadLine, Mode, Records, RunArgs, Shell, ShellArgs, StressProgress,
};
use example_support::{BoxError, print_spine_summary, read_dead_letters};
use example_trading::book::{Price, Side};
use example_trading::organs::{CancelRequested, OrderSubmitted, SYMBOLS};
use example_trading::{Handles, TradingConfig, build_spine};
use necro_core::{Backend, BoxBackend, DeadLetterQueue, Event};
use necro_spine::Spine;
use serde::Deserialize;

/// The seed sample, built in so the demo needs no file.
const BUILT_IN: &str = include_str!("../data/sample_orders.json");

/// A trading order book on NecroStack: validation, price-time-priority matching per symbol,
/// settlement with retries, risk alerts and an audit trail.
#[derive(Parser)]
// The shared `--file`, `--interactive` and `--stress` (example_support::shell::ShellArgs),
// in this example's words.
#[command(
    mut_arg("file", |a| a.help(
        "Read orders from a JSON (`{\"orders\": [...]}`) or CSV \
            (`trader_id,symbol,side,order_type,quantity,price`) file"
    )),
    mut_arg("interactive", |a| a.help(
        "Read commands from standard input: `BUY 100 AAPL @ 150.50`, `SELL 50 TSLA MKT`, \
            `cancel 3`, `trader bob`, `book AAPL`, `positions`, `stats`, `quit`"
    )),
    mut_arg("stress", |a| a
        .help("Submit N generated orders (1 to 1,000,000) at once and report throughput")
        .value_parser(clap::value_parser!(u64).range(1..=1_000_000))),
)]
struct Cli {
    #[command(flatten)]
    shell: ShellArgs,
    /// Seed for settlement failures (and the stress order mix), so a run can be reproduced.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated clearing-house latency in ms.
    #[arg(long, default_value_t = 5)]
    settlement_latency_ms: u64,
    /// No simulated latency (for tests and quick runs).
    #[arg(long)]
    fast: bool,
    /// Fraction of settlement attempts that fail transiently (0 to 1).
    #[arg(long, default_value_t = 0.2, value_parser = example_support::parse_rate)]
    settlement_failure_rate: f64,
    /// Events the spine handles at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    #[command(flatten)]
    run: RunArgs,
}

/// One order as the sample files write it.
#[derive(Debug, Clone, Deserialize)]
struct OrderSpec {
    trader_id: String,
    symbol: String,
    side: String,
    order_type: String,
    quantity: i64,
    price: f64,
}

#[derive(Deserialize)]
struct JsonFile {
    orders: Vec<OrderSpec>,
}

/// What the producer sends.
#[derive(Debug, Clone)]
enum Command {
    Order(OrderSpec),
    Cancel { order_id: u64, trader_id: String },
}

fn parse_json(text: &str) -> Result<Vec<Command>, BoxError> {
    let orders = serde_json::from_str::<JsonFile>(text)?.orders;
    Ok(orders.into_iter().map(Command::Order).collect())
}

fn parse_csv(text: &str) -> Result<Vec<Command>, BoxError> {
    let orders = shell::csv_rows::<OrderSpec>(text)?;
    Ok(orders.into_iter().map(Command::Order).collect())
}

/// The built-in demo: the seed sample, then a cancel, a rejected order and a trade with a
/// frozen account (dead-lettered at settlement).
fn demo_commands() -> Result<Vec<Command>, BoxError> {
    let mut cmds = parse_json(BUILT_IN)?;
    let order = |trader: &str, symbol: &str, side: &str, kind: &str, qty: i64, price: f64| {
        Command::Order(OrderSpec {
            trader_id: trader.into(),
            symbol: symbol.into(),
            side: side.into(),
            order_type: kind.into(),
            quantity: qty,
            price,
        })
    };
    cmds.push(Command::Cancel {
        order_id: 2,
        trader_id: "alice".into(),
    });
    cmds.push(order("zed", "NFLX", "BUY", "LIMIT", 10, 400.0));
    cmds.push(order("zed", "AAPL", "BUY", "LIMIT", 0, 150.0));
    cmds.push(order("mallory", "AAPL", "BUY", "MARKET", 20, 0.0));
    Ok(cmds)
}

/// Generates `n` orders around 100.00: mostly limits, some markets, a few invalid.
fn stress_orders(n: u64, seed: u64) -> Vec<Command> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            let market = rng.u8(..100) < 15;
            let cents = 9_800 + 5 * rng.u64(..=80);
            #[allow(clippy::cast_precision_loss)]
            let price = cents as f64 / 100.0;
            Command::Order(OrderSpec {
                trader_id: format!("trader_{:02}", rng.u8(..20)),
                symbol: SYMBOLS[rng.usize(..SYMBOLS.len())].to_owned(),
                side: if rng.bool() { "BUY" } else { "SELL" }.to_owned(),
                order_type: if market { "MARKET" } else { "LIMIT" }.to_owned(),
                quantity: if rng.u8(..100) == 0 {
                    0
                } else {
                    rng.i64(1..=500)
                },
                price: if market { 0.0 } else { price },
            })
        })
        .collect()
}

const USAGE: &str = "commands: BUY|SELL <qty> <SYMBOL> [@ <price> | MKT]   e.g. BUY 100 AAPL @ 150.50, SELL 50 TSLA MKT\n          cancel <order id> | trader <name> | book <SYMBOL> | positions | stats | help | quit";

/// One parsed prompt line (the shell itself answers `help`, `quit` and empty lines).
enum Line {
    Order {
        side: String,
        quantity: i64,
        symbol: String,
        price: Option<f64>,
    },
    Cancel(u64),
    Trader(String),
    Book(String),
    Positions,
    Stats,
}

fn parse_line(line: &str) -> Result<Line, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Err("an empty line is not a command".into());
    };
    let rest = &words[1..];
    match (first.to_uppercase().as_str(), rest) {
        ("STATS", []) => Ok(Line::Stats),
        ("POSITIONS", []) => Ok(Line::Positions),
        ("BOOK", [symbol]) => Ok(Line::Book(symbol.to_uppercase())),
        ("TRADER", [name]) => Ok(Line::Trader((*name).to_owned())),
        ("CANCEL", [id]) => id
            .trim_start_matches('#')
            .parse()
            .map(Line::Cancel)
            .map_err(|_| format!("{id:?} is not an order id")),
        (side @ ("BUY" | "SELL"), [qty, symbol, tail @ ..]) => {
            let quantity: i64 = qty
                .parse()
                .map_err(|_| format!("quantity {qty:?} is not a whole number"))?;
            let price_text = match tail {
                [] => None,
                [m] if m.eq_ignore_ascii_case("MKT") || m.eq_ignore_ascii_case("MARKET") => None,
                ["@", p] => Some(*p),
                [p] if p.starts_with('@') => Some(&p[1..]),
                _ => return Err(format!("expected `@ <price>` or `MKT` after {symbol}")),
            };
            let price = price_text
                .map(|p| Price::parse(p).map(Price::as_f64))
                .transpose()?;
            Ok(Line::Order {
                side: side.to_owned(),
                quantity,
                symbol: symbol.to_uppercase(),
                price,
            })
        }
        ("BUY" | "SELL", _) => Err("an order needs a quantity and a symbol".into()),
        _ => Err(format!("unknown command {first:?}")),
    }
}

struct Trading {
    mode: Mode<Command>,
    config: TradingConfig,
    /// Under `--json-logs` stderr carries JSON lines only: no progress lines.
    json_logs: bool,
}

struct Session<B: Backend> {
    spine: Spine<B>,
    handles: Handles,
    next_id: u64,
    symbols_by_order: HashMap<u64, String>,
    /// Who the prompt's orders and cancels are from (`trader <name>`).
    trader: String,
}

impl<B: Backend + DeadLetterQueue> Session<B> {
    fn count(&self, event_type: &str) -> u64 {
        self.handles
            .audit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counts
            .get(event_type)
            .copied()
            .unwrap_or(0)
    }

    fn print_book(&self, symbol: &str) {
        let engine = self
            .handles
            .engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(book) = engine.engine.book(symbol) else {
            example_support::outln!("{symbol}: empty book");
            return;
        };
        let fmt = |levels: Vec<(Price, u64, usize)>| {
            if levels.is_empty() {
                return "-".to_owned();
            }
            levels
                .iter()
                .take(5)
                .map(|(p, q, n)| format!("{q} @ {p} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        example_support::outln!(
            "{symbol:<6} bids: {}  |  asks: {}",
            fmt(book.levels(Side::Buy)),
            fmt(book.levels(Side::Sell))
        );
    }

    fn print_positions(&self) {
        let risk = self
            .handles
            .risk
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if risk.positions.is_empty() {
            example_support::outln!("no settled positions");
        }
        for ((trader, symbol), p) in risk.positions.iter().take(50) {
            let cash = p.cash.unsigned_abs();
            let sign = if p.cash < 0 { "-" } else { "+" };
            example_support::outln!(
                "{trader:<10} {symbol:<6} {:>+7} shares  cash {sign}{}.{:02}",
                p.quantity,
                cash / 100,
                cash % 100
            );
        }
        if risk.positions.len() > 50 {
            example_support::outln!("... and {} more positions", risk.positions.len() - 50);
        }
    }

    fn print_stats_line(&self) {
        let s = self.spine.stats();
        example_support::outln!(
            "orders {}, rejected {}, filled {}, partial {}, queued {}, cancelled {}, trades {}, settled {}, risk alerts {}; spine processed {}, dead-lettered {}",
            self.next_id,
            self.count("ORDER_REJECTED"),
            self.count("ORDER_FILLED"),
            self.count("ORDER_PARTIAL_FILL"),
            self.count("ORDER_QUEUED"),
            self.count("ORDER_CANCELLED"),
            self.count("TRADE_EXECUTED"),
            self.count("TRADE_SETTLED"),
            self.count("RISK_ALERT"),
            s.processed,
            s.dead_lettered
        );
    }

    async fn print_summary(&self) -> Result<(), BoxError> {
        let dead = read_dead_letters(self.spine.backend(), 1_000_000).await?;
        let settle_dead = dead
            .iter()
            .filter(|d| d.event_type() == Some("TRADE_EXECUTED"))
            .count();
        example_support::outln!("--- summary ---");
        example_support::outln!(
            "orders submitted: {}, rejected: {}, filled: {}, partially filled: {}, queued: {}, cancelled: {}",
            self.count("ORDER_SUBMITTED"),
            self.count("ORDER_REJECTED"),
            self.count("ORDER_FILLED"),
            self.count("ORDER_PARTIAL_FILL"),
            self.count("ORDER_QUEUED"),
            self.count("ORDER_CANCELLED"),
        );
        example_support::outln!(
            "trades executed: {}, settled: {}, settlement dead-lettered: {}, risk alerts: {}",
            self.count("TRADE_EXECUTED"),
            self.count("TRADE_SETTLED"),
            settle_dead,
            self.count("RISK_ALERT"),
        );
        {
            let e = self
                .handles
                .engine
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let resting = e.resting_quantity();
            example_support::outln!(
                "quantity: accepted {} = filled {} + resting {} + cancelled {}: {}",
                e.accepted_quantity,
                e.filled_quantity,
                resting,
                e.cancelled_quantity,
                if e.conserved() {
                    "conserved"
                } else {
                    "NOT CONSERVED"
                }
            );
            let crossed: Vec<&str> = e
                .engine
                .books()
                .filter(|(_, b)| b.is_crossed())
                .map(|(s, _)| s)
                .collect();
            example_support::outln!(
                "crossed books: {}",
                if crossed.is_empty() {
                    "none".to_owned()
                } else {
                    crossed.join(", ")
                }
            );
        }
        example_support::outln!("--- final books ---");
        let symbols: Vec<String> = {
            let e = self
                .handles
                .engine
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            e.engine.books().map(|(s, _)| s.to_owned()).collect()
        };
        for s in &symbols {
            self.print_book(s);
        }
        example_support::outln!("--- positions (settled) ---");
        self.print_positions();
        example_support::outln!("--- risk alerts ---");
        {
            let risk = self
                .handles
                .risk
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (trader, kind, symbol) in risk.alerted.iter().take(20) {
                example_support::outln!("RISK {trader} {kind} {symbol}");
            }
            if risk.alerted.len() > 20 {
                example_support::outln!("... and {} more alerts", risk.alerted.len() - 20);
            }
        }
        print_spine_summary(&self.spine.stats(), &dead, 20);
        Ok(())
    }
}

impl Trading {
    /// Runs the example on the backend `--backend` chose.
    async fn run(self, backend: BoxBackend) -> Result<(), BoxError> {
        let (spine, handles) = build_spine(backend, &self.config)?;
        let mut session = Session {
            spine,
            handles,
            next_id: 0,
            symbols_by_order: HashMap::new(),
            trader: "you".to_owned(),
        };
        shell::run(&mut session, self.mode, self.config.seed, self.json_logs).await?;
        session.print_summary().await
    }
}

impl<B: Backend + DeadLetterQueue> Shell for Session<B> {
    type Backend = B;
    type Record = Command;
    const RECORDS: &'static str = "orders";
    const USAGE: &'static str = USAGE;
    // One command at a time, drained before the next: arrival order is time priority, as at
    // an exchange's gateway.
    const ONE_AT_A_TIME: bool = true;

    fn spine(&self) -> &Spine<B> {
        &self.spine
    }

    async fn send(&mut self, cmd: Command) -> Result<(), BoxError> {
        let event = match cmd {
            Command::Order(spec) => {
                self.next_id += 1;
                self.symbols_by_order
                    .insert(self.next_id, spec.symbol.to_uppercase());
                Event::from_payload(&OrderSubmitted {
                    order_id: self.next_id,
                    trader_id: spec.trader_id,
                    symbol: spec.symbol,
                    side: spec.side,
                    order_type: spec.order_type,
                    quantity: spec.quantity,
                    price: spec.price,
                })?
            }
            Command::Cancel {
                order_id,
                trader_id,
            } => Event::from_payload(&CancelRequested {
                order_id,
                symbol: self
                    .symbols_by_order
                    .get(&order_id)
                    .cloned()
                    .unwrap_or_default(),
                trader_id,
            })?,
        };
        self.spine.send(event).await?;
        Ok(())
    }

    fn stress_records(&self, n: u64, seed: u64) -> Vec<Command> {
        stress_orders(n, seed)
    }

    /// Counted in orders: each is rejected, filled, partially filled, queued or cancelled.
    fn stress_progress(&self, orders: &[Command]) -> StressProgress {
        let audit = Arc::clone(&self.handles.audit);
        StressProgress {
            total: orders.len() as u64,
            unit: "orders",
            done: Arc::new(move || -> u64 {
                let a = audit.lock().unwrap_or_else(PoisonError::into_inner);
                [
                    "ORDER_REJECTED",
                    "ORDER_FILLED",
                    "ORDER_PARTIAL_FILL",
                    "ORDER_QUEUED",
                    "ORDER_CANCELLED",
                ]
                .iter()
                .filter_map(|t| a.counts.get(*t))
                .sum()
            }),
        }
    }

    fn greeting(&self) -> String {
        format!(
            "trading prompt — you are trader \"{}\"\n{USAGE}",
            self.trader
        )
    }

    async fn line(&mut self, line: &str) -> Result<(), BoxError> {
        let trader_id = self.trader.clone();
        let cmd = match parse_line(line).map_err(BadLine)? {
            Line::Stats => {
                self.print_stats_line();
                return Ok(());
            }
            Line::Positions => {
                self.print_positions();
                return Ok(());
            }
            Line::Book(symbol) => {
                self.print_book(&symbol);
                return Ok(());
            }
            Line::Trader(name) => {
                example_support::outln!("you are now trader {name:?}");
                self.trader = name;
                return Ok(());
            }
            Line::Cancel(order_id) => Command::Cancel {
                order_id,
                trader_id,
            },
            Line::Order {
                side,
                quantity,
                symbol,
                price,
            } => Command::Order(OrderSpec {
                trader_id,
                symbol,
                side,
                order_type: if price.is_some() { "LIMIT" } else { "MARKET" }.into(),
                quantity,
                price: price.unwrap_or(0.0),
            }),
        };
        self.send(cmd).await?;
        self.spine.run_until_drained().await?;
        Ok(())
    }
}

/// Where the orders come from without `--stress` or `--interactive`.
const RECORDS: Records<Command> = Records {
    json: parse_json,
    csv: parse_csv,
    demo: demo_commands,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    shell::main(
        &cli.shell,
        &cli.run,
        "trading",
        &RECORDS,
        |mode, observe, backend| {
            let config = TradingConfig {
                seed: cli.seed,
                settlement_latency: (!cli.fast)
                    .then(|| Duration::from_millis(cli.settlement_latency_ms)),
                settlement_failure_rate: cli.settlement_failure_rate,
                concurrency: usize::try_from(cli.concurrency).unwrap_or(8),
                verbose: !mode.is_stress(),
                ..TradingConfig::default()
            };
            Trading {
                mode,
                config,
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
    fn parses_prompt_lines() {
        assert!(matches!(
            parse_line("BUY 100 AAPL @ 150.50"),
            Ok(Line::Order { quantity: 100, price: Some(p), .. }) if (p - 150.5).abs() < 1e-9
        ));
        assert!(matches!(
            parse_line("sell 50 tsla mkt"),
            Ok(Line::Order { price: None, .. })
        ));
        assert!(matches!(
            parse_line("BUY 10 AAPL @150"),
            Ok(Line::Order { .. })
        ));
        assert!(parse_line("BUY ten AAPL").is_err());
        assert!(parse_line("BUY 10 AAPL @ 1.234").is_err());
        assert!(parse_line("HODL").is_err());
        assert!(matches!(parse_line("cancel #3"), Ok(Line::Cancel(3))));
    }

    #[test]
    fn both_file_formats_parse_alike() {
        let json = parse_json(include_str!("../data/sample_orders.json")).unwrap();
        let csv = parse_csv(include_str!("../data/sample_orders.csv")).unwrap();
        assert_eq!(json.len(), 10);
        assert_eq!(format!("{json:?}"), format!("{csv:?}"));
    }
}
