//! The live page's dead-letter section: what the application hands the metrics server
//! ([`Metrics::dead_letters`](crate::Metrics::dead_letters)), kept type-erased, and the
//! admin token that turns the page's replay and purge actions on ([`AdminToken`]).

pub(crate) mod action;
pub(crate) mod query;
pub(crate) mod render;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use necro_core::{
    BackendError, BoxFuture, DeadLetterPage, DeadLetterQuery, DeadLetterQueue, DeadLetterSelection,
    PurgeReport, ReplayReport,
};
use subtle::ConstantTimeEq;

use crate::error::ObserveError;

/// How many entries one page of the section shows.
pub(crate) const PAGE_SIZE: usize = 20;

/// The object-safe twin of [`DeadLetterQueue`] the server keeps: one boxed future per call.
pub(crate) trait ErasedDeadLetters: Send + Sync + 'static {
    fn count(&self) -> BoxFuture<'_, Result<u64, BackendError>>;
    fn page<'a>(
        &'a self,
        query: &'a DeadLetterQuery,
    ) -> BoxFuture<'a, Result<DeadLetterPage, BackendError>>;
    fn replay<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<ReplayReport, BackendError>>;
    fn purge<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<PurgeReport, BackendError>>;
}

impl<Q: DeadLetterQueue> ErasedDeadLetters for Q {
    fn count(&self) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(self.dead_letter_count())
    }
    fn page<'a>(
        &'a self,
        query: &'a DeadLetterQuery,
    ) -> BoxFuture<'a, Result<DeadLetterPage, BackendError>> {
        Box::pin(self.dead_letter_page(query))
    }
    fn replay<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<ReplayReport, BackendError>> {
        Box::pin(self.replay_dead_letters(selection))
    }
    fn purge<'a>(
        &'a self,
        selection: &'a DeadLetterSelection,
    ) -> BoxFuture<'a, Result<PurgeReport, BackendError>> {
        Box::pin(self.purge_dead_letters(selection))
    }
}

/// A dead-letter queue, type-erased.
#[derive(Clone)]
pub(crate) struct Source(pub(crate) Arc<dyn ErasedDeadLetters>);

impl Source {
    pub(crate) fn new(queue: impl DeadLetterQueue) -> Self {
        Self(Arc::new(queue))
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeadLetterQueue")
    }
}

/// The secret that enables the live page's dead-letter actions (replay, purge): a request
/// carries it as `Authorization: Bearer <token>`, `X-Necro-Token: <token>` or the form field
/// `token`, and it is compared in constant time. It is never rendered or logged; its
/// `Debug` form is redacted.
///
/// ```
/// let token = necro_observe::AdminToken::new("correct horse battery staple").unwrap();
/// assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
/// assert!(necro_observe::AdminToken::new("short").is_err());
/// ```
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// The shortest token accepted.
    pub const MIN_LEN: usize = 16;
    /// The longest token accepted.
    pub const MAX_LEN: usize = 256;

    /// The token `secret`: [`MIN_LEN`](Self::MIN_LEN) to [`MAX_LEN`](Self::MAX_LEN) visible
    /// ASCII characters or spaces (what an HTTP header can carry), not starting or ending with
    /// a space.
    ///
    /// # Errors
    /// [`ObserveError::InvalidAdminToken`] otherwise (the message does not repeat it).
    pub fn new(secret: impl Into<String>) -> Result<Self, ObserveError> {
        let secret = secret.into();
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&secret.len())
            && secret.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
            && !secret.starts_with(' ')
            && !secret.ends_with(' ');
        if ok {
            Ok(Self(secret.into()))
        } else {
            Err(ObserveError::InvalidAdminToken)
        }
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(candidate))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The section's settings from the builder, and the source (which may be attached after
/// the server started: [`MetricsServer::attach_dead_letters`](crate::MetricsServer::attach_dead_letters)).
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) source: Option<Source>,
    pub(crate) show_payloads: bool,
    pub(crate) admin: Option<AdminToken>,
}

/// What the server reads per request.
#[derive(Debug)]
pub(crate) struct Shared {
    source: RwLock<Option<Source>>,
    pub(crate) show_payloads: bool,
    pub(crate) admin: Option<AdminToken>,
}

impl Shared {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            source: RwLock::new(settings.source),
            show_payloads: settings.show_payloads,
            admin: settings.admin,
        }
    }

    /// The source now (a clone: the lock is never held across an await).
    pub(crate) fn source(&self) -> Option<Source> {
        self.source
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn attach(&self, source: Source) {
        *self.source.write().unwrap_or_else(PoisonError::into_inner) = Some(source);
    }
}

/// The text form of a dead letter's kind, as the `necro` command line writes it.
pub(crate) fn kind_name(kind: necro_core::DeadLetterKind) -> &'static str {
    use necro_core::DeadLetterKind as K;
    match kind {
        K::HandlerFailed => "handler_failed",
        K::MaxDeliveries => "max_deliveries",
        K::EnqueueFailed => "enqueue_failed",
        K::Malformed => "malformed",
        _ => "other",
    }
}

/// Every kind a filter can name.
pub(crate) const KINDS: [necro_core::DeadLetterKind; 4] = [
    necro_core::DeadLetterKind::HandlerFailed,
    necro_core::DeadLetterKind::MaxDeliveries,
    necro_core::DeadLetterKind::EnqueueFailed,
    necro_core::DeadLetterKind::Malformed,
];
