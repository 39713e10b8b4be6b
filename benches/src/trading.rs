//! The trading example (`examples/trading`, package `example-trading`): orders per second
//! through its spine in memory, with the simulated settlement latency off and on, next to its
//! matching engine alone (no framework, no events) as the baseline.

use std::time::Duration;

use example_trading::book::{MatchingEngine, Order, OrderKind, Price, Side};
use example_trading::organs::{OrderSubmitted, SYMBOLS};
use example_trading::{TradingConfig, build_spine};
use necro_backend_memory::MemoryBackend;
use necro_core::{Backend, Envelope, Event};
use tokio::time::Instant;

use crate::stats::Run;

/// Order `i`: pairs of a SELL then a BUY at the same price on one symbol, so every pair trades.
fn order(i: u64) -> (u64, &'static str, &'static str, f64) {
    let symbol = SYMBOLS[(i / 2) as usize % SYMBOLS.len()];
    let side = if i.is_multiple_of(2) { "SELL" } else { "BUY" };
    (i + 1, symbol, side, 150.0 + ((i / 2) % 10) as f64)
}

/// The orders as `ORDER_SUBMITTED` events, built before any timing starts.
///
/// # Panics
/// Never: the payloads are valid.
#[must_use]
pub fn orders(n: u64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let (order_id, symbol, side, price) = order(i);
            Event::from_payload(&OrderSubmitted {
                order_id,
                trader_id: format!("t{}", i % 10),
                symbol: symbol.into(),
                side: side.into(),
                order_type: "LIMIT".into(),
                quantity: 100,
                price,
            })
            .expect("valid order")
        })
        .collect()
}

/// NecroStack: the orders (queued before the clock starts) through the trading spine on the
/// in-memory backend, running as a service until the backend is idle (nothing queued, nothing
/// in flight). Counts orders.
///
/// # Panics
/// When the spine cannot be built or fails.
pub async fn necro_orders(
    orders: Vec<Event>,
    settlement: Option<Duration>,
    concurrency: usize,
) -> Run {
    let n = orders.len() as u64;
    let backend = MemoryBackend::new();
    let config = TradingConfig {
        settlement_latency: settlement,
        settlement_failure_rate: 0.0,
        concurrency,
        audit_cap: 1_000,
        ..TradingConfig::default()
    };
    let (spine, handles) = build_spine(backend.clone(), &config).expect("trading spine");
    backend
        .enqueue(orders.into_iter().map(Envelope::new).collect())
        .await
        .expect("enqueue orders");
    let start = Instant::now();
    let runner = tokio::spawn({
        let spine = spine.clone();
        async move { spine.run().await }
    });
    while !backend.is_idle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    spine.shutdown_handle().shutdown();
    runner.await.expect("runner").expect("trading run");
    let trades = handles.engine.lock().map(|e| e.trades).unwrap_or(0);
    // With concurrency > 1 orders may reach the book out of order, so not every pair trades.
    assert!(trades > 0, "orders traded");
    Run { events: n, elapsed }
}

/// Baseline: the example's matching engine alone, the same orders submitted directly.
///
/// # Panics
/// Never: the prices are valid.
#[must_use]
pub fn raw_orders(n: u64) -> Run {
    let list: Vec<Order> = (0..n)
        .map(|i| {
            let (id, symbol, side, price) = order(i);
            Order {
                id,
                trader: format!("t{}", i % 10),
                symbol: symbol.into(),
                side: if side == "BUY" { Side::Buy } else { Side::Sell },
                kind: OrderKind::Limit(Price::from_f64(price).expect("valid price")),
                quantity: 100,
            }
        })
        .collect();
    let mut engine = MatchingEngine::new();
    let start = std::time::Instant::now();
    for o in &list {
        std::hint::black_box(engine.submit(o));
    }
    Run {
        events: n,
        elapsed: start.elapsed(),
    }
}
