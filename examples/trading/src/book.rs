//! The matching engine: one price-time-priority order book per symbol. Plain data, no
//! framework, no locks: the organ that owns it puts it behind a mutex.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A price in cents (ticks of 0.01), so matching never compares floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Price(pub u64);

impl Price {
    /// Parses a decimal price such as `150.5` or `150.50` (at most two decimals).
    ///
    /// # Errors
    /// A message when the text is not a positive price with at most two decimals.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
            || frac.len() > 2
        {
            return Err(format!("{text:?} is not a price like 150.50"));
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("{text:?} is too large a price"))?
        };
        let cents: u64 = format!("{frac:0<2}").parse().unwrap_or(0);
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Price)
            .ok_or_else(|| format!("{text:?} is too large a price"))
    }

    /// Converts a float price (as in the JSON and CSV samples), rounding to the cent.
    ///
    /// # Errors
    /// A message when it is not finite, negative, or too large.
    pub fn from_f64(value: f64) -> Result<Self, String> {
        if !value.is_finite() || !(0.0..=1e12).contains(&value) {
            return Err(format!("{value} is not a valid price"));
        }
        // Checked above: finite, non-negative and small enough to fit.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cents = (value * 100.0).round() as u64;
        Ok(Price(cents))
    }

    /// The price in dollars, for display and JSON.
    #[must_use]
    pub fn as_f64(self) -> f64 {
        // Cents fit in f64's 53-bit mantissa for any realistic price.
        #[allow(clippy::cast_precision_loss)]
        let v = self.0 as f64 / 100.0;
        v
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy: rests on the bid side.
    Buy,
    /// Sell: rests on the ask side.
    Sell,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        })
    }
}

/// Limit (with a price; the rest rests) or market (takes what is there; never rests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderKind {
    /// At this price or better; what does not fill rests on the book.
    Limit(Price),
    /// At any price; what does not fill is cancelled.
    Market,
}

/// A validated order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique order id.
    pub id: u64,
    /// Who placed it.
    pub trader: String,
    /// The instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// How many shares (positive).
    pub quantity: u64,
}

/// One match between an incoming (taker) order and a resting (maker) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The resting order's id.
    pub maker_order: u64,
    /// The resting order's trader.
    pub maker_trader: String,
    /// The incoming order's id.
    pub taker_order: u64,
    /// The incoming order's trader.
    pub taker_trader: String,
    /// The taker's side (the maker is on the other).
    pub taker_side: Side,
    /// The execution price: the maker's.
    pub price: Price,
    /// Shares matched.
    pub quantity: u64,
}

impl Fill {
    /// The buying trader.
    #[must_use]
    pub fn buyer(&self) -> &str {
        match self.taker_side {
            Side::Buy => &self.taker_trader,
            Side::Sell => &self.maker_trader,
        }
    }

    /// The selling trader.
    #[must_use]
    pub fn seller(&self) -> &str {
        match self.taker_side {
            Side::Buy => &self.maker_trader,
            Side::Sell => &self.taker_trader,
        }
    }
}

/// What submitting one order did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchOutcome {
    /// Matches in execution order.
    pub fills: Vec<Fill>,
    /// Shares filled.
    pub filled: u64,
    /// Shares left resting on the book (limit orders only).
    pub resting: u64,
    /// Shares cancelled (a market order's unfilled remainder).
    pub cancelled: u64,
}

/// A resting order as seen in a snapshot, in priority order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestingOrder {
    /// Order id.
    pub id: u64,
    /// Trader.
    pub trader: String,
    /// Its limit price.
    pub price: Price,
    /// Shares still resting.
    pub quantity: u64,
}

#[derive(Debug, Clone)]
struct Resting {
    id: u64,
    trader: String,
    remaining: u64,
}

/// One symbol's book: bids and asks, each a price level map of FIFO queues.
#[derive(Debug, Default, Clone)]
pub struct OrderBook {
    bids: BTreeMap<Price, VecDeque<Resting>>,
    asks: BTreeMap<Price, VecDeque<Resting>>,
    /// Resting order id → (side, price), for cancel.
    index: HashMap<u64, (Side, Price)>,
}

impl OrderBook {
    /// The highest bid.
    #[must_use]
    pub fn best_bid(&self) -> Option<Price> {
        self.bids.keys().next_back().copied()
    }

    /// The lowest ask.
    #[must_use]
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.keys().next().copied()
    }

    /// Whether the best bid is at or above the best ask (must never hold after an order).
    #[must_use]
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b >= a)
    }

    /// One side's resting orders in priority order (best price first, then oldest first).
    #[must_use]
    pub fn orders(&self, side: Side) -> Vec<RestingOrder> {
        let view = |(price, q): (&Price, &VecDeque<Resting>)| {
            q.iter()
                .map(|r| RestingOrder {
                    id: r.id,
                    trader: r.trader.clone(),
                    price: *price,
                    quantity: r.remaining,
                })
                .collect::<Vec<_>>()
        };
        match side {
            Side::Buy => self.bids.iter().rev().flat_map(view).collect(),
            Side::Sell => self.asks.iter().flat_map(view).collect(),
        }
    }

    /// One side's levels: (price, total shares, orders), best first.
    #[must_use]
    pub fn levels(&self, side: Side) -> Vec<(Price, u64, usize)> {
        let agg = |(p, q): (&Price, &VecDeque<Resting>)| {
            (*p, q.iter().map(|r| r.remaining).sum(), q.len())
        };
        match side {
            Side::Buy => self.bids.iter().rev().map(agg).collect(),
            Side::Sell => self.asks.iter().map(agg).collect(),
        }
    }

    /// Shares an order still has resting, if it rests.
    #[must_use]
    pub fn resting_quantity(&self, id: u64) -> Option<u64> {
        let (side, price) = self.index.get(&id)?;
        let book = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        book.get(price)?
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.remaining)
    }

    /// Matches `order` against the other side, then rests a limit order's remainder.
    pub fn submit(&mut self, order: &Order) -> MatchOutcome {
        let mut out = MatchOutcome::default();
        let mut remaining = order.quantity;
        let opposite = match order.side {
            Side::Buy => &mut self.asks,
            Side::Sell => &mut self.bids,
        };
        while remaining > 0 {
            let best = match order.side {
                Side::Buy => opposite.keys().next().copied(),
                Side::Sell => opposite.keys().next_back().copied(),
            };
            let Some(level_price) = best else { break };
            let acceptable = match (order.kind, order.side) {
                (OrderKind::Market, _) => true,
                (OrderKind::Limit(limit), Side::Buy) => level_price <= limit,
                (OrderKind::Limit(limit), Side::Sell) => level_price >= limit,
            };
            if !acceptable {
                break;
            }
            let Some(queue) = opposite.get_mut(&level_price) else {
                break;
            };
            while remaining > 0 {
                let Some(maker) = queue.front_mut() else {
                    break;
                };
                let qty = remaining.min(maker.remaining);
                maker.remaining -= qty;
                remaining -= qty;
                out.filled += qty;
                out.fills.push(Fill {
                    maker_order: maker.id,
                    maker_trader: maker.trader.clone(),
                    taker_order: order.id,
                    taker_trader: order.trader.clone(),
                    taker_side: order.side,
                    price: level_price,
                    quantity: qty,
                });
                if maker.remaining == 0 {
                    let id = maker.id;
                    queue.pop_front();
                    self.index.remove(&id);
                }
            }
            if queue.is_empty() {
                opposite.remove(&level_price);
            }
        }
        match order.kind {
            OrderKind::Limit(price) if remaining > 0 => {
                let own = match order.side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                own.entry(price).or_default().push_back(Resting {
                    id: order.id,
                    trader: order.trader.clone(),
                    remaining,
                });
                self.index.insert(order.id, (order.side, price));
                out.resting = remaining;
            }
            _ => out.cancelled = remaining,
        }
        out
    }

    /// Cancels a resting order; returns its trader and the shares that were resting.
    pub fn cancel(&mut self, id: u64) -> Option<(String, u64)> {
        let (side, price) = self.index.remove(&id)?;
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let queue = book.get_mut(&price)?;
        let pos = queue.iter().position(|r| r.id == id)?;
        let r = queue.remove(pos)?;
        if queue.is_empty() {
            book.remove(&price);
        }
        Some((r.trader, r.remaining))
    }
}

/// Every symbol's book.
#[derive(Debug, Default, Clone)]
pub struct MatchingEngine {
    books: BTreeMap<String, OrderBook>,
}

impl MatchingEngine {
    /// An engine with no books yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Matches an order in its symbol's book.
    pub fn submit(&mut self, order: &Order) -> MatchOutcome {
        self.books
            .entry(order.symbol.clone())
            .or_default()
            .submit(order)
    }

    /// Cancels a resting order in `symbol`'s book.
    pub fn cancel(&mut self, symbol: &str, id: u64) -> Option<(String, u64)> {
        self.books.get_mut(symbol)?.cancel(id)
    }

    /// A symbol's book.
    #[must_use]
    pub fn book(&self, symbol: &str) -> Option<&OrderBook> {
        self.books.get(symbol)
    }

    /// Every book, by symbol.
    pub fn books(&self) -> impl Iterator<Item = (&str, &OrderBook)> {
        self.books.iter().map(|(s, b)| (s.as_str(), b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(id: u64, side: Side, qty: u64, cents: u64) -> Order {
        Order {
            id,
            trader: format!("t{id}"),
            symbol: "AAPL".into(),
            side,
            kind: OrderKind::Limit(Price(cents)),
            quantity: qty,
        }
    }

    #[test]
    fn parses_prices() {
        assert_eq!(Price::parse("150.50"), Ok(Price(15050)));
        assert_eq!(Price::parse("150.5"), Ok(Price(15050)));
        assert_eq!(Price::parse("7"), Ok(Price(700)));
        assert!(Price::parse("1.234").is_err());
        assert!(Price::parse("-1").is_err());
        assert!(Price::parse("abc").is_err());
        assert!(Price::parse(".").is_err());
        assert_eq!(Price(15050).to_string(), "150.50");
    }

    #[test]
    fn partial_fill_then_rest() {
        let mut b = OrderBook::default();
        b.submit(&limit(1, Side::Sell, 100, 15050));
        let out = b.submit(&limit(2, Side::Buy, 150, 15100));
        assert_eq!(out.filled, 100);
        assert_eq!(out.resting, 50);
        assert_eq!(out.fills[0].price, Price(15050));
        assert_eq!(b.best_bid(), Some(Price(15100)));
        assert_eq!(b.best_ask(), None);
        assert_eq!(b.cancel(2), Some(("t2".into(), 50)));
        assert_eq!(b.best_bid(), None);
    }
}
