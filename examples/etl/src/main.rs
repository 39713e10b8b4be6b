//! The original's ETL demo chain, with a real CSV parser (the `csv` crate: quoted fields,
//! embedded commas and ragged rows are handled, not split by hand):
//! `ETL_START` → Loader → `RAW_DATA_LOADED` (one per chunk of rows) → Cleaner →
//! `DATA_CLEANED` → Transformer → `DATA_TRANSFORMED` → Reporter, then a printed summary.
//!
//! Run with `cargo run -p example-etl` (add `-- --file examples/etl/data/dirty_orders.csv`,
//! `--chunk-size 2`, or `--backend redis`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clap::Parser;
use example_support::{BackendArgs, ObserveArgs, print_spine_summary, read_dead_letters};
use necro_core::{BoxBackend, Emit, Event, OrganError, Payload, TypedOrgan};
use necro_spine::{HandlerFailureMode, Spine};
use serde::{Deserialize, Serialize};

/// The seed sample, built in so the demo needs no file.
const BUILT_IN: &str = include_str!("../data/sample_orders.csv");
const COLUMNS: [&str; 6] = [
    "trader_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "price",
];

/// `ETL_START`: where the CSV comes from (a path, or the text itself).
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "ETL_START")]
struct EtlStart {
    source: String,
    csv: Option<String>,
    chunk_size: usize,
}

/// One CSV record as read, with its line number.
#[derive(Serialize, Deserialize)]
struct RawRow {
    line: u64,
    fields: Vec<String>,
}

/// `RAW_DATA_LOADED`: one chunk of raw records.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "RAW_DATA_LOADED")]
struct RawDataLoaded {
    chunk: usize,
    chunks: usize,
    headers: Vec<String>,
    rows: Vec<RawRow>,
}

/// An order row that passed cleaning.
#[derive(Serialize, Deserialize)]
struct CleanRow {
    trader_id: String,
    symbol: String,
    side: String,
    order_type: String,
    quantity: u64,
    price: f64,
}

/// A row dropped by cleaning, and why.
#[derive(Serialize, Deserialize, Clone)]
struct Rejected {
    line: u64,
    reason: String,
}

/// `DATA_CLEANED`: the chunk's valid rows and its rejects.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "DATA_CLEANED")]
struct DataCleaned {
    chunk: usize,
    chunks: usize,
    rows: Vec<CleanRow>,
    rejected: Vec<Rejected>,
}

/// Per-symbol figures.
#[derive(Serialize, Deserialize, Default, Clone)]
struct SymbolSummary {
    orders: u64,
    buy_quantity: u64,
    sell_quantity: u64,
    limit_notional: f64,
}

/// `DATA_TRANSFORMED`: the chunk's figures per symbol.
#[derive(Serialize, Deserialize, Payload)]
#[payload(event_type = "DATA_TRANSFORMED")]
struct DataTransformed {
    chunk: usize,
    chunks: usize,
    symbols: BTreeMap<String, SymbolSummary>,
    rejected: Vec<Rejected>,
}

/// Extract: parses the CSV and emits it in chunks. An unreadable file is a permanent failure.
struct Loader;
impl TypedOrgan for Loader {
    type Input = EtlStart;
    async fn handle(&self, start: EtlStart, _event: &Event) -> Result<Emit, OrganError> {
        let text = match start.csv {
            Some(text) => text,
            None => std::fs::read_to_string(&start.source).map_err(|e| {
                OrganError::permanent_msg(format!("cannot read {}: {e}", start.source))
            })?,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(OrganError::permanent)?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(OrganError::permanent)?;
            let line = record.position().map_or(0, csv::Position::line);
            rows.push(RawRow {
                line,
                fields: record.iter().map(str::to_owned).collect(),
            });
        }
        example_support::outln!("📥 loaded {} rows from {}", rows.len(), start.source);
        if start.chunk_size == 0 {
            return Err(OrganError::permanent_msg("chunk_size must be at least 1"));
        }
        let size = start.chunk_size;
        let chunks = rows.len().div_ceil(size).max(1);
        let mut out = Emit::none();
        let mut iter = rows.into_iter().peekable();
        for chunk in 0..chunks {
            let rows: Vec<RawRow> = iter.by_ref().take(size).collect();
            out.push(Event::from_payload(&RawDataLoaded {
                chunk,
                chunks,
                headers: headers.clone(),
                rows,
            })?);
        }
        Ok(out)
    }
}

fn clean_row(headers: &[String], row: &RawRow) -> Result<CleanRow, String> {
    if row.fields.len() != headers.len() {
        return Err(format!(
            "expected {} fields, got {}",
            headers.len(),
            row.fields.len()
        ));
    }
    let get = |name: &str| -> Result<&str, String> {
        let idx = headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no {name} column"))?;
        Ok(row.fields.get(idx).map_or("", String::as_str))
    };
    let trader_id = get("trader_id")?.to_owned();
    if trader_id.is_empty() {
        return Err("empty trader_id".into());
    }
    let symbol = get("symbol")?.to_uppercase();
    if symbol.is_empty() {
        return Err("empty symbol".into());
    }
    let side = get("side")?.to_uppercase();
    if side != "BUY" && side != "SELL" {
        return Err(format!("side {side:?} is not BUY or SELL"));
    }
    let order_type = get("order_type")?.to_uppercase();
    if order_type != "LIMIT" && order_type != "MARKET" {
        return Err(format!("order type {order_type:?} is not LIMIT or MARKET"));
    }
    let quantity_text = get("quantity")?;
    let quantity: u64 = quantity_text
        .parse()
        .map_err(|_| format!("quantity {quantity_text:?} is not a positive integer"))?;
    if quantity == 0 {
        return Err("quantity is zero".into());
    }
    let price_text = get("price")?;
    let price: f64 = price_text
        .parse()
        .map_err(|_| format!("price {price_text:?} is not a number"))?;
    if !price.is_finite() || price < 0.0 || (order_type == "LIMIT" && price <= 0.0) {
        return Err(format!(
            "price {price} is not valid for a {order_type} order"
        ));
    }
    Ok(CleanRow {
        trader_id,
        symbol,
        side,
        order_type,
        quantity,
        price,
    })
}

/// Transform, part one: normalises case, checks every field, drops bad rows with a reason.
struct Cleaner;
impl TypedOrgan for Cleaner {
    type Input = RawDataLoaded;
    async fn handle(&self, raw: RawDataLoaded, _event: &Event) -> Result<Emit, OrganError> {
        // An empty (zero-byte) file has no header and no rows: an empty table, not a bad one.
        let empty_table = raw.headers.is_empty() && raw.rows.is_empty();
        if !empty_table
            && let Some(missing) = COLUMNS
                .iter()
                .find(|c| !raw.headers.iter().any(|h| h == *c))
        {
            return Err(OrganError::permanent_msg(format!(
                "the CSV has no {missing} column"
            )));
        }
        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        for row in &raw.rows {
            match clean_row(&raw.headers, row) {
                Ok(clean) => rows.push(clean),
                Err(reason) => rejected.push(Rejected {
                    line: row.line,
                    reason,
                }),
            }
        }
        Ok(Event::from_payload(&DataCleaned {
            chunk: raw.chunk,
            chunks: raw.chunks,
            rows,
            rejected,
        })?
        .into())
    }
}

/// Transform, part two: aggregates per symbol.
struct Transformer;
impl TypedOrgan for Transformer {
    type Input = DataCleaned;
    async fn handle(&self, cleaned: DataCleaned, _event: &Event) -> Result<Emit, OrganError> {
        let mut symbols: BTreeMap<String, SymbolSummary> = BTreeMap::new();
        for row in cleaned.rows {
            let s = symbols.entry(row.symbol).or_default();
            s.orders += 1;
            if row.side == "BUY" {
                s.buy_quantity += row.quantity;
            } else {
                s.sell_quantity += row.quantity;
            }
            if row.order_type == "LIMIT" {
                // u64 → f64 is exact for any realistic order size.
                #[allow(clippy::cast_precision_loss)]
                let q = row.quantity as f64;
                s.limit_notional += q * row.price;
            }
        }
        Ok(Event::from_payload(&DataTransformed {
            chunk: cleaned.chunk,
            chunks: cleaned.chunks,
            symbols,
            rejected: cleaned.rejected,
        })?
        .into())
    }
}

/// What the run produced, gathered by the Reporter.
#[derive(Default)]
struct Report {
    chunks: usize,
    symbols: BTreeMap<String, SymbolSummary>,
    rejected: Vec<Rejected>,
}

/// Load: merges every chunk's figures into the report.
struct Reporter {
    report: Arc<Mutex<Report>>,
}
impl TypedOrgan for Reporter {
    type Input = DataTransformed;
    async fn handle(&self, t: DataTransformed, _event: &Event) -> Result<Emit, OrganError> {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.chunks += 1;
        for (symbol, s) in t.symbols {
            let into = r.symbols.entry(symbol).or_default();
            into.orders += s.orders;
            into.buy_quantity += s.buy_quantity;
            into.sell_quantity += s.sell_quantity;
            into.limit_notional += s.limit_notional;
        }
        r.rejected.extend(t.rejected);
        example_support::outln!("📊 chunk {}/{} transformed", t.chunk + 1, t.chunks);
        Ok(Emit::none())
    }
}

/// The ETL demo chain on NecroStack.
#[derive(Parser)]
struct Cli {
    /// A CSV file with the sample orders' columns (default: the built-in sample).
    #[arg(long)]
    file: Option<String>,
    /// Rows per `RAW_DATA_LOADED` event (1 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    chunk_size: u64,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

struct Etl {
    start: EtlStart,
}

impl Etl {
    /// Runs the example on the backend `--backend` chose.
    async fn run(
        self,
        backend: BoxBackend,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let report = Arc::new(Mutex::new(Report::default()));
        let spine = Spine::builder(backend)
            .organ(Loader)
            .organ(Cleaner)
            .organ(Transformer)
            .organ(Reporter {
                report: Arc::clone(&report),
            })
            .handler_failure_mode(HandlerFailureMode::Store)
            .build()?;
        let stats = spine.run_event(Event::from_payload(&self.start)?).await?;
        let dead = read_dead_letters(spine.backend(), 100).await?;
        let unread = dead
            .iter()
            .find(|d| d.event_type() == Some(EtlStart::EVENT_TYPE));
        let failure = unread.map(|d| d.reason().to_owned());
        let r = report.lock().unwrap_or_else(|e| e.into_inner());
        let valid: u64 = r.symbols.values().map(|s| s.orders).sum();
        example_support::outln!("--- summary ---");
        example_support::outln!(
            "chunks: {}, rows valid: {valid}, rows rejected: {}, failed runs: {}",
            r.chunks,
            r.rejected.len(),
            dead.len()
        );
        for (symbol, s) in &r.symbols {
            example_support::outln!(
                "{symbol:<6} orders {:>3}  buy {:>5}  sell {:>5}  limit notional {:>12.2}",
                s.orders,
                s.buy_quantity,
                s.sell_quantity,
                s.limit_notional
            );
        }
        let mut rejected = r.rejected.clone();
        rejected.sort_by_key(|x| x.line);
        for x in &rejected {
            example_support::outln!("rejected line {}: {}", x.line, x.reason);
        }
        print_spine_summary(&stats, &dead, 100);
        match failure {
            // The input could not be loaded: say so to the script that ran us.
            Some(reason) => Err(reason.into()),
            None => Ok(()),
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    example_support::exit_code(try_main().await)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cli = Cli::parse();
    let observe = cli.observe.install()?;
    let chunk_size = usize::try_from(cli.chunk_size).unwrap_or(usize::MAX);
    let start = match cli.file {
        Some(path) => {
            // Fail before the run when the input cannot be opened: a clear error and a
            // non-zero exit, not a dead-lettered run that exits 0.
            std::fs::File::open(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            EtlStart {
                source: path,
                csv: None,
                chunk_size,
            }
        }
        None => EtlStart {
            source: "built-in sample_orders.csv".into(),
            csv: Some(BUILT_IN.to_owned()),
            chunk_size,
        },
    };
    cli.backend
        .run("etl", &observe, |backend| Etl { start }.run(backend))
        .await?;
    Ok(())
}
