//! Property tests of the matching engine: after every order the book is not crossed,
//! quantity is conserved (filled + resting + cancelled = submitted, per order), fills follow
//! price-time priority exactly, and a market order never rests.
use std::collections::HashMap;

use example_trading::book::{Order, OrderBook, OrderKind, Price, RestingOrder, Side};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Submit {
        side: Side,
        market: bool,
        cents: u64,
        quantity: u64,
    },
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), prop::bool::weighted(0.2), 9_900u64..=10_100, 1u64..=300).prop_map(
            |(buy, market, cents, quantity)| Op::Submit {
                side: if buy { Side::Buy } else { Side::Sell },
                market,
                // Few distinct prices, so orders queue at one level and time priority matters.
                cents: cents - cents % 25,
                quantity,
            }
        ),
        1 => (0usize..64).prop_map(Op::Cancel),
    ]
}

/// The opposite side in priority order, cut at the taker's limit: what it must fill against.
fn eligible(book: &OrderBook, order: &Order) -> Vec<RestingOrder> {
    let opposite = match order.side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    };
    book.orders(opposite)
        .into_iter()
        .take_while(|r| match (order.kind, order.side) {
            (OrderKind::Market, _) => true,
            (OrderKind::Limit(p), Side::Buy) => r.price <= p,
            (OrderKind::Limit(p), Side::Sell) => r.price >= p,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_book_keeps_its_invariants(ops in prop::collection::vec(op(), 1..120)) {
        let mut book = OrderBook::default();
        // Per order: (submitted, filled, cancelled).
        let mut ledger: HashMap<u64, (u64, u64, u64)> = HashMap::new();
        let mut ids = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let id = i as u64 + 1;
            match op {
                Op::Submit { side, market, cents, quantity } => {
                    let order = Order {
                        id,
                        trader: format!("t{}", id % 7),
                        symbol: "AAPL".into(),
                        side,
                        kind: if market { OrderKind::Market } else { OrderKind::Limit(Price(cents)) },
                        quantity,
                    };
                    let queue = eligible(&book, &order);
                    let out = book.submit(&order);

                    // Price-time priority: fills consume the eligible queue in order, each
                    // maker in full except possibly the last, at the maker's price.
                    prop_assert!(out.fills.len() <= queue.len());
                    for (k, (fill, maker)) in out.fills.iter().zip(&queue).enumerate() {
                        prop_assert_eq!(fill.maker_order, maker.id);
                        prop_assert_eq!(fill.price, maker.price);
                        if k + 1 < out.fills.len() {
                            prop_assert_eq!(fill.quantity, maker.quantity);
                        } else {
                            prop_assert!(fill.quantity <= maker.quantity);
                        }
                    }
                    // It stopped only when it was filled or nothing eligible was left.
                    let took_all = out.fills.len() == queue.len()
                        && out.fills.last().zip(queue.last()).is_none_or(|(f, m)| f.quantity == m.quantity);
                    prop_assert!(out.filled == quantity || took_all);

                    for f in &out.fills {
                        ledger.entry(f.maker_order).or_default().1 += f.quantity;
                    }
                    let entry = ledger.entry(id).or_default();
                    entry.0 = quantity;
                    entry.1 += out.filled;
                    entry.2 += out.cancelled;
                    prop_assert_eq!(out.filled + out.resting + out.cancelled, quantity);

                    if market {
                        prop_assert_eq!(out.resting, 0);
                        prop_assert_eq!(book.resting_quantity(id), None, "a market order rested");
                    } else {
                        prop_assert_eq!(out.cancelled, 0);
                    }
                    ids.push(id);
                }
                Op::Cancel(k) => {
                    if let Some(&target) = ids.get(k % ids.len().max(1)) {
                        let resting = book.resting_quantity(target);
                        let cancelled = book.cancel(target);
                        prop_assert_eq!(cancelled.as_ref().map(|c| c.1), resting);
                        if let Some((_, q)) = cancelled {
                            ledger.entry(target).or_default().2 += q;
                        }
                        prop_assert_eq!(book.resting_quantity(target), None);
                    }
                }
            }
            prop_assert!(!book.is_crossed(), "crossed: bid {:?} ask {:?}", book.best_bid(), book.best_ask());
            // Conservation for every order so far.
            for (oid, (submitted, filled, cancelled)) in &ledger {
                let resting = book.resting_quantity(*oid).unwrap_or(0);
                prop_assert_eq!(filled + resting + cancelled, *submitted, "order {}", oid);
            }
        }
    }
}
