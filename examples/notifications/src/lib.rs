//! A multi-channel notification pipeline on NecroStack, as a library so tests can drive it
//! directly:
//!
//! ```text
//! NOTIFICATION_REQUESTED ──► Validator ──► NOTIFICATION_VALIDATED ──► Router (user directory)
//!                                └──────► NOTIFICATION_FAILED            │
//!            ┌───────────────────────────────┬──────────────────────────┤
//!        SEND_EMAIL                       SEND_SMS                   SEND_PUSH
//!            │                               │                          │
//!   EmailSender (async, transient   SmsSender (sync; a blocked    PushSender (async)
//!   failures retried by the spine)  number is dead-lettered)            │
//!            └───────────────────────────────┴──────────────────────────┘
//!                                            │
//!                CHANNEL_DELIVERED ──► Auditor ──► DELIVERY_COMPLETED ──► Tracker
//!                                                  NOTIFICATION_FAILED ──┘
//! ```
//!
//! [`organs`] holds the events and organs; [`build_spine`] wires them on any backend.
//!
//! ```
//! use example_notifications::organs::{Latency, NotificationRequested};
//! use example_notifications::{NotificationsConfig, build_spine};
//! use necro_backend_memory::MemoryBackend;
//! use necro_core::Event;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = NotificationsConfig { latency: Latency::from_ms(0), ..NotificationsConfig::default() };
//! let (spine, handles) = build_spine(MemoryBackend::new(), &config)?;
//! let request = NotificationRequested {
//!     request_id: 1, user_id: "user_001".into(), channels: vec!["sms".into(), "push".into()],
//!     message: "Your order shipped!".into(), priority: "high".into(),
//! };
//! spine.send(Event::from_payload(&request)?).await?;
//! spine.run_until_drained().await?;
//! assert_eq!(handles.outcomes.lock().unwrap().delivered_total(), 2);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod organs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_core::{Backend, DeadLetterStore};
use necro_spine::{BuildError, HandlerFailureMode, OrganOptions, RetryPolicy, Spine};

use organs::{
    AuditEntry, Auditor, EmailSender, Latency, Outcomes, PushSender, Router, SmsSender, Tracker,
    Validator, directory,
};

/// How the pipeline is set up.
#[derive(Debug, Clone, Copy)]
pub struct NotificationsConfig {
    /// Seed for the simulated email failures.
    pub seed: u64,
    /// Simulated per-channel latencies (`Latency::from_ms(0)`: none).
    pub latency: Latency,
    /// Fraction of email attempts that fail transiently (retried by the spine), 0 to 1.
    pub email_failure_rate: f64,
    /// Events in flight at once: the channels run in parallel.
    pub concurrency: usize,
    /// Print every audited delivery and every failure as it happens.
    pub verbose: bool,
}

impl Default for NotificationsConfig {
    /// The binary's defaults: seed 7, 20 ms email latency, 30 % email failures, 8 at once,
    /// quiet.
    fn default() -> Self {
        Self {
            seed: 7,
            latency: Latency::from_ms(20),
            email_failure_rate: 0.3,
            concurrency: 8,
            verbose: false,
        }
    }
}

/// Handles on the organs' state, for summaries and tests.
#[derive(Debug, Clone)]
pub struct Handles {
    /// How every channel of every request ended (the Tracker's counts).
    pub outcomes: Arc<Mutex<Outcomes>>,
    /// The Auditor's trail of deliveries.
    pub trail: Arc<Mutex<Vec<AuditEntry>>>,
}

/// Builds the notification spine on `backend`: validator, router, the three senders (email
/// and SMS retried 5 times from 2 ms, up to 50 ms apart, with a 5 s timeout), auditor and
/// tracker; handler failures are dead-lettered.
///
/// # Errors
/// The spine's [`BuildError`] (a zero concurrency, for one).
pub fn build_spine<B: Backend + DeadLetterStore>(
    backend: B,
    config: &NotificationsConfig,
) -> Result<(Spine<B>, Handles), BuildError> {
    let handles = Handles {
        outcomes: Arc::new(Mutex::new(Outcomes::default())),
        trail: Arc::new(Mutex::new(Vec::new())),
    };
    let fast_retry = RetryPolicy::exponential(5, Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(50));
    let spine = Spine::builder(backend)
        .organ(Validator)
        .organ(Router {
            directory: directory(),
        })
        .organ_with(
            EmailSender::new(config.latency.email, config.email_failure_rate, config.seed),
            OrganOptions::new()
                .retry(fast_retry)
                .timeout(Duration::from_secs(5)),
        )
        .organ_with(
            SmsSender {
                latency: config.latency.sms,
            },
            OrganOptions::new()
                .retry(fast_retry)
                .timeout(Duration::from_secs(5)),
        )
        .organ(PushSender {
            latency: config.latency.push,
        })
        .organ(Auditor {
            trail: Arc::clone(&handles.trail),
            verbose: config.verbose,
        })
        .organ(Tracker {
            outcomes: Arc::clone(&handles.outcomes),
            verbose: config.verbose,
        })
        .handler_failure_mode(HandlerFailureMode::Store)
        .concurrency(config.concurrency)
        .max_steps(1_000_000)
        .build()?;
    Ok((spine, handles))
}
