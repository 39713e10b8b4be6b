//! The trading pipeline's events and organs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use necro_core::{Emit, Event, EventError, Organ, OrganError, Payload, TypedOrgan};
use serde::{Deserialize, Serialize};

use crate::book::{MatchingEngine, Order, OrderKind, Price, Side};

/// Symbols the exchange lists.
pub const SYMBOLS: [&str; 5] = ["AAPL", "GOOGL", "TSLA", "MSFT", "AMZN"];
/// The largest order, in shares.
pub const MAX_QUANTITY: u64 = 10_000;
/// The highest limit price, in cents (100,000.00).
pub const MAX_PRICE: Price = Price(10_000_000);
/// Traders whose accounts the clearing house refuses for good: their trades are dead-lettered.
pub const FROZEN_ACCOUNTS: [&str; 1] = ["mallory"];

/// `ORDER_SUBMITTED`: an order as a client sent it, loosely typed so the validator (not the
/// decoder) judges it and answers with `ORDER_REJECTED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_SUBMITTED")]
pub struct OrderSubmitted {
    /// Unique order id, given by the producer.
    pub order_id: u64,
    /// Who places it.
    pub trader_id: String,
    /// The instrument.
    pub symbol: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `LIMIT` or `MARKET`.
    pub order_type: String,
    /// Shares.
    pub quantity: i64,
    /// Limit price in dollars (ignored for market orders).
    pub price: f64,
}

/// `ORDER_CANCEL_REQUESTED`: take a resting order off the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_CANCEL_REQUESTED")]
pub struct CancelRequested {
    /// The order to cancel.
    pub order_id: u64,
    /// Its symbol.
    pub symbol: String,
    /// Who asks (must own the order).
    pub trader_id: String,
}

/// `ORDER_VALIDATED`: an order that passed validation, strongly typed.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_VALIDATED")]
pub struct OrderValidated {
    /// The order.
    pub order: Order,
}

/// `ORDER_REJECTED`: an order (or cancel) refused, and why.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_REJECTED")]
pub struct OrderRejected {
    /// The order.
    pub order_id: u64,
    /// Its trader.
    pub trader_id: String,
    /// Why.
    pub reason: String,
}

/// What happened to an order in the book.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// The order.
    pub order_id: u64,
    /// Its trader.
    pub trader_id: String,
    /// Its symbol.
    pub symbol: String,
    /// Its side.
    pub side: Side,
    /// Shares ordered.
    pub quantity: u64,
    /// Shares filled now.
    pub filled: u64,
    /// Shares left resting.
    pub resting: u64,
    /// Shares cancelled (a market order's unfilled remainder).
    pub cancelled: u64,
    /// Average fill price, when something filled.
    pub avg_price: Option<f64>,
}

/// `ORDER_FILLED`: filled completely on arrival.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_FILLED")]
#[serde(transparent)]
pub struct OrderFilled(pub OrderUpdate);

/// `ORDER_PARTIAL_FILL`: partly filled; the rest rests (limit) or is cancelled (market).
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_PARTIAL_FILL")]
#[serde(transparent)]
pub struct OrderPartialFill(pub OrderUpdate);

/// `ORDER_QUEUED`: nothing matched; the whole order rests on the book.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_QUEUED")]
#[serde(transparent)]
pub struct OrderQueued(pub OrderUpdate);

/// `ORDER_CANCELLED`: shares taken off (a cancel request, or a market order with no liquidity).
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "ORDER_CANCELLED")]
pub struct OrderCancelled {
    /// The order.
    pub order_id: u64,
    /// Its trader.
    pub trader_id: String,
    /// Its symbol.
    pub symbol: String,
    /// Shares cancelled.
    pub quantity: u64,
    /// Why.
    pub reason: String,
}

/// `TRADE_EXECUTED`: one match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Payload)]
#[payload(event_type = "TRADE_EXECUTED")]
pub struct TradeExecuted {
    /// Unique trade id.
    pub trade_id: u64,
    /// The instrument.
    pub symbol: String,
    /// Execution price (cents).
    pub price: Price,
    /// Shares.
    pub quantity: u64,
    /// The buying trader.
    pub buyer: String,
    /// The selling trader.
    pub seller: String,
    /// The buy order.
    pub buy_order: u64,
    /// The sell order.
    pub sell_order: u64,
}

/// `TRADE_SETTLED`: the clearing house confirmed the trade.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "TRADE_SETTLED")]
pub struct TradeSettled {
    /// The trade.
    pub trade: TradeExecuted,
    /// Attempts it took.
    pub attempts: u32,
}

/// `RISK_ALERT`: a trader crossed a limit.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "RISK_ALERT")]
pub struct RiskAlert {
    /// The trader.
    pub trader_id: String,
    /// `POSITION_LIMIT` or `DAILY_VOLUME_LIMIT`.
    pub kind: String,
    /// The symbol, for a position alert.
    pub symbol: Option<String>,
    /// The value that crossed the limit, in dollars.
    pub value: f64,
    /// The limit, in dollars.
    pub limit: f64,
}

/// Every event type of the pipeline (what the audit trail listens to).
pub const ALL_EVENT_TYPES: [&str; 11] = [
    OrderSubmitted::EVENT_TYPE,
    CancelRequested::EVENT_TYPE,
    OrderValidated::EVENT_TYPE,
    OrderRejected::EVENT_TYPE,
    OrderFilled::EVENT_TYPE,
    OrderPartialFill::EVENT_TYPE,
    OrderQueued::EVENT_TYPE,
    OrderCancelled::EVENT_TYPE,
    TradeExecuted::EVENT_TYPE,
    TradeSettled::EVENT_TYPE,
    RiskAlert::EVENT_TYPE,
];

/// Checks an order against the exchange's rules.
///
/// # Errors
/// Why the order is refused.
pub fn validate(o: &OrderSubmitted) -> Result<Order, String> {
    let trader = o.trader_id.trim();
    if trader.is_empty() {
        return Err("empty trader id".into());
    }
    let symbol = o.symbol.trim().to_uppercase();
    if !SYMBOLS.contains(&symbol.as_str()) {
        return Err(format!(
            "unknown symbol {symbol:?} (listed: {})",
            SYMBOLS.join(", ")
        ));
    }
    let side = match o.side.trim().to_uppercase().as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => return Err(format!("side {other:?} is not BUY or SELL")),
    };
    let quantity = u64::try_from(o.quantity)
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            format!(
                "quantity {} is not between 1 and {MAX_QUANTITY}",
                o.quantity
            )
        })?;
    let kind = match o.order_type.trim().to_uppercase().as_str() {
        "MARKET" => OrderKind::Market,
        "LIMIT" => {
            let price = Price::from_f64(o.price)?;
            if price.0 == 0 || price > MAX_PRICE {
                return Err(format!(
                    "limit price {} is not between 0.01 and {MAX_PRICE}",
                    o.price
                ));
            }
            OrderKind::Limit(price)
        }
        other => return Err(format!("order type {other:?} is not LIMIT or MARKET")),
    };
    Ok(Order {
        id: o.order_id,
        trader: trader.to_owned(),
        symbol,
        side,
        kind,
        quantity,
    })
}

/// Validates orders: `ORDER_VALIDATED` or `ORDER_REJECTED`.
#[derive(Debug)]
pub struct OrderValidator;
impl TypedOrgan for OrderValidator {
    type Input = OrderSubmitted;
    async fn handle(&self, o: OrderSubmitted, _event: &Event) -> Result<Emit, OrganError> {
        Ok(match validate(&o) {
            Ok(order) => Event::from_payload(&OrderValidated { order })?.into(),
            Err(reason) => Event::from_payload(&OrderRejected {
                order_id: o.order_id,
                trader_id: o.trader_id,
                reason,
            })?
            .into(),
        })
    }
}

/// The matching engine's state with its bookkeeping, behind one mutex.
#[derive(Debug, Default)]
pub struct EngineState {
    /// The books.
    pub engine: MatchingEngine,
    /// Trade ids handed out.
    pub trades: u64,
    /// Shares of accepted orders.
    pub accepted_quantity: u64,
    /// Shares filled, counted on both orders of each match.
    pub filled_quantity: u64,
    /// Shares cancelled (market remainders and cancel requests).
    pub cancelled_quantity: u64,
    /// Every order id seen, and its owner (for cancel checks).
    pub owners: HashMap<u64, String>,
}

impl EngineState {
    /// Shares resting on every book.
    #[must_use]
    pub fn resting_quantity(&self) -> u64 {
        self.engine
            .books()
            .flat_map(|(_, b)| [b.levels(Side::Buy), b.levels(Side::Sell)])
            .flatten()
            .map(|(_, q, _)| q)
            .sum()
    }

    /// Whether filled + resting + cancelled = accepted.
    #[must_use]
    pub fn conserved(&self) -> bool {
        self.filled_quantity + self.resting_quantity() + self.cancelled_quantity
            == self.accepted_quantity
    }
}

/// The matching engine organ. Its state sits behind its own mutex, locked only for the
/// synchronous match (never across an `.await`), so it stays correct when the spine runs
/// other events concurrently.
#[derive(Debug)]
pub struct MatchingEngineOrgan {
    /// The shared state.
    pub state: Arc<Mutex<EngineState>>,
}

impl MatchingEngineOrgan {
    fn on_order(&self, order: &Order) -> Result<Emit, EventError> {
        let (outcome, first_trade) = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if s.owners.contains_key(&order.id) {
                drop(s);
                return Ok(Event::from_payload(&OrderRejected {
                    order_id: order.id,
                    trader_id: order.trader.clone(),
                    reason: format!("duplicate order id {}", order.id),
                })?
                .into());
            }
            s.owners.insert(order.id, order.trader.clone());
            let outcome = s.engine.submit(order);
            let first = s.trades + 1;
            s.trades += outcome.fills.len() as u64;
            s.accepted_quantity += order.quantity;
            s.filled_quantity += 2 * outcome.filled;
            s.cancelled_quantity += outcome.cancelled;
            (outcome, first)
        };
        let mut out = Emit::none();
        let notional: u64 = outcome.fills.iter().map(|f| f.price.0 * f.quantity).sum();
        #[allow(clippy::cast_precision_loss)]
        let avg_price =
            (outcome.filled > 0).then(|| notional as f64 / outcome.filled as f64 / 100.0);
        let update = OrderUpdate {
            order_id: order.id,
            trader_id: order.trader.clone(),
            symbol: order.symbol.clone(),
            side: order.side,
            quantity: order.quantity,
            filled: outcome.filled,
            resting: outcome.resting,
            cancelled: outcome.cancelled,
            avg_price,
        };
        out.push(if outcome.filled == order.quantity {
            Event::from_payload(&OrderFilled(update))?
        } else if outcome.filled > 0 {
            Event::from_payload(&OrderPartialFill(update))?
        } else if outcome.resting > 0 {
            Event::from_payload(&OrderQueued(update))?
        } else {
            Event::from_payload(&OrderCancelled {
                order_id: order.id,
                trader_id: order.trader.clone(),
                symbol: order.symbol.clone(),
                quantity: outcome.cancelled,
                reason: "market order found no liquidity".into(),
            })?
        });
        for (i, f) in outcome.fills.iter().enumerate() {
            let (buy_order, sell_order) = match f.taker_side {
                Side::Buy => (f.taker_order, f.maker_order),
                Side::Sell => (f.maker_order, f.taker_order),
            };
            out.push(Event::from_payload(&TradeExecuted {
                trade_id: first_trade + i as u64,
                symbol: order.symbol.clone(),
                price: f.price,
                quantity: f.quantity,
                buyer: f.buyer().to_owned(),
                seller: f.seller().to_owned(),
                buy_order,
                sell_order,
            })?);
        }
        Ok(out)
    }

    fn on_cancel(&self, c: &CancelRequested) -> Result<Emit, EventError> {
        let result = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match s.owners.get(&c.order_id) {
                None => Err(format!("order {} is unknown", c.order_id)),
                Some(owner) if *owner != c.trader_id => {
                    Err(format!("order {} belongs to another trader", c.order_id))
                }
                Some(_) => match s.engine.cancel(&c.symbol.to_uppercase(), c.order_id) {
                    Some((_, qty)) => {
                        s.cancelled_quantity += qty;
                        Ok(qty)
                    }
                    None => Err(format!(
                        "order {} is not resting on the {} book",
                        c.order_id, c.symbol
                    )),
                },
            }
        };
        Ok(match result {
            Ok(quantity) => Event::from_payload(&OrderCancelled {
                order_id: c.order_id,
                trader_id: c.trader_id.clone(),
                symbol: c.symbol.to_uppercase(),
                quantity,
                reason: "cancelled by trader".into(),
            })?
            .into(),
            Err(reason) => Event::from_payload(&OrderRejected {
                order_id: c.order_id,
                trader_id: c.trader_id.clone(),
                reason: format!("cancel refused: {reason}"),
            })?
            .into(),
        })
    }
}

impl Organ for MatchingEngineOrgan {
    fn name(&self) -> &str {
        "MatchingEngine"
    }
    fn listens_to(&self) -> &[&str] {
        &[OrderValidated::EVENT_TYPE, CancelRequested::EVENT_TYPE]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        if event.event_type() == OrderValidated::EVENT_TYPE {
            Ok(self.on_order(&event.decode::<OrderValidated>()?.order)?)
        } else {
            Ok(self.on_cancel(&event.decode::<CancelRequested>()?)?)
        }
    }
}

/// Each decision gets its own generator from the seed, the trade and the attempt, so the
/// outcome does not depend on the order concurrent handlers run in.
fn decision_rng(seed: u64, id: u64, attempt: u32) -> fastrand::Rng {
    fastrand::Rng::with_seed(
        seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(attempt).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    )
}

/// Settles trades with the (simulated) clearing house: latency, transient failures that the
/// spine retries, and frozen accounts that fail permanently (dead-lettered).
#[derive(Debug)]
pub struct Settlement {
    /// Simulated clearing-house latency; `None` switches the simulation off.
    pub latency: Option<Duration>,
    /// Fraction of attempts that fail transiently.
    pub failure_rate: f64,
    /// Seed for those failures.
    pub seed: u64,
    attempts: Mutex<HashMap<u64, u32>>,
}

impl Settlement {
    /// A settlement organ.
    #[must_use]
    pub fn new(latency: Option<Duration>, failure_rate: f64, seed: u64) -> Self {
        Self {
            latency,
            failure_rate,
            seed,
            attempts: Mutex::new(HashMap::new()),
        }
    }
}

impl TypedOrgan for Settlement {
    type Input = TradeExecuted;
    async fn handle(&self, trade: TradeExecuted, _event: &Event) -> Result<Emit, OrganError> {
        if let Some(frozen) = FROZEN_ACCOUNTS
            .iter()
            .find(|a| **a == trade.buyer || **a == trade.seller)
        {
            return Err(OrganError::permanent_msg(format!(
                "clearing house rejected trade {}: account {frozen} is frozen",
                trade.trade_id
            )));
        }
        let attempt = {
            let mut m = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = m.entry(trade.trade_id).or_default();
            *n += 1;
            *n
        };
        if let Some(latency) = self.latency.filter(|l| !l.is_zero()) {
            tokio::time::sleep(latency).await;
        }
        if self.failure_rate > 0.0
            && decision_rng(self.seed, trade.trade_id, attempt).f64() < self.failure_rate
        {
            return Err(OrganError::msg(format!(
                "clearing house timed out on trade {} (attempt {attempt})",
                trade.trade_id
            )));
        }
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&trade.trade_id);
        Ok(Event::from_payload(&TradeSettled {
            trade,
            attempts: attempt,
        })?
        .into())
    }
}

/// Risk limits, in dollars.
#[derive(Debug, Clone, Copy)]
pub struct RiskLimits {
    /// Largest absolute position value per trader and symbol.
    pub position_value: f64,
    /// Largest traded notional per trader per day.
    pub daily_volume: f64,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            position_value: 100_000.0,
            daily_volume: 250_000.0,
        }
    }
}

/// One trader's holding in one symbol.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Shares held (negative: short).
    pub quantity: i64,
    /// Cash flow in cents (negative: paid).
    pub cash: i64,
}

/// What the risk manager knows.
#[derive(Debug, Default)]
pub struct RiskState {
    /// Positions by (trader, symbol).
    pub positions: BTreeMap<(String, String), Position>,
    /// Traded notional per trader, in cents.
    pub volume: BTreeMap<String, u64>,
    /// Alerts already raised (trader, kind, symbol): each fires once.
    pub alerted: BTreeSet<(String, String, String)>,
}

/// Tracks settled positions and daily volume; raises `RISK_ALERT` once per limit crossed.
#[derive(Debug)]
pub struct RiskManager {
    /// Shared state.
    pub state: Arc<Mutex<RiskState>>,
    /// Limits.
    pub limits: RiskLimits,
}

impl TypedOrgan for RiskManager {
    type Input = TradeSettled;
    async fn handle(&self, settled: TradeSettled, _event: &Event) -> Result<Emit, OrganError> {
        let t = settled.trade;
        let qty = i64::try_from(t.quantity).unwrap_or(i64::MAX);
        let notional_cents = t.price.0.saturating_mul(t.quantity);
        let notional = i64::try_from(notional_cents).unwrap_or(i64::MAX);
        let mut alerts = Vec::new();
        {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            for (trader, sign) in [(&t.buyer, 1), (&t.seller, -1)] {
                let p = s
                    .positions
                    .entry((trader.clone(), t.symbol.clone()))
                    .or_default();
                p.quantity += sign * qty;
                p.cash -= sign * notional;
                #[allow(clippy::cast_precision_loss)]
                let value = p.quantity.unsigned_abs() as f64 * t.price.as_f64();
                let v = s.volume.entry(trader.clone()).or_default();
                *v += notional_cents;
                #[allow(clippy::cast_precision_loss)]
                let volume = *v as f64 / 100.0;
                if value > self.limits.position_value
                    && s.alerted
                        .insert((trader.clone(), "POSITION_LIMIT".into(), t.symbol.clone()))
                {
                    alerts.push(RiskAlert {
                        trader_id: trader.clone(),
                        kind: "POSITION_LIMIT".into(),
                        symbol: Some(t.symbol.clone()),
                        value,
                        limit: self.limits.position_value,
                    });
                }
                if volume > self.limits.daily_volume
                    && s.alerted.insert((
                        trader.clone(),
                        "DAILY_VOLUME_LIMIT".into(),
                        String::new(),
                    ))
                {
                    alerts.push(RiskAlert {
                        trader_id: trader.clone(),
                        kind: "DAILY_VOLUME_LIMIT".into(),
                        symbol: None,
                        value: volume,
                        limit: self.limits.daily_volume,
                    });
                }
            }
        }
        alerts
            .iter()
            .map(Event::from_payload)
            .collect::<Result<Emit, _>>()
            .map_err(OrganError::from)
    }
}

/// The audit trail's record.
#[derive(Debug, Default)]
pub struct AuditState {
    /// Events seen, per type.
    pub counts: BTreeMap<String, u64>,
    /// The trail: one line per event (the first `cap`).
    pub lines: Vec<String>,
    /// How many lines to keep.
    pub cap: usize,
}

/// Records every event of the pipeline; prints it when verbose.
#[derive(Debug)]
pub struct AuditTrail {
    /// Shared state.
    pub state: Arc<Mutex<AuditState>>,
    /// Print each event as it passes.
    pub verbose: bool,
}

/// One human line for an event of the pipeline.
#[must_use]
pub fn describe(event: &Event) -> String {
    let t = event.event_type().as_str();
    let p = event.payload();
    let s = |k: &str| match p.get(k) {
        Some(serde_json::Value::String(v)) => v.clone(),
        Some(serde_json::Value::Null) | None => "-".to_owned(),
        Some(v) => v.to_string(),
    };
    match t {
        "ORDER_SUBMITTED" => format!(
            "#{} {} {} {} {} {}",
            s("order_id"),
            s("trader_id"),
            s("side"),
            s("quantity"),
            s("symbol"),
            if s("order_type").eq_ignore_ascii_case("MARKET") {
                "MKT".to_owned()
            } else {
                format!("{} @ {}", s("order_type"), s("price"))
            }
        ),
        "ORDER_VALIDATED" => match event.decode::<OrderValidated>() {
            Ok(v) => format!(
                "#{} {} {} {} {} {}",
                v.order.id,
                v.order.trader,
                v.order.side,
                v.order.quantity,
                v.order.symbol,
                match v.order.kind {
                    OrderKind::Limit(p) => format!("@ {p}"),
                    OrderKind::Market => "MKT".to_owned(),
                }
            ),
            Err(e) => e.to_string(),
        },
        "ORDER_CANCEL_REQUESTED" => {
            format!("#{} {} {}", s("order_id"), s("trader_id"), s("symbol"))
        }
        "ORDER_REJECTED" => format!("#{} {}: {}", s("order_id"), s("trader_id"), s("reason")),
        "ORDER_FILLED" | "ORDER_PARTIAL_FILL" | "ORDER_QUEUED" => format!(
            "#{} {} {} {}: filled {}, resting {}, cancelled {}, avg price {}",
            s("order_id"),
            s("trader_id"),
            s("side"),
            s("symbol"),
            s("filled"),
            s("resting"),
            s("cancelled"),
            s("avg_price")
        ),
        "ORDER_CANCELLED" => format!(
            "#{} {} {} shares: {}",
            s("order_id"),
            s("trader_id"),
            s("quantity"),
            s("reason")
        ),
        "TRADE_EXECUTED" => format!(
            "trade {} {} {} @ {} buyer {} seller {}",
            s("trade_id"),
            s("quantity"),
            s("symbol"),
            p.get("price")
                .and_then(serde_json::Value::as_u64)
                .map(|c| Price(c).to_string())
                .unwrap_or_default(),
            s("buyer"),
            s("seller")
        ),
        "RISK_ALERT" => format!(
            "{} {} {}: {:.2} > limit {:.2}",
            s("trader_id"),
            s("kind"),
            s("symbol"),
            p.get("value")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            p.get("limit")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
        ),
        _ => event.payload_json().to_owned(),
    }
}

/// The width of the audit trail's event-type column: the longest event type's.
const TYPE_COLUMN: usize = {
    let mut width = 0;
    let mut i = 0;
    while i < ALL_EVENT_TYPES.len() {
        if ALL_EVENT_TYPES[i].len() > width {
            width = ALL_EVENT_TYPES[i].len();
        }
        i += 1;
    }
    width
};

impl Organ for AuditTrail {
    fn listens_to(&self) -> &[&str] {
        &ALL_EVENT_TYPES
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let event_type = event.event_type().as_str();
        let print = self.verbose && event_type != TradeSettled::EVENT_TYPE;
        let keep = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match s.counts.get_mut(event_type) {
                Some(n) => *n += 1,
                None => {
                    s.counts.insert(event_type.to_owned(), 1);
                }
            }
            s.lines.len() < s.cap
        };
        // A line is only worth formatting when it is printed or kept.
        if print || keep {
            let line = format!("{event_type:<TYPE_COLUMN$} {}", describe(event));
            if print {
                example_support::outln!("{line}");
            }
            if keep {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if s.lines.len() < s.cap {
                    s.lines.push(line);
                }
            }
        }
        Ok(Emit::none())
    }
}
