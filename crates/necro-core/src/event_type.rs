//! [`EventType`]: the validated (trimmed, non-empty) type of an event.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::EventError;

/// A validated event type: trimmed, never empty.
///
/// Cheap to clone (reference counted). Compares equal to the `&str` it holds.
///
/// ```
/// use necro_core::EventType;
/// let t = EventType::new("  ORDER_PLACED ").unwrap();
/// assert_eq!(t, "ORDER_PLACED");
/// assert!(EventType::new("   ").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(Arc<str>);

impl EventType {
    /// Validates and trims `value`.
    ///
    /// # Errors
    /// [`EventError::EmptyEventType`] when nothing is left after trimming.
    pub fn new(value: &str) -> Result<Self, EventError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(EventError::EmptyEventType);
        }
        Ok(Self(Arc::from(trimmed)))
    }

    /// The type as a shared string (no copy), e.g. for metric labels.
    #[must_use]
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }

    /// The type as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for EventType {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for EventType {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for EventType {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl FromStr for EventType {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for EventType {
    type Error = EventError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for EventType {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::new(&s).map_err(de::Error::custom)
    }
}
