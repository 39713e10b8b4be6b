//! [`BoxToken`]: a delivery token of any backend with its type erased, what a
//! [`BoxBackend`](crate::BoxBackend) hands out; and the crate's unboxing of a batch of them
//! back into one backend's tokens, which refuses tokens of another backend with a typed error.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::envelope::Delivery;
use crate::error::BackendError;

/// What a [`BoxToken`] holds: any token, seen as [`Any`] (to be downcast) and
/// [`Debug`](fmt::Debug) (to be shown).
trait ErasedToken: Any + Send + Sync + fmt::Debug {
    /// The name of the token's type, for errors.
    fn type_name(&self) -> &'static str;
}

impl<T: Any + Send + Sync + fmt::Debug> ErasedToken for T {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// A delivery token of any backend, with its type erased: what a
/// [`BoxBackend`](crate::BoxBackend) hands out in its deliveries and takes back in `ack`,
/// `nack`, `release` and `commit`.
///
/// Cheap to clone (a reference count). It is only meaningful to the backend that issued it:
/// given to a [`BoxBackend`](crate::BoxBackend) over another type of backend, the call fails
/// with [`BackendError::UnknownToken`] and does nothing; it never panics.
///
/// ```
/// use necro_core::BoxToken;
/// let token = BoxToken::new(42_u64);
/// assert_eq!(token.downcast_ref::<u64>(), Some(&42));
/// assert!(!token.is::<u32>());
/// assert_eq!(format!("{token:?}"), "BoxToken(42)");
/// ```
#[derive(Clone)]
pub struct BoxToken(Arc<dyn ErasedToken>);

impl BoxToken {
    /// Erases `token`.
    #[must_use]
    pub fn new<T: Send + Sync + fmt::Debug + 'static>(token: T) -> Self {
        Self(Arc::new(token))
    }

    /// Whether it holds a `T`.
    #[must_use]
    pub fn is<T: 'static>(&self) -> bool {
        let any: &dyn Any = &*self.0;
        any.is::<T>()
    }

    /// The token inside, if it is a `T`.
    #[must_use]
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        let any: &dyn Any = &*self.0;
        any.downcast_ref::<T>()
    }

    /// The token inside (a clone of it when the box is shared), or the box back when it does
    /// not hold a `T`.
    ///
    /// # Errors
    /// `self`, unchanged, when it holds another type.
    pub fn downcast<T: Clone + 'static>(self) -> Result<T, Self> {
        match self.downcast_ref::<T>() {
            Some(token) => Ok(token.clone()),
            None => Err(self),
        }
    }

    /// The name of the held token's type (for messages; not a stable identifier).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        // Through the `dyn`: `Arc<dyn ErasedToken>` is itself an `ErasedToken`.
        ErasedToken::type_name(&*self.0)
    }
}

impl fmt::Debug for BoxToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxToken").field(&&*self.0).finish()
    }
}

/// The error for tokens another type of backend issued.
fn foreign<T>(tokens: &[BoxToken]) -> BackendError {
    let list = tokens
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let found = tokens.first().map_or("?", BoxToken::type_name);
    BackendError::UnknownToken(format!(
        "{list}: a token of another backend ({found}; this one hands out {})",
        std::any::type_name::<T>()
    ))
}

/// The tokens inside, all of them or none: a batch holding a foreign token is refused whole,
/// naming every foreign one.
pub(crate) fn unbox_tokens<T: Clone + 'static>(
    tokens: Vec<BoxToken>,
) -> Result<Vec<T>, BackendError> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut bad = Vec::new();
    for token in tokens {
        match token.downcast::<T>() {
            Ok(token) => out.push(token),
            Err(token) => bad.push(token),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(foreign::<T>(&bad))
    }
}

/// The token inside a delivery, or the typed error for a foreign one.
pub(crate) fn unbox_delivery<T: Clone + 'static>(
    d: Delivery<BoxToken>,
) -> Result<Delivery<T>, BackendError> {
    match d.token.downcast::<T>() {
        Ok(token) => Ok(Delivery {
            event: d.event,
            meta: d.meta,
            attempt: d.attempt,
            token,
        }),
        Err(token) => Err(foreign::<T>(&[token])),
    }
}

/// The tokens inside deliveries, all of them or none (as [`unbox_tokens`]).
pub(crate) fn unbox_deliveries<T: Clone + 'static>(
    deliveries: Vec<Delivery<BoxToken>>,
) -> Result<Vec<Delivery<T>>, BackendError> {
    let bad: Vec<BoxToken> = deliveries
        .iter()
        .filter(|d| !d.token.is::<T>())
        .map(|d| d.token.clone())
        .collect();
    if !bad.is_empty() {
        return Err(foreign::<T>(&bad));
    }
    deliveries.into_iter().map(unbox_delivery).collect()
}

/// A delivery with its token erased.
pub(crate) fn box_delivery<T: Send + Sync + fmt::Debug + 'static>(
    d: Delivery<T>,
) -> Delivery<BoxToken> {
    Delivery {
        event: d.event,
        meta: d.meta,
        attempt: d.attempt,
        token: BoxToken::new(d.token),
    }
}
