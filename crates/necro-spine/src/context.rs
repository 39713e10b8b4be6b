//! What an organ can know about the event it is handling beyond its four fields: its
//! [`Metadata`] (correlation and causation ids, headers), set by the spine around each organ
//! call, async or blocking.

use necro_core::Metadata;

tokio::task_local! {
    static CURRENT: Metadata;
}

/// The metadata of the event the calling organ is handling: its correlation and causation
/// ids and its headers (a tenant, an idempotency key, the trace context). `None` outside an
/// organ call made by the spine.
///
/// ```
/// use necro_core::{Emit, Event, Organ, OrganError};
///
/// struct Audit;
/// impl Organ for Audit {
///     fn listens_to(&self) -> &[&str] { &["ORDER_PLACED"] }
///     async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
///         let tenant = necro_spine::current_header("tenant").unwrap_or_default();
///         println!("order {} for tenant {tenant:?}", event.id());
///         Ok(Emit::none())
///     }
/// }
/// assert!(necro_spine::current_metadata().is_none()); // not inside an organ call
/// ```
#[must_use]
pub fn current_metadata() -> Option<Metadata> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The value of one header of the event the calling organ is handling; `None` when it has
/// no such header, or outside an organ call made by the spine.
#[must_use]
pub fn current_header(name: &str) -> Option<String> {
    CURRENT
        .try_with(|meta| meta.headers.get(name).map(str::to_owned))
        .ok()
        .flatten()
}

/// Runs an async organ call with `meta` as the current metadata.
pub(crate) async fn scope<F: Future>(meta: Metadata, call: F) -> F::Output {
    CURRENT.scope(meta, call).await
}

/// Runs a blocking organ call with `meta` as the current metadata.
pub(crate) fn sync_scope<R>(meta: Metadata, call: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(meta, call)
}
