//! The trading organs on the spine `build_spine` makes, in process, every event recorded by
//! the testkit's harness: what a crossing order emits and in which chain, a rejected order,
//! a frozen account's dead-lettered trade, and transient settlement failures retried.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use example_trading::organs::{
    OrderFilled, OrderQueued, OrderRejected, OrderSubmitted, TradeExecuted, TradeSettled,
};
use example_trading::{Handles, TradingConfig, build_spine};
use necro_core::{DeadLetterKind, Event};
use necro_testkit::harness::{Harness, RecordingBackend};

/// The pipeline on a recording backend: one event at a time (a fixed order), no latency.
fn harness(failure_rate: f64) -> (Harness, Handles) {
    let config = TradingConfig {
        settlement_latency: None,
        settlement_failure_rate: failure_rate,
        concurrency: 1,
        ..TradingConfig::default()
    };
    let (spine, handles) = build_spine(RecordingBackend::new(), &config).unwrap();
    (Harness::from_spine(spine), handles)
}

fn submitted(id: u64, trader: &str, side: &str, quantity: i64, price: f64) -> OrderSubmitted {
    OrderSubmitted {
        order_id: id,
        trader_id: trader.into(),
        symbol: "AAPL".into(),
        side: side.into(),
        order_type: "LIMIT".into(),
        quantity,
        price,
    }
}

fn order(id: u64, trader: &str, side: &str, quantity: i64, price: f64) -> Event {
    Event::from_payload(&submitted(id, trader, side, quantity, price)).unwrap()
}

#[tokio::test]
async fn a_crossing_order_trades_settles_and_keeps_its_chain() {
    let (harness, handles) = harness(0.0);
    harness
        .send(order(1, "bob", "SELL", 100, 150.5))
        .await
        .unwrap();
    harness.assert_emitted::<OrderQueued>(1);
    harness.clear();

    let buy = order(2, "alice", "BUY", 60, 151.0);
    let stats = harness.send(buy.clone()).await.unwrap();
    harness.assert_event_types(&[
        "ORDER_SUBMITTED",
        "ORDER_VALIDATED",
        "ORDER_FILLED",
        "TRADE_EXECUTED",
        "TRADE_SETTLED",
    ]);
    assert_eq!(stats.processed, 5);
    let filled = harness.assert_emitted::<OrderFilled>(1).remove(0).0;
    assert_eq!((filled.order_id, filled.filled), (2, 60));
    let trade =
        harness.assert_emitted_where(|t: &TradeExecuted| t.buyer == "alice" && t.seller == "bob");
    assert_eq!((trade.quantity, trade.price.0), (60, 15_050));
    assert_eq!(harness.assert_emitted::<TradeSettled>(1)[0].trade, trade);

    // Every event descends from the BUY: validated by it, traded from the validation,
    // settled from the trade.
    assert_eq!(harness.chain_of(&buy).len(), 5);
    let validated = harness.caused_by(&buy);
    assert_eq!(validated.len(), 1);
    let from_validation = harness.caused_by(&validated[0]);
    assert_eq!(
        from_validation
            .iter()
            .map(|e| e.event_type().as_str())
            .collect::<Vec<_>>(),
        ["ORDER_FILLED", "TRADE_EXECUTED"]
    );
    assert_eq!(
        harness.caused_by(&from_validation[1])[0].event_type(),
        "TRADE_SETTLED"
    );
    harness.assert_no_dead_letters();
    assert!(handles.engine.lock().unwrap().conserved());
}

#[tokio::test]
async fn a_bad_order_is_rejected_with_its_reason() {
    let (harness, _) = harness(0.0);
    let bad = OrderSubmitted {
        symbol: "NFLX".into(),
        ..submitted(1, "bob", "BUY", 10, 5.0)
    };
    harness.send_payload(&bad).await.unwrap();
    let rejected = harness.assert_emitted::<OrderRejected>(1).remove(0);
    assert!(
        rejected.reason.contains("unknown symbol \"NFLX\""),
        "{rejected:?}"
    );
    harness.assert_emitted_of_type("ORDER_VALIDATED", 0);
}

#[tokio::test]
async fn a_frozen_account_s_trade_is_dead_lettered_by_settlement() {
    let (harness, _) = harness(0.0);
    let stats = harness
        .send_all([
            order(1, "mallory", "SELL", 10, 150.0),
            order(2, "alice", "BUY", 10, 150.0),
        ])
        .await
        .unwrap();
    assert_eq!(stats.handler_errors.get("Settlement"), Some(&1));
    assert_eq!(stats.retries, 0, "a frozen account is a permanent failure");
    harness.assert_emitted::<TradeExecuted>(1);
    harness.assert_emitted::<TradeSettled>(0);
    let letters = harness.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::HandlerFailed);
    assert_eq!(letters[0].event.event_type(), "TRADE_EXECUTED");
    assert!(
        letters[0].reason.contains("account mallory is frozen"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test]
async fn transient_settlement_failures_are_retried_until_every_trade_settles() {
    let (harness, _) = harness(0.5);
    let orders = (1..=20).map(|i| {
        let side = if i % 2 == 1 { "SELL" } else { "BUY" };
        order(i, &format!("t{i}"), side, 10, 150.0)
    });
    let stats = harness.send_all(orders).await.unwrap();
    assert!(stats.retries > 0, "{stats}");
    harness.assert_no_handler_errors();
    let trades = harness.assert_emitted::<TradeExecuted>(10);
    let settled = harness.assert_emitted::<TradeSettled>(10);
    assert!(settled.iter().any(|s| s.attempts > 1), "{settled:?}");
    let mut settled_ids: Vec<u64> = settled.iter().map(|s| s.trade.trade_id).collect();
    settled_ids.sort_unstable();
    assert_eq!(
        settled_ids,
        trades.iter().map(|t| t.trade_id).collect::<Vec<_>>()
    );
}
