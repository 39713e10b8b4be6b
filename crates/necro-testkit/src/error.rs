//! [`ConformanceError`]: what a failed conformance check reports (the scenario, and what was
//! wrong), and the crate's `Check`, which scenarios make their checks with.

use std::error::Error;
use std::fmt;

use necro_core::{BackendError, error_chain};

/// A conformance check that failed: the scenario it belongs to and what the backend did
/// wrong. Its `Debug` is its `Display`, so `.unwrap()` in a test prints the message as is.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConformanceError {
    /// The scenario (`"paging"`, `"concurrent_replay"`, …).
    pub scenario: &'static str,
    /// What was expected and what happened instead.
    pub message: String,
}

impl fmt::Display for ConformanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance scenario `{}` failed: {}",
            self.scenario, self.message
        )
    }
}

impl fmt::Debug for ConformanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error for ConformanceError {}

/// The checks of one scenario: each failure names the scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check {
    scenario: &'static str,
}

impl Check {
    pub(crate) fn new(scenario: &'static str) -> Self {
        Self { scenario }
    }

    /// A failure of this scenario.
    pub(crate) fn fail(self, message: impl Into<String>) -> ConformanceError {
        ConformanceError {
            scenario: self.scenario,
            message: message.into(),
        }
    }

    /// Fails with `message` unless `ok`.
    pub(crate) fn ensure(
        self,
        ok: bool,
        message: impl FnOnce() -> String,
    ) -> Result<(), ConformanceError> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(message()))
        }
    }

    /// Fails unless `got == want`, saying what `what` is.
    pub(crate) fn equal<T: PartialEq + fmt::Debug>(
        self,
        what: &str,
        got: &T,
        want: &T,
    ) -> Result<(), ConformanceError> {
        self.ensure(got == want, || {
            format!("{what}: got {got:?}, expected {want:?}")
        })
    }

    /// The backend call `what` answered `result`: its value, or a failure naming the call and
    /// the error with its causes.
    pub(crate) fn call<T>(
        self,
        what: &str,
        result: Result<T, BackendError>,
    ) -> Result<T, ConformanceError> {
        result.map_err(|e| self.fail(format!("{what} failed: {}", error_chain(&e))))
    }
}
