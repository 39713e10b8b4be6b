//! A trading order book on NecroStack, as a library so benchmarks and tests can
//! drive it directly:
//!
//! ```text
//! ORDER_SUBMITTED ──► OrderValidator ──► ORDER_VALIDATED ──► MatchingEngine ──► ORDER_FILLED
//!        │                  └──────────► ORDER_REJECTED          │              ORDER_PARTIAL_FILL
//! ORDER_CANCEL_REQUESTED ───────────────────────────────────────┘              ORDER_QUEUED
//!                                                                                ORDER_CANCELLED
//!                                                         TRADE_EXECUTED (one per match)
//!                                                               │
//!                                     Settlement (async, clearing-house latency, retries;
//!                                     frozen accounts → dead-letter queue)
//!                                                               │
//!                                                         TRADE_SETTLED ──► RiskManager ──► RISK_ALERT
//! every event ──► AuditTrail
//! ```
//!
//! [`book`] is the matching engine on its own (no framework); [`organs`] wraps it and the
//! rest of the pipeline; [`build_spine`] wires them on any backend.
//!
//! ```
//! use example_trading::{TradingConfig, build_spine, organs::OrderSubmitted};
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::Event;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TradingConfig { settlement_latency: None, ..TradingConfig::default() };
//! let (spine, handles) = build_spine(MemoryBackend::new(), &config)?;
//! for (id, side, price) in [(1, "SELL", 150.5), (2, "BUY", 151.0)] {
//!     let order = OrderSubmitted {
//!         order_id: id, trader_id: format!("t{id}"), symbol: "AAPL".into(),
//!         side: side.into(), order_type: "LIMIT".into(), quantity: 100, price,
//!     };
//!     spine.send(Event::from_payload(&order)?).await?;
//! }
//! spine.run_until_drained().await?;
//! assert_eq!(handles.engine.lock().unwrap().trades, 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod book;
pub mod organs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_core::{Backend, DeadLetterStore};
use necro_spine::{BuildError, HandlerFailureMode, OrganOptions, RetryPolicy, Spine};

use organs::{
    AuditState, AuditTrail, EngineState, MatchingEngineOrgan, OrderValidator, RiskLimits,
    RiskManager, RiskState, Settlement,
};

/// How the pipeline is set up.
#[derive(Debug, Clone)]
pub struct TradingConfig {
    /// Seed for simulated settlement failures.
    pub seed: u64,
    /// Simulated clearing-house latency; `None` switches the simulation off (benchmarks).
    pub settlement_latency: Option<Duration>,
    /// Fraction of settlement attempts that fail transiently (retried by the spine).
    pub settlement_failure_rate: f64,
    /// Events in flight at once.
    pub concurrency: usize,
    /// Print every event as the audit trail records it.
    pub verbose: bool,
    /// Risk limits.
    pub limits: RiskLimits,
    /// How many audit lines to keep.
    pub audit_cap: usize,
}

impl Default for TradingConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            settlement_latency: Some(Duration::from_millis(5)),
            settlement_failure_rate: 0.2,
            concurrency: 4,
            verbose: false,
            limits: RiskLimits::default(),
            audit_cap: 10_000,
        }
    }
}

/// Handles on the organs' state, for summaries, tests and benchmarks.
#[derive(Debug, Clone)]
pub struct Handles {
    /// The matching engine and its bookkeeping.
    pub engine: Arc<Mutex<EngineState>>,
    /// Positions and volumes.
    pub risk: Arc<Mutex<RiskState>>,
    /// The audit trail.
    pub audit: Arc<Mutex<AuditState>>,
}

/// Builds the trading spine on `backend`: validator, matching engine, settlement (retry 5
/// times from 1 ms, failures dead-lettered), risk manager and audit trail.
///
/// # Errors
/// The spine's [`BuildError`] (a zero concurrency, for one).
pub fn build_spine<B: Backend + DeadLetterStore>(
    backend: B,
    config: &TradingConfig,
) -> Result<(Spine<B>, Handles), BuildError> {
    let handles = Handles {
        engine: Arc::new(Mutex::new(EngineState::default())),
        risk: Arc::new(Mutex::new(RiskState::default())),
        audit: Arc::new(Mutex::new(AuditState {
            cap: config.audit_cap,
            ..AuditState::default()
        })),
    };
    let settlement_retry = RetryPolicy::exponential(5, Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(20));
    let spine = Spine::builder(backend)
        .organ(OrderValidator)
        .organ(MatchingEngineOrgan {
            state: Arc::clone(&handles.engine),
        })
        .organ_with(
            Settlement::new(
                config.settlement_latency,
                config.settlement_failure_rate,
                config.seed,
            ),
            OrganOptions::new()
                .retry(settlement_retry)
                .timeout(Duration::from_secs(5)),
        )
        .organ(RiskManager {
            state: Arc::clone(&handles.risk),
            limits: config.limits,
        })
        .organ(AuditTrail {
            state: Arc::clone(&handles.audit),
            verbose: config.verbose,
        })
        .handler_failure_mode(HandlerFailureMode::Store)
        .concurrency(config.concurrency)
        .max_steps(10_000_000)
        .build()?;
    Ok((spine, handles))
}
