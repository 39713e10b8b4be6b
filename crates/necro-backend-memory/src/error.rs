//! Why a memory backend or dead-letter store could not be built.

/// A configuration the in-memory backend or its dead-letter store refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryBuildError {
    /// A bounded queue must hold at least one event.
    #[error("queue capacity must be at least 1")]
    ZeroCapacity,
    /// An event must be deliverable at least once.
    #[error("max_deliveries must be at least 1")]
    ZeroMaxDeliveries,
    /// A dead-letter store must hold at least one letter.
    #[error("dead-letter store capacity must be at least 1")]
    ZeroDeadLetterCapacity,
}
