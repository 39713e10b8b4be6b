//! [`OrganError`]: the error an organ returns, with its [`Retry`] intent.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;

use crate::error::{BoxError, EventError, error_chain};
use crate::payload::DecodeError;

/// Whether an organ's failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retry {
    /// Transient: retry per the organ's retry policy before the failure mode applies.
    Transient,
    /// Permanent: retrying cannot help (bad input); the failure mode applies at once.
    Permanent,
}

/// The error an organ returns.
///
/// Like `anyhow::Error`, any `std::error::Error` converts into it with `?`, keeping its cause
/// chain. Retry intent is explicit: errors are [`Retry::Transient`] by default, except
/// [`DecodeError`] and [`EventError`] (bad input), which are [`Retry::Permanent`].
///
/// ```
/// use necro_core::{OrganError, Retry};
/// let e = OrganError::permanent_msg("card declined");
/// assert_eq!(e.retry(), Retry::Permanent);
/// let io = std::io::Error::other("smtp down");
/// assert_eq!(OrganError::from(io).retry(), Retry::Transient);
/// ```
pub struct OrganError {
    retry: Retry,
    inner: BoxError,
}

impl OrganError {
    /// A transient error from any error value.
    pub fn transient(err: impl Into<BoxError>) -> Self {
        Self {
            retry: Retry::Transient,
            inner: err.into(),
        }
    }

    /// A permanent error from any error value: never retried.
    pub fn permanent(err: impl Into<BoxError>) -> Self {
        Self {
            retry: Retry::Permanent,
            inner: err.into(),
        }
    }

    /// A transient error from a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::transient(message.to_string())
    }

    /// A permanent error from a message.
    pub fn permanent_msg(message: impl fmt::Display) -> Self {
        Self::permanent(message.to_string())
    }

    /// The retry intent.
    #[must_use]
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Whether retrying may help.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }

    /// The underlying error, with its cause chain.
    #[must_use]
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// Consumes this into the underlying boxed error.
    #[must_use]
    pub fn into_inner(self) -> BoxError {
        self.inner
    }

    /// Attempts to downcast the underlying error.
    #[must_use]
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// The message followed by every cause, joined with `": "`.
    #[must_use]
    pub fn chain_string(&self) -> String {
        error_chain(&*self.inner)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for OrganError {
    fn from(err: E) -> Self {
        let any: &dyn Any = &err;
        let retry = if any.is::<DecodeError>() || any.is::<EventError>() {
            Retry::Permanent
        } else {
            Retry::Transient
        };
        Self {
            retry,
            inner: Box::new(err),
        }
    }
}

impl fmt::Display for OrganError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(&self.chain_string())
        } else {
            fmt::Display::fmt(&self.inner, f)
        }
    }
}

impl fmt::Debug for OrganError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrganError")
            .field("retry", &self.retry)
            .field("error", &self.chain_string())
            .finish()
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for OrganError {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl From<OrganError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(err: OrganError) -> Self {
        err.inner
    }
}

impl From<OrganError> for Box<dyn StdError + 'static> {
    fn from(err: OrganError) -> Self {
        err.inner
    }
}
