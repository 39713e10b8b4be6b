//! The per-organ circuit breaker's state machine.

use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

use crate::config::CircuitBreakerConfig;

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cooldown ends.
    Open,
    /// One trial call is let through.
    HalfOpen,
}

impl CircuitState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    #[must_use]
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }

    /// The state's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct State {
    state: CircuitState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    config: CircuitBreakerConfig,
    state: Mutex<State>,
}

/// The answer to "may I call?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Yes,
    Trial,
    No,
}

impl Breaker {
    pub(crate) fn new(config: CircuitBreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
    }

    /// Whether a call may go through now; moves Open to HalfOpen once the cooldown is over.
    pub(crate) fn admit(&self) -> Admit {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.state {
            CircuitState::Closed => Admit::Yes,
            CircuitState::Open => {
                let over = s
                    .opened_at
                    .is_none_or(|t| t.elapsed() >= self.config.cooldown);
                if over {
                    s.state = CircuitState::HalfOpen;
                    s.trial_in_flight = true;
                    Admit::Trial
                } else {
                    Admit::No
                }
            }
            CircuitState::HalfOpen => {
                if s.trial_in_flight {
                    Admit::No
                } else {
                    s.trial_in_flight = true;
                    Admit::Trial
                }
            }
        }
    }

    /// Records a call's outcome; returns the new state if it changed.
    pub(crate) fn record(&self, success: bool) -> Option<CircuitState> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = s.state;
        s.trial_in_flight = false;
        if success {
            s.consecutive_failures = 0;
            s.state = CircuitState::Closed;
            s.opened_at = None;
        } else {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            if s.state == CircuitState::HalfOpen
                || s.consecutive_failures >= self.config.failure_threshold
            {
                s.state = CircuitState::Open;
                s.opened_at = Some(Instant::now());
            }
        }
        (s.state != before).then_some(s.state)
    }
}
